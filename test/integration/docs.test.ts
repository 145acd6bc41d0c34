import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname;

test('the API reference builds with every exported name documented (npm run docs)', async () => {
  // typedoc.json treats a missing doc comment as an error; --emit none checks without writing docs/
  const child = spawn(
    process.execPath,
    [new URL('../../node_modules/typedoc/bin/typedoc', import.meta.url).pathname, '--emit', 'none'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += String(d)));
  child.stderr.on('data', (d: Buffer) => (out += String(d)));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, out);
  assert.doesNotMatch(out, /warning/, out);
});
