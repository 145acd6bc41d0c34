import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { scaffoldAnalysis } from '../../src/cli/scaffold.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The code blocks of the README's "A tour" section, in order. */
async function tourBlocks(): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## A tour');
  const end = readme.indexOf('\n## ', start + 1);
  assert.ok(start >= 0 && end > start, 'the README has "A tour"');
  return [...readme.slice(start, end).matchAll(/```(?:ts|html)\n([\s\S]*?)```/g)].map(
    (m) => m[1] ?? '',
  );
}

test('the README tour shows exactly what `databench new hello` writes, and its test passes', async () => {
  // inside the checkout, so that the package's own name resolves to it
  await mkdir(join(ROOT, 'test-artifacts'), { recursive: true });
  const dir = await mkdtemp(join(ROOT, 'test-artifacts', 'readme-'));
  try {
    await scaffoldAnalysis('hello', { analysesDir: dir });
    const files = ['analysis.ts', 'index.html', 'analysis.test.ts'];
    const blocks = await tourBlocks();
    assert.equal(blocks.length, files.length, 'the tour shows the analysis, its page and its test');
    for (const [i, file] of files.entries()) {
      assert.equal(blocks[i], await readFile(join(dir, 'hello', file), 'utf8'), file);
    }
    // and the generated test passes; without the scaffold's package.json the
    // nearest one is this checkout's, so the package's own name resolves here
    await rm(join(dir, 'package.json'));
    const env = { ...process.env };
    delete env['NODE_TEST_CONTEXT'];
    const child = spawn(
      process.execPath,
      [
        '--conditions=databench-source',
        '--import',
        import.meta.resolve('tsx'),
        '--test',
        join(dir, 'hello', 'analysis.test.ts'),
      ],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += String(d)));
    child.stderr.on('data', (d: Buffer) => (out += String(d)));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, out);
    assert.match(out, /# pass 1/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
