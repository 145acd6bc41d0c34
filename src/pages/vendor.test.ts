import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createVendorLookup, VENDOR_RETRY_MS, vendorFile } from './vendor.ts';

test('the vendored files of the installed packages are found; other names are not', () => {
  const found = vendorFile('vega-embed.min.js');
  assert.ok(found, 'vega-embed is a dev dependency of this package');
  assert.match(found.root, /node_modules[/\\]vega-embed[/\\]build$/);
  assert.equal(found.file, 'vega-embed.min.js');
  assert.equal(vendorFile('../package.json'), undefined);
  assert.equal(vendorFile('toString'), undefined);
});

test('a package installed while the server runs is served without a restart, looked for again at most once a second', async () => {
  const project = await mkdtemp(join(tmpdir(), 'databench-vendor-'));
  try {
    // databench-ts installed in a project that has no vega yet
    const here = join(project, 'node_modules', 'databench-ts', 'dist', 'pages');
    await mkdir(here, { recursive: true });
    let clock = 1_000_000;
    const lookup = createVendorLookup(here, () => clock);
    assert.equal(lookup('vega.min.js'), undefined);

    // npm install vega (with an exports map, as vega has)
    const build = join(project, 'node_modules', 'vega', 'build');
    await mkdir(build, { recursive: true });
    await writeFile(
      join(project, 'node_modules', 'vega', 'package.json'),
      JSON.stringify({ name: 'vega', exports: { '.': './build/vega.js' } }),
    );
    await writeFile(join(build, 'vega.js'), '');
    await writeFile(join(build, 'vega.min.js'), '// vega');

    clock += VENDOR_RETRY_MS - 1;
    assert.equal(lookup('vega.min.js'), undefined, 'not looked for again within the interval');
    clock += 1;
    assert.deepEqual(lookup('vega.min.js'), { root: build, file: 'vega.min.js' });
    // found once, remembered
    await rm(join(project, 'node_modules', 'vega'), { recursive: true });
    assert.deepEqual(lookup('vega.min.js'), { root: build, file: 'vega.min.js' });
  } finally {
    await rm(project, { recursive: true, force: true });
  }
});
