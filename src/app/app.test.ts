import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createMemoryLogger } from '../util/logger.ts';
import { findAnalysesDir, loadApp, type App } from './app.ts';

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;

/** A folder of analyses from `files` (path → content), loaded. */
async function load(dir: string, files: Record<string, string>): Promise<App> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return loadApp({ dir, packaged: false, cliArgs: [], logger: createMemoryLogger() });
}

describe('loadApp: index.yaml and the kinds of kernel', () => {
  let root: string;
  let count = 0;
  const apps: App[] = [];
  const artifacts: string[] = [];
  const folder = async (): Promise<string> => {
    const dir = join(root, String(++count));
    await mkdir(dir);
    return dir;
  };
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'databench-app-'));
  });
  after(async () => {
    for (const app of apps) {
      for (const entry of app.entries.values()) await entry.kernel?.dispose();
    }
    await rm(root, { recursive: true, force: true });
    for (const dir of artifacts) await rm(dir, { recursive: true, force: true });
  });

  test('an unknown kernel fails its analysis with the kinds there are', async () => {
    const app = await load(await folder(), {
      'index.yaml': 'analyses:\n  - name: a\n    kernel: gpu\n',
      'a/analysis.ts': '',
    });
    assert.equal(
      app.entries.get('a')?.error,
      'index.yaml: analysis "a": unknown kernel "gpu" (known: worker, py, pyspark; none runs it in the server\'s own thread)',
    );
  });

  test('a threads value it cannot use fails its analysis; the others load on', async () => {
    const app = await load(await folder(), {
      'index.yaml': 'analyses:\n  - name: a\n    kernel: worker\n    threads: 0\n  - name: b\n',
      'a/analysis.ts': '',
    });
    assert.equal(
      app.entries.get('a')?.error,
      'index.yaml: analysis "a": threads must be a whole number of at least 1, got 0',
    );
    // b has no folder: its own error, not a's
    assert.match(app.entries.get('b')?.error ?? '', /folder .*b is missing/);
  });

  test('the source each kind needs: a py analysis without analysis.py is named', async () => {
    const dir = await folder();
    const app = await load(dir, {
      'index.yaml': 'analyses:\n  - name: a\n    kernel: py\n',
      'a/analysis.ts': '',
    });
    assert.equal(app.entries.get('a')?.error, `${join(dir, 'a', 'analysis.py')} is missing`);
  });

  test('without a list, each folder is an analysis of the kind its source asks for', async () => {
    const app = await load(await folder(), {
      'ts/analysis.ts': 'export const x = ;',
      'py/analysis.py': 'x = )\n',
      'neither/README.md': '# nothing to run',
    });
    apps.push(app);
    assert.deepEqual([...app.entries.keys()], ['py', 'ts']);
    assert.equal(app.entries.get('ts')?.kernelKind, undefined);
    assert.equal(app.entries.get('py')?.kernelKind, 'py');
    // both load (and fail) with their own kernel: a compile error, a Python syntax error
    assert.match(app.entries.get('ts')?.error ?? '', /analysis\.ts:1:\d+: ERROR/);
    assert.match(app.entries.get('py')?.error ?? '', /SyntaxError/);
  });

  test('a listed entry without kernel: runs analysis.py in the Python kernel when that is its only source', async () => {
    const dir = await folder();
    const app = await load(dir, {
      'index.yaml': 'analyses:\n  - name: py\n  - name: both\n  - name: none\n',
      'py/analysis.py': 'x = )\n',
      'both/analysis.ts': '',
      'both/analysis.py': '',
      'none/README.md': '# nothing to run',
    });
    apps.push(app);
    const py = app.entries.get('py');
    assert.equal(py?.kernelKind, 'py');
    // loaded by the Python kernel: its own syntax error, not "analysis.ts is missing"
    assert.match(py?.error ?? '', /SyntaxError/);
    assert.equal(
      app.entries.get('both')?.error,
      `${join(dir, 'both', 'analysis.ts')} and ${join(dir, 'both', 'analysis.py')} are both there: remove one, or set kernel: py in index.yaml to run analysis.py`,
    );
    assert.equal(
      app.entries.get('none')?.error,
      `${join(dir, 'none', 'analysis.ts')} is missing (or analysis.py, for a Python analysis)`,
    );
  });

  test('a folder with both sources and kernel: py runs analysis.py', async () => {
    const app = await load(await folder(), {
      'index.yaml': 'analyses:\n  - name: both\n    kernel: py\n',
      'both/analysis.ts': 'export const x = ;',
      'both/analysis.py': 'x = )\n',
    });
    apps.push(app);
    assert.equal(app.entries.get('both')?.kernelKind, 'py');
    assert.match(app.entries.get('both')?.error ?? '', /SyntaxError/);
  });

  test('classData domains: the class name where no other analysis has it, else ClassName@analysis; decided again at each load', async () => {
    // in the repository: the analyses import databench-ts (this package, by its own name)
    const dir = join(ARTIFACTS, `app-domains-${process.pid}`);
    await rm(dir, { recursive: true, force: true });
    artifacts.push(dir);
    const source = (name: string): string =>
      `import { Analysis } from 'databench-ts';\nexport class ${name} extends Analysis {}\n`;
    const files = {
      'a/analysis.ts': source('Same'),
      'b/analysis.ts': source('Same'),
      'c/analysis.ts': source('Other'),
      'd/analysis.ts': 'export const x = ;',
    };
    const app = await load(dir, {
      ...files,
      'index.yaml': 'analyses:\n  - name: a\n  - name: b\n  - name: c\n  - name: d\n',
    });
    apps.push(app);
    const domains = (of: App): Record<string, string | undefined> =>
      Object.fromEntries([...of.entries.values()].map((e) => [e.name, e.classDomain]));
    assert.equal(app.entries.get('a')?.error, undefined);
    assert.deepEqual(domains(app), { a: 'Same@a', b: 'Same@b', c: 'Other', d: undefined });
    // b leaves the folder: a, kept loaded as it was, has its class name to itself
    await writeFile(join(dir, 'index.yaml'), 'analyses:\n  - name: a\n  - name: c\n');
    const next = await loadApp({
      dir,
      packaged: false,
      cliArgs: [],
      logger: createMemoryLogger(),
      previous: app,
    });
    assert.equal(
      next.entries.get('a')?.kernel,
      app.entries.get('a')?.kernel,
      'a was not loaded again',
    );
    assert.deepEqual(domains(next), { a: 'Same', c: 'Other' });
  });

  test('static roots: the analyses folder first, else the working directory; one found in neither is logged', async () => {
    const project = await folder();
    const dir = join(project, 'analyses');
    await mkdir(join(project, 'node_modules', 'd3'), { recursive: true });
    await mkdir(join(dir, 'static'), { recursive: true });
    await writeFile(
      join(dir, 'index.yaml'),
      [
        'static:',
        "  'static/(d3\\.min\\.js)': node_modules/d3/",
        "  'static/(own\\.js)': static/",
        "  'fonts/(.*)': node_modules/font-awesome/fonts/",
        'analyses: []',
        '',
      ].join('\n'),
    );
    const logger = createMemoryLogger();
    const app = await loadApp({ dir, packaged: false, cliArgs: [], logger, cwd: project });
    assert.deepEqual(
      app.info.static.map(([pattern, root]) => [pattern.source, root]),
      [
        ['^\\/static\\/(d3\\.min\\.js)$', join(project, 'node_modules', 'd3')],
        ['^\\/static\\/(own\\.js)$', join(dir, 'static')],
        ['^\\/fonts\\/(.*)$', join(dir, 'node_modules', 'font-awesome', 'fonts')],
      ],
    );
    assert.deepEqual(
      logger.lines.filter(([level]) => level === 'warn').map(([, line]) => line),
      [
        'index.yaml: did not find static root node_modules/font-awesome/fonts/ in analyses or . (for fonts/(.*)); run npm install if it is a package',
      ],
    );
  });

  test('index.yaml problems are the app errors; its unknown keys are exposed', async () => {
    const app = await load(await folder(), {
      'index.yaml': 'title: [x]\ntitel: typo\nanalyses:\n  - name: a\n    thread: 2\n',
      'a/analysis.ts': '',
    });
    assert.deepEqual(
      app.errors.map((e) => e.message),
      ['index.yaml: title must be a string, got ["x"]'],
    );
    assert.equal(app.info.title, 'databench');
    assert.deepEqual(app.config.analyses.unknownKeys, ['titel']);
    assert.deepEqual(app.config.entries?.[0]?.unknownKeys, ['thread']);
  });
});

describe("findAnalysesDir: --analyses as a folder or as 0.7's import path", () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'databench-find-'));
    for (const dir of ['pkg/tests/analyses/a', 'analyses/b', 'other/lib/more/analyses/c']) {
      await mkdir(join(root, dir), { recursive: true });
    }
    await writeFile(join(root, 'pkg/tests/analyses/index.yaml'), 'analyses: [a]\n');
    await writeFile(join(root, 'analyses/index.yaml'), 'analyses: [b]\n');
    await writeFile(join(root, 'other/lib/more/analyses/index.yaml'), 'analyses: [c]\n');
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('a dotted path is a package found from the working directory; a plain name is the folder', async () => {
    assert.deepEqual(await findAnalysesDir(root, 'pkg.tests.analyses'), {
      dir: join(root, 'pkg', 'tests', 'analyses'),
      packaged: false,
    });
    assert.equal(
      (await findAnalysesDir(join(root, 'pkg'), 'tests.analyses')).dir,
      join(root, 'pkg', 'tests', 'analyses'),
    );
    assert.equal((await findAnalysesDir(root, 'analyses')).dir, join(root, 'analyses'));
    // a path with a dot that is not a package: the file it names
    assert.equal(
      (await findAnalysesDir(join(root, 'analyses'), 'index.yaml')).dir,
      join(root, 'analyses'),
    );
  });

  test('then the folders of PYTHONPATH, as Python would look; a path found nowhere names both tries', async () => {
    const saved = process.env['PYTHONPATH'];
    process.env['PYTHONPATH'] = join(root, 'other', 'lib');
    try {
      assert.equal(
        (await findAnalysesDir(root, 'more.analyses')).dir,
        join(root, 'other', 'lib', 'more', 'analyses'),
      );
      await assert.rejects(findAnalysesDir(root, 'no.such.analyses'), {
        code: 'ANALYSES_NOT_FOUND',
        message: `analyses folder not found: ${join(root, 'no.such.analyses')} (nor a package no.such.analyses from ${root} or PYTHONPATH)`,
      });
    } finally {
      if (saved === undefined) delete process.env['PYTHONPATH'];
      else process.env['PYTHONPATH'] = saved;
    }
  });
});
