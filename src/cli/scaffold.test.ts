import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { CliError } from './errors.js';
import { addIndexEntry, className, defaultTemplateDir, scaffoldAnalysis } from './scaffold.js';

const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'databench-scaffold-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

let counter = 0;
/** A fresh project folder under the temp root; `analyses/` inside it is not created. */
async function project(): Promise<{ dir: string; analysesDir: string }> {
  const dir = join(root, `p${counter++}`);
  await mkdir(dir);
  return { dir, analysesDir: join(dir, 'analyses') };
}

/** Every file under `dir` with its content: to show that nothing changed. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(rel: string): Promise<void> {
    const entries = await readdir(join(dir, rel), { withFileTypes: true });
    for (const entry of entries) {
      const path = join(rel, entry.name);
      if (entry.isDirectory()) {
        out[path + '/'] = '';
        await walk(path);
      } else {
        out[path] = await readFile(join(dir, path), 'utf8');
      }
    }
  }
  await walk('');
  return out;
}

async function assertRefused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof CliError, `expected a CliError, got ${String(error)}`);
    assert.equal(error.exitCode, 2);
    assert.match(error.message, pattern);
    return true;
  });
}

/** Run `node --test` on `file`, as a user with databench installed would; resolves with its exit code and output. */
function runTest(file: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=databench-source', '--import', 'tsx', '--test', file],
      // without the parent runner's NODE_TEST_CONTEXT, the child runs its tests itself
      {
        cwd: packageRoot,
        env: { ...process.env, NODE_TEST_CONTEXT: undefined },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`the generated test did not finish in 60 s:\n${output}`));
    }, 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('scaffoldAnalysis', () => {
  test('creates index.yaml and the analysis files in a new folder', async () => {
    const { analysesDir } = await project();
    const { created, updated } = await scaffoldAnalysis('my_plot', { analysesDir });

    assert.deepEqual(created.map((p) => p.slice(analysesDir.length + 1)).sort(), [
      'index.yaml',
      'my_plot/README.md',
      'my_plot/analysis.test.ts',
      'my_plot/analysis.ts',
      'my_plot/index.html',
      'package.json',
    ]);
    assert.deepEqual(updated, []);
    assert.deepEqual(JSON.parse(await readFile(join(analysesDir, 'package.json'), 'utf8')), {
      type: 'module',
    });

    const index = parse(await readFile(join(analysesDir, 'index.yaml'), 'utf8')) as {
      title: string;
      analyses: Array<Record<string, string>>;
    };
    assert.equal(typeof index.title, 'string');
    assert.deepEqual(index.analyses, [
      { name: 'my_plot', title: 'My plot', description: 'Describe my_plot here.' },
    ]);

    const source = await readFile(join(analysesDir, 'my_plot', 'analysis.ts'), 'utf8');
    assert.match(source, /export class MyPlot extends Analysis/);
    const html = await readFile(join(analysesDir, 'my_plot', 'index.html'), 'utf8');
    assert.match(html, /\{% extends "analysis\.html" %\}/);
    for (const path of created) {
      assert.doesNotMatch(await readFile(path, 'utf8'), /scaffold/i, `${path} still says scaffold`);
    }
  });

  test('appends to an existing index.yaml, keeping its comments and layout', async () => {
    const { analysesDir } = await project();
    await mkdir(analysesDir);
    const original = `# My analyses: keep this comment
title:   My analyses    # and this one
description: 'quoted, on purpose'
version: "1.0"

analyses:
# the first one
- name: first
  title: First   # spaced comment
  description: >
    A folded description that is long enough to be wider than eighty characters, surely.

- name: second
  title: Second

# a trailing comment
static:
  - {'^/data/(.*)$': data}
`;
    await writeFile(join(analysesDir, 'index.yaml'), original);

    const { created, updated } = await scaffoldAnalysis('third', { analysesDir });
    assert.deepEqual(updated, [join(analysesDir, 'index.yaml')]);
    assert.ok(!created.includes(join(analysesDir, 'index.yaml')));

    const text = await readFile(join(analysesDir, 'index.yaml'), 'utf8');
    const insertion = `
- name: third
  title: Third
  description: Describe third here.
`;
    const at = original.indexOf('\n# a trailing comment');
    assert.equal(text, original.slice(0, at) + insertion + original.slice(at));

    // a second one goes after it, in the same layout
    await scaffoldAnalysis('fourth', { analysesDir });
    const parsed = parse(await readFile(join(analysesDir, 'index.yaml'), 'utf8')) as {
      analyses: Array<{ name: string }>;
      static: unknown;
    };
    assert.deepEqual(
      parsed.analyses.map((a) => a.name),
      ['first', 'second', 'third', 'fourth'],
    );
    assert.deepEqual(parsed.static, [{ '^/data/(.*)$': 'data' }]);
  });

  test('adds the list to an index.yaml that has none, or an empty one', async () => {
    for (const [original, expected] of [
      ['title: Mine\n', 'title: Mine\n\nanalyses:\n  - name: one\n'],
      [
        'title: Mine\nanalyses:  # none yet\n',
        'title: Mine\nanalyses:  # none yet\n  - name: one\n',
      ],
      ['title: Mine\nanalyses: []\n', 'title: Mine\nanalyses:\n  - name: one\n'],
    ] as const) {
      const text = addIndexEntry(original, { name: 'one', title: 'One', description: 'D' });
      assert.ok(
        text.startsWith(expected),
        `${JSON.stringify(original)} became ${JSON.stringify(text)}`,
      );
      assert.deepEqual(parse(text), {
        title: 'Mine',
        analyses: [{ name: 'one', title: 'One', description: 'D' }],
      });
    }
  });

  test('refuses bad names without touching any file', async () => {
    const { dir, analysesDir } = await project();
    await scaffoldAnalysis('good', { analysesDir });
    const before = await snapshot(dir);
    for (const name of [
      '',
      'my-analysis',
      'my analysis',
      'MyAnalysis',
      '1st',
      '../escape',
      'a/b',
      'static',
      '_static',
      'node_modules',
      'ws',
      'index',
    ]) {
      await assertRefused(
        scaffoldAnalysis(name, { analysesDir }),
        /not a valid analysis name|reserved/,
      );
    }
    assert.deepEqual(await snapshot(dir), before);
  });

  test('refuses a name that already exists, as a folder or in index.yaml', async () => {
    const { dir, analysesDir } = await project();
    await scaffoldAnalysis('taken', { analysesDir });
    // a folder the user made by hand, with no entry
    await mkdir(join(analysesDir, 'by_hand'));
    await writeFile(join(analysesDir, 'by_hand', 'analysis.ts'), '// mine\n');
    // an entry with no folder
    await writeFile(
      join(analysesDir, 'index.yaml'),
      (await readFile(join(analysesDir, 'index.yaml'), 'utf8')) + '  - name: listed\n',
    );
    const before = await snapshot(dir);

    await assertRefused(scaffoldAnalysis('taken', { analysesDir }), /already exists/);
    await assertRefused(scaffoldAnalysis('by_hand', { analysesDir }), /already exists/);
    await assertRefused(
      scaffoldAnalysis('listed', { analysesDir }),
      /already has an analysis named "listed"/,
    );
    assert.deepEqual(await snapshot(dir), before);
  });

  test('refuses a broken index.yaml without touching any file', async () => {
    const { dir, analysesDir } = await project();
    await mkdir(analysesDir);
    await writeFile(join(analysesDir, 'index.yaml'), 'title: [unclosed\nanalyses:\n');
    let before = await snapshot(dir);
    await assert.rejects(scaffoldAnalysis('fine', { analysesDir }), /not valid YAML/);
    assert.deepEqual(await snapshot(dir), before);

    await writeFile(join(analysesDir, 'index.yaml'), 'analyses:\n  name: not_a_list\n');
    before = await snapshot(dir);
    await assert.rejects(scaffoldAnalysis('fine', { analysesDir }), /must be a list/);
    assert.deepEqual(await snapshot(dir), before);
  });

  test('class names are valid and do not shadow what the template uses', () => {
    assert.equal(className('hello'), 'Hello');
    assert.equal(className('my_first_plot'), 'MyFirstPlot');
    assert.equal(className('_private'), 'Private');
    assert.equal(className('_1'), 'Analysis1');
    assert.equal(className('analysis'), 'AnalysisAnalysis');
    assert.equal(className('map'), 'MapAnalysis');
  });

  test('the packaged template is found', async () => {
    const files = await readdir(defaultTemplateDir());
    assert.ok(files.includes('analysis.ts') && files.includes('index.html'), files.join(', '));
  });

  test('the generated test passes as generated', async () => {
    const { dir, analysesDir } = await project();
    // the user's project has databench installed
    await mkdir(join(dir, 'node_modules'));
    await symlink(packageRoot, join(dir, 'node_modules', 'databench-ts'), 'dir');
    await scaffoldAnalysis('hello_world', { analysesDir });

    const { code, output } = await runTest(join(analysesDir, 'hello_world', 'analysis.test.ts'));
    assert.equal(code, 0, output);
    assert.match(output, /# pass [1-9]/);
    assert.match(output, /# fail 0/);
  });
});
