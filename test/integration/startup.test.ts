// Start-up loads only what serving needs: the modules of static files, of
// README HTML sanitizing and of type checking wait until a
// request (or a check) needs them, and work then.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Serve the packaged analyses in a fresh process, request `paths`, and return what each step had loaded. */
async function steps(
  paths: string[],
): Promise<Array<{ step: string; status?: number; loaded: string[] }>> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=databench-source',
      '--import',
      import.meta.resolve('tsx'),
      'test/fixtures/startup/serve.ts',
      ...paths,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += String(d)));
  child.stderr.on('data', (d: Buffer) => (err += String(d)));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`the start-up fixture did not finish in 60 s: ${err}`));
    }, 60_000);
    child.on('exit', (c) => (clearTimeout(timer), resolve(c)));
  });
  assert.equal(code, 0, err);
  return JSON.parse(out) as Array<{ step: string; status?: number; loaded: string[] }>;
}

test('the index and an analysis page load no static-file, sanitizer or TypeScript module; a static file loads send', async () => {
  const [start, index, page, css] = await steps(['/', '/dummypi/', '/_static/databench.css']);
  assert.deepEqual(start, { step: 'start', loaded: [] });
  assert.deepEqual(index, { step: '/', status: 200, loaded: [] });
  // the packaged READMEs have `<` only in code spans: no raw HTML, no sanitizer
  assert.deepEqual(page, { step: '/dummypi/', status: 200, loaded: [] });
  assert.deepEqual(css, { step: '/_static/databench.css', status: 200, loaded: ['send'] });
});
