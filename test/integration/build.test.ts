import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

const ROOT = new URL('../../', import.meta.url).pathname;

test('npm run build: JavaScript with type declarations, and the browser bundle', async () => {
  const out = join(ROOT, 'test-artifacts', `build-${process.pid}`);
  try {
    const tsc = spawnSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', out],
      { cwd: ROOT, encoding: 'utf8' },
    );
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    for (const file of [
      'index.js',
      'index.d.ts',
      'testing/index.d.ts',
      'protocol/index.d.ts',
      'client/index.d.ts',
    ]) {
      assert.ok((await stat(join(out, file))).isFile(), `${file} is built`);
    }
    const types = await readFile(join(out, 'index.d.ts'), 'utf8');
    assert.match(types, /export \{ Analysis/);
    assert.match(types, /createServer/);
    const built = (await import(pathToFileURL(join(out, 'index.js')).href)) as Record<
      string,
      unknown
    >;
    assert.equal(typeof built['Analysis'], 'function');
    assert.equal(typeof built['createServer'], 'function');

    const { buildClientBundle } = (await import(
      pathToFileURL(join(ROOT, 'scripts/build-client.js')).href
    )) as {
      buildClientBundle: (outfile?: string) => Promise<string>;
    };
    const bundle = await buildClientBundle(join(out, 'browser', 'databench.js'));
    assert.match(bundle, /Databench/);
    assert.ok((await stat(join(out, 'browser', 'databench.js'))).size > 1000);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
