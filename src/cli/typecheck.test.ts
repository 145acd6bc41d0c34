// When there is nothing to type check, or no TypeScript that can: a folder of
// databench 0.7 (Python) analyses gets no line at all, a project whose own
// TypeScript is too old or broken gets one clear line, never a failure.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { App } from '../app/app.ts';
import { createMemoryLogger } from '../util/logger.ts';
import { holdsTypeScript, prepareTypeCheck } from './typecheck.ts';

let root: string;
let count = 0;

/** A project folder: `files` (path → content) written into it. */
async function project(files: Record<string, string>): Promise<string> {
  const dir = join(root, String(++count));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

/** A `typescript` package in the project's node_modules: its version, and a module without the API the check uses. */
function fakeTypeScript(version: string): Record<string, string> {
  return {
    'node_modules/typescript/package.json': JSON.stringify({
      name: 'typescript',
      version,
      main: 'lib/typescript.js',
    }),
    'node_modules/typescript/lib/typescript.js':
      'module.exports = { ScriptTarget: {}, ModuleKind: {}, ModuleResolutionKind: {}, DiagnosticCategory: {},\n' +
      '  findConfigFile: () => undefined, sys: { readDirectory: () => [] } };\n',
  };
}

const PYTHON_ANALYSIS = {
  'analyses/index.yaml': 'analyses:\n  - name: hello\n',
  'analyses/hello/analysis.py': 'import databench\n',
  // browser code built by webpack is not an analysis
  'analyses/hello/ts/main.ts': 'export const x: number = 1;\n',
};

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'databench-typecheck-'));
});
after(() => rm(root, { recursive: true, force: true }));

describe('what the type check has to check', () => {
  test('holdsTypeScript: an analysis.ts or routes.ts in an analysis folder, nothing else', async () => {
    const py = await project(PYTHON_ANALYSIS);
    assert.equal(await holdsTypeScript(join(py, 'analyses')), false);
    const ts = await project({ 'analyses/a/analysis.ts': '' });
    assert.equal(await holdsTypeScript(join(ts, 'analyses')), true);
    const routes = await project({ 'analyses/a/analysis.py': '', 'analyses/a/routes.ts': '' });
    assert.equal(await holdsTypeScript(join(routes, 'analyses')), true);
    assert.equal(await holdsTypeScript(join(root, 'no-such-folder')), false);
  });

  test("a 0.7 project's own old TypeScript: off, with a debug line only when no analysis is TypeScript", async () => {
    const dir = await project({ ...PYTHON_ANALYSIS, ...fakeTypeScript('2.8.3') });
    const logger = createMemoryLogger();
    const options = { mode: 'warn', dir: join(dir, 'analyses'), packaged: false, cwd: dir, logger };
    const reporter = await prepareTypeCheck({ ...options, mode: 'warn', explicit: false });
    assert.equal(reporter, undefined);
    assert.deepEqual(logger.lines, [
      [
        'debug',
        "type checking is off: the project's TypeScript 2.8.3 is older than 5.0 (npm install -D typescript@5 to check the analyses)",
      ],
    ]);
  });

  test('an old TypeScript with a TypeScript analysis: one warning; asked for with --typecheck: refused', async () => {
    const dir = await project({ 'analyses/a/analysis.ts': '', ...fakeTypeScript('4.9.5') });
    const logger = createMemoryLogger();
    const options = { dir: join(dir, 'analyses'), packaged: false, cwd: dir, logger };
    assert.equal(await prepareTypeCheck({ ...options, mode: 'warn', explicit: false }), undefined);
    assert.deepEqual(
      logger.lines.map(([level, line]) => [level, line.replace(/ \(.*/, '')]),
      [['warn', "type checking is off: the project's TypeScript 4.9.5 is older than 5.0"]],
    );
    await assert.rejects(prepareTypeCheck({ ...options, mode: 'error', explicit: true }), {
      name: 'CliError',
      message: /TypeScript 4\.9\.5 is older than 5\.0/,
    });
  });

  test('no TypeScript analysis: no check runs (no process, no line), even with TypeScript installed', async () => {
    const dir = await project({ ...PYTHON_ANALYSIS, ...fakeTypeScript('5.4.0') });
    const logger = createMemoryLogger();
    const reporter = await prepareTypeCheck({
      mode: 'error',
      explicit: false,
      dir: join(dir, 'analyses'),
      packaged: false,
      cwd: dir,
      logger,
    });
    assert.ok(reporter);
    try {
      reporter.reloaded({ entries: new Map() } as unknown as App);
      await reporter.idle();
      assert.deepEqual(
        logger.lines.filter(([level]) => level !== 'debug'),
        [],
        'the fake TypeScript would fail a check: none ran',
      );
    } finally {
      await reporter.close();
    }
  });

  test('a broken TypeScript: the first failure is one warning line, the same again a debug line', async () => {
    const dir = await project({ 'analyses/a/analysis.ts': '', ...fakeTypeScript('5.4.0') });
    const logger = createMemoryLogger();
    const reporter = await prepareTypeCheck({
      mode: 'warn',
      explicit: false,
      dir: join(dir, 'analyses'),
      packaged: false,
      cwd: dir,
      logger,
    });
    assert.ok(reporter);
    try {
      for (let i = 0; i < 2; i++) {
        reporter.reloaded({ entries: new Map() } as unknown as App);
        await reporter.idle();
      }
      const failures = logger.lines.filter(([, line]) => line.startsWith('type check failed'));
      assert.deepEqual(
        failures.map(([level]) => level),
        ['warn', 'debug'],
      );
      assert.match(
        failures[0]?.[1] ?? '',
        /^type check failed \(TypeScript 5\.4\.0\): TypeError: ts\.createIncrementalProgram is not a function$/,
      );
    } finally {
      await reporter.close();
    }
  });
});
