// scripts/build-client.js: the browser bundle, in memory and on disk.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runInNewContext } from 'node:vm';

type Build = (outfile?: string) => Promise<string>;

async function loadBuild(): Promise<Build> {
  // a variable path: the build script is plain JS without type declarations
  const script = '../../scripts/build-client.js';
  return ((await import(script)) as { buildClientBundle: Build }).buildClientBundle;
}

describe('buildClientBundle', () => {
  test('in memory: an IIFE that defines the global Databench, without ws or a source map', async () => {
    const text = await (await loadBuild())();
    assert.doesNotMatch(text, /sourceMappingURL/);
    assert.doesNotMatch(text, /require\(|from"ws"|node:/);
    const sandbox: Record<string, unknown> = { TextDecoder }; // what a browser has that the bundle uses
    runInNewContext(text, sandbox);
    const Databench = sandbox['Databench'] as Record<string, unknown> & {
      ui: Record<string, unknown>;
    };
    for (const name of ['Connection', 'connect', 'attach', 'ui'])
      assert.ok(name in Databench, name);
    assert.equal(typeof Databench.ui['wire'], 'function');
    assert.equal(typeof Databench.ui['Slider'], 'function');
  });

  test('to a file: writes the script and its source map', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'databench-bundle-'));
    try {
      const outfile = join(dir, 'databench.js');
      const text = await (await loadBuild())(outfile);
      assert.equal(readFileSync(outfile, 'utf8'), text);
      assert.match(text, /\/\/# sourceMappingURL=databench\.js\.map\s*$/);
      const map = JSON.parse(readFileSync(`${outfile}.map`, 'utf8')) as { sources: string[] };
      assert.ok(map.sources.some((s) => s.endsWith('src/client/connection.ts')));
      assert.ok(
        map.sources.every((s) =>
          /src\/(client|protocol)\/|node_modules\/fast-json-patch\//.test(s),
        ),
        map.sources.join(),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
