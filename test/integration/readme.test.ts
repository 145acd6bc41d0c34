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

/** The first `sh` block under the heading `## Your first analysis` of a markdown file. */
async function firstAnalysisBlock(path: string): Promise<string> {
  const text = await readFile(join(ROOT, path), 'utf8');
  const start = text.indexOf('## Your first analysis');
  assert.ok(start >= 0, `${path} has "Your first analysis"`);
  const block = /```sh\n([\s\S]*?)```/.exec(text.slice(start))?.[1];
  assert.ok(block, `${path} has a sh block under "Your first analysis"`);
  return block;
}

test('Getting started shows the commands of the README (which the package test runs)', async () => {
  // package.test.ts runs the README's block in an empty project; the longer
  // page must not drift from it
  assert.equal(
    await firstAnalysisBlock('docs/getting-started.md'),
    await firstAnalysisBlock('README.md'),
  );
});

test('the README starts with the two commands a newcomer runs, and stays short', async () => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const first = /```sh\n([\s\S]*?)```/.exec(readme);
  assert.ok(first, 'the README has a sh block');
  // nothing but its title and tagline before it
  assert.ok(readme.slice(0, first.index).split('\n').filter(Boolean).length <= 2);
  const commands = (first[1] ?? '')
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter(Boolean);
  assert.deepEqual(commands, ['npm ci && npm start', 'npm test']);
  assert.match(first[1] ?? '', /http:\/\/127\.0\.0\.1:5000/);
  const lines = readme.split('\n').length;
  assert.ok(lines <= 200, `the README has ${lines} lines: move detail into docs/`);
});
