import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { AnalysisTest } from 'databench-ts/testing';
import { InProcessKernel } from '../kernel/in-process.js';
import { loadApp } from '../app/app.js';
import { compileAnalysis, holdCompiler } from './compile-analysis.js';
import { errorLocation } from '../analysis/error-location.js';
import { importAnalysis } from './load-analysis.js';
import { loadErrorLoad } from './load-error.js';
import { createMemoryLogger } from '../util/logger.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = join(ROOT, 'test', 'fixtures', 'compile');
// inside the package, so that `import 'databench-ts'` resolves to this checkout
const DIR = join(ROOT, 'test-artifacts', `compile-${process.pid}`);

/**
 * The esbuild processes this thread started (not tsx's, which its own
 * thread starts): `/proc` lists a thread's children under its task.
 */
function esbuildChildren(): number[] {
  const path = `/proc/${process.pid}/task/${process.pid}/children`;
  const pids = readFileSync(path, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return pids.filter((pid) => {
    try {
      const running = !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      return running && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('esbuild');
    } catch {
      return false; // gone meanwhile
    }
  });
}

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Compile `source`, import it and remove the compiled file (the imported module stays). */
async function importCompiled<T>(source: string, root: string): Promise<T> {
  const compiled = await compileAnalysis(source, { root });
  try {
    return (await import(compiled.url)) as T;
  } finally {
    await compiled.dispose();
  }
}

before(async () => {
  await mkdir(DIR, { recursive: true });
});

after(async () => {
  await rm(DIR, { recursive: true, force: true });
});

describe('compileAnalysis', () => {
  test('bundles a local .ts helper imported as ./util.js; import.meta names each source file', async () => {
    const source = join(FIXTURE, 'helper', 'analysis.ts');
    const compiled = await compileAnalysis(source, { root: FIXTURE });
    try {
      assert.notEqual(dirname(fileURLToPath(compiled.url)), dirname(source));
      // importAnalysis finds a subclass of this process's Analysis: one 'databench-ts'
      const cls = await importAnalysis(compiled.url, source);
      const run = new AnalysisTest(cls);
      await run.ready;
      assert.deepEqual(
        run.emittedMessages.find(([signal]) => signal === 'where'),
        [
          'where',
          {
            // data.txt read through import.meta.url; util.ts names its own file
            greeting: 'hello world from util.ts',
            filename: source,
            dirname: dirname(source),
          },
        ],
      );
    } finally {
      await compiled.dispose();
    }
  });

  test("an error thrown in the helper names the helper's .ts line, then the analysis's", async () => {
    const source = join(FIXTURE, 'helper', 'analysis.ts');
    const compiled = await compileAnalysis(source, { root: FIXTURE });
    let error: unknown;
    try {
      const cls = await importAnalysis(compiled.url, source);
      const boom = (cls.prototype as unknown as Record<string, () => void>)['on_boom'];
      try {
        boom?.call(undefined);
      } catch (e) {
        error = e;
      }
    } finally {
      await compiled.dispose();
    }
    assert.ok(error instanceof Error, 'on_boom threw');
    assert.equal(error.message, 'helper failed');
    assert.equal(errorLocation(error, FIXTURE), 'helper/util.ts:6:9');
    assert.match(error.stack ?? '', /helper[/\\]analysis\.ts:18:5/);
  });

  test('a syntax error rejects with file:line:column; the load error panel gets its line', async () => {
    await mkdir(join(DIR, 'broken'), { recursive: true });
    const source = join(DIR, 'broken', 'analysis.ts');
    await writeFile(join(DIR, 'broken', 'util.ts'), 'export const ok = 1;\nexport const bad = ;\n');
    await writeFile(
      source,
      "import { Analysis } from 'databench-ts';\nimport { ok } from './util.js';\nexport class Broken extends Analysis {}\nexport { ok };\n",
    );
    const error = await compileAnalysis(source, { root: DIR }).then(
      () => assert.fail('compiled'),
      (e: unknown) => e as Error,
    );
    assert.match(error.message, /^Build failed with 1 error:\n/);
    assert.ok(
      error.message.includes(`${join(DIR, 'broken', 'util.ts')}:2:`),
      `the helper's file and line: ${error.message}`,
    );
    const load = loadErrorLoad('broken', error.message, { root: DIR, details: true, stale: false });
    assert.equal(load.file, 'broken/util.ts');
    assert.equal(load.line, 2);
    assert.equal(load.column, 'export const bad = ;'.indexOf(';') + 1);
    assert.match(load.frame ?? '', /> 2 \| export const bad = ;/);
  });

  test('an import that resolves nowhere names the importing line', async () => {
    await mkdir(join(DIR, 'missing'), { recursive: true });
    const source = join(DIR, 'missing', 'analysis.ts');
    await writeFile(
      source,
      "import { Analysis } from 'databench-ts';\nimport { nothing } from './nowhere.js';\nexport class Missing extends Analysis {}\nexport { nothing };\n",
    );
    await assert.rejects(compileAnalysis(source, { root: DIR }), (e: Error) => {
      assert.ok(e.message.includes(`${source}:2:`), e.message);
      assert.match(e.message, /Could not resolve "\.\/nowhere\.js"/);
      return true;
    });
  });

  test("a CommonJS helper's require() and the module's own createRequire(import.meta.url) resolve from the source folder", async () => {
    const folder = join(DIR, 'legacy');
    await mkdir(folder, { recursive: true });
    await writeFile(
      join(folder, 'legacy.cjs'),
      "const { basename } = require('node:path');\nconst { stringify } = require('yaml');\nmodule.exports = { name: basename('/a/b.txt'), yaml: stringify({ a: 1 }).trim() };\n",
    );
    await writeFile(join(folder, 'numbers.json'), '{ "seven": 7 }\n');
    const source = join(folder, 'analysis.ts');
    await writeFile(
      source,
      [
        "import { createRequire } from 'node:module';",
        "import { Analysis } from 'databench-ts';",
        "import legacy from './legacy.cjs';",
        'const require = createRequire(import.meta.url);',
        "export const LEGACY = { ...legacy, seven: require('./numbers.json').seven };",
        'export class Legacy extends Analysis {}',
        '',
      ].join('\n'),
    );
    const mod = await importCompiled<{ LEGACY: unknown }>(source, DIR);
    assert.deepEqual(mod.LEGACY, { name: 'b.txt', yaml: 'a: 1', seven: 7 });
  });

  test('a package published as TypeScript is compiled in; other packages stay imports', async () => {
    const folder = join(DIR, 'tspkg');
    const pkg = join(folder, 'node_modules', 'typescript-only');
    await mkdir(pkg, { recursive: true });
    await writeFile(
      join(pkg, 'package.json'),
      '{ "name": "typescript-only", "type": "module", "exports": "./index.ts" }\n',
    );
    await writeFile(join(pkg, 'index.ts'), 'export const three: number = 3;\n');
    const source = join(folder, 'analysis.ts');
    await writeFile(
      source,
      [
        "import { Analysis } from 'databench-ts';",
        "import { stringify } from 'yaml';",
        "import { three } from 'typescript-only';",
        'export const VALUES = [three, stringify(three).trim()];',
        'export class TypescriptOnly extends Analysis {}',
        '',
      ].join('\n'),
    );
    const compiled = await compileAnalysis(source, { root: DIR });
    try {
      const code = readFileSync(fileURLToPath(compiled.url), 'utf8');
      assert.doesNotMatch(
        code,
        /typescript-only\/index\.ts"/,
        'not left to Node, which cannot load it',
      );
      assert.match(
        code,
        /from "file:\/\/[^"]*\/node_modules\/yaml\/[^"]*"/,
        'yaml stays a package',
      );
      const mod = (await import(compiled.url)) as { VALUES: unknown };
      assert.deepEqual(mod.VALUES, [3, '3']);
    } finally {
      await compiled.dispose();
    }
  });

  test('an optional package that is not installed fails where it is imported, not at load', async () => {
    const folder = join(DIR, 'optional');
    await mkdir(folder, { recursive: true });
    await writeFile(
      join(folder, 'optional.cjs'),
      "try {\n  module.exports = require('databench-no-such-package');\n} catch (e) {\n  module.exports = e.code;\n}\n",
    );
    const source = join(folder, 'analysis.ts');
    await writeFile(
      source,
      [
        "import { Analysis } from 'databench-ts';",
        "const missing = await import('databench-no-such-package').then(() => 'found', (e: NodeJS.ErrnoException) => e.code);",
        "import required from './optional.cjs';",
        'export const RESULTS = [missing, required];',
        'export class Optional extends Analysis {}',
        '',
      ].join('\n'),
    );
    const mod = await importCompiled<{ RESULTS: unknown }>(source, DIR);
    assert.deepEqual(mod.RESULTS, ['ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND']);
  });

  test('dispose removes the file, and the folder once nothing else is in it', async () => {
    const source = join(FIXTURE, 'helper', 'analysis.ts');
    const a = await compileAnalysis(source, { root: FIXTURE });
    const b = await compileAnalysis(source, { root: FIXTURE });
    const folder = dirname(fileURLToPath(a.url));
    assert.equal(dirname(fileURLToPath(b.url)), folder, 'one folder per process');
    assert.notEqual(a.url, b.url, 'every compile its own file');
    assert.equal(readdirSync(folder).length, 2);
    await a.dispose();
    assert.equal(existsSync(fileURLToPath(a.url)), false);
    assert.equal(existsSync(folder), true, 'b still needs it');
    await b.dispose();
    assert.equal(existsSync(folder), false);
  });

  test('a process that exits without disposing leaves no folder behind', async () => {
    const script = [
      `import { existsSync } from 'node:fs';`,
      `import { compileAnalysis, compiledFolder } from ${JSON.stringify(join(ROOT, 'src/loader/compile-analysis.ts'))};`,
      `await compileAnalysis(${JSON.stringify(join(FIXTURE, 'helper', 'analysis.ts'))});`,
      `console.log(JSON.stringify({ folder: compiledFolder(), there: existsSync(compiledFolder() ?? '') }));`,
      `process.exit(0);`,
    ].join('\n');
    const child = spawnSync(
      process.execPath,
      ['--conditions=databench-source', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(child.status, 0, child.stderr);
    const { folder, there } = JSON.parse(child.stdout) as { folder: string; there: boolean };
    assert.ok(there, 'the compiled module was there before the exit');
    assert.ok(folder.includes(`databench-analyses-${child.pid}-`), folder);
    assert.equal(existsSync(folder), false);
  });

  test("esbuild's process ends once no compile runs", async (t) => {
    if (!existsSync(`/proc/${process.pid}/task`)) {
      t.skip('needs /proc (Linux) to see child processes');
      return;
    }
    const source = join(FIXTURE, 'helper', 'analysis.ts');
    // held as a load holds it for the analyses of a folder: the process is there meanwhile
    const release = holdCompiler();
    try {
      const compiled = await compileAnalysis(source, { root: FIXTURE });
      await compiled.dispose();
      assert.equal(esbuildChildren().length, 1, 'esbuild runs while held');
    } finally {
      release();
    }
    await until(() => esbuildChildren().length === 0, 'no esbuild process is left');
  });
});

describe('loadApp with compiled analyses', () => {
  test('a reload after an edit of only the helper imports the new helper', async () => {
    const app = join(DIR, 'reload');
    await mkdir(join(app, 'hello'), { recursive: true });
    await writeFile(join(app, 'index.yaml'), 'analyses:\n  - name: hello\n');
    await writeFile(
      join(app, 'hello', 'analysis.ts'),
      "import { Analysis } from 'databench-ts';\nimport { word } from './word.js';\nexport class Hello extends Analysis {\n  override on_connected() {\n    return this.emit('word', word);\n  }\n}\n",
    );
    await writeFile(join(app, 'hello', 'word.ts'), "export const word = 'one';\n");
    const logger = createMemoryLogger();
    const word = async (loaded: Awaited<ReturnType<typeof loadApp>>): Promise<unknown> => {
      const entry = loaded.entries.get('hello');
      assert.equal(entry?.error, undefined);
      assert.ok(entry?.kernel instanceof InProcessKernel);
      const run = new AnalysisTest(entry.kernel.meta.analysisClass);
      await run.ready;
      return run.emittedMessages.find(([signal]) => signal === 'word')?.[1];
    };
    const first = await loadApp({ dir: app, packaged: false, cliArgs: [], logger });
    assert.equal(await word(first), 'one');
    await writeFile(join(app, 'hello', 'word.ts'), "export const word = 'two';\n");
    const second = await loadApp({
      dir: app,
      packaged: false,
      cliArgs: [],
      logger,
      previous: first,
    });
    assert.notEqual(second.entries.get('hello')?.kernel, first.entries.get('hello')?.kernel);
    assert.equal(await word(second), 'two');
  });
});
