import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname;

test('the README tour runs as shown: its analysis passes its test', async () => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  const analysis = blocks.find((b) => b.includes('export class Hello'));
  const testFile = blocks.find((b) => b.includes("test('greets'"));
  assert.ok(analysis && testFile, 'the README has the analysis and its test');
  // inside the package, so that 'databench' resolves to this checkout
  const dir = join(ROOT, 'test-artifacts', 'readme-tour');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'analysis.ts'), analysis);
  await writeFile(join(dir, 'analysis.test.ts'), testFile);
  const env = { ...process.env };
  delete env['NODE_TEST_CONTEXT'];
  const child = spawn(
    process.execPath,
    [
      '--conditions=databench-source',
      '--import',
      import.meta.resolve('tsx'),
      '--test',
      'analysis.test.ts',
    ],
    { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += String(d)));
  child.stderr.on('data', (d: Buffer) => (out += String(d)));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, out);
  assert.match(out, /# pass 1/);
});
