// --typecheck while watching: a save with a type error is reported in the log,
// on the page and to open pages, the code keeps running, and a fix clears it.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { prepareTypeCheck, type TypeCheckReporter } from '../../src/cli/typecheck.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createTypeChecker } from '../../src/loader/typecheck.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { TestClient, writeCheckoutTsconfig } from '../helpers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
/** The analysis, with `value` as its STEP: a number, or a string that is a type error. */
const source = (value: string): string =>
  `import { Analysis } from 'databench-ts';\n` +
  `export class Hello extends Analysis {\n  on_which() { return this.emit('which', STEP); }\n}\n` +
  `const STEP: number = ${value};\n`;
const reloadWaiters: Array<() => void> = [];

let dir: string;
let server: DatabenchServer;
let reporter: TypeCheckReporter | undefined;
const logger = createMemoryLogger();

before(async () => {
  // inside the checkout: 'databench' resolves to it (no package.json of its own here)
  await mkdir(join(ROOT, 'test-artifacts'), { recursive: true });
  dir = await mkdtemp(join(ROOT, 'test-artifacts', 'typecheck-'));
  await mkdir(join(dir, 'hello'));
  await writeFile(join(dir, 'index.yaml'), 'analyses:\n  - name: hello\n');
  await writeFile(join(dir, 'hello', 'index.html'), '<p>hello</p>\n');
  await writeFile(join(dir, 'hello', 'analysis.ts'), source('5'));
  await writeCheckoutTsconfig(dir);
  reporter = await prepareTypeCheck({
    mode: 'warn',
    explicit: true,
    dir,
    packaged: false,
    cwd: dir,
    logger,
  });
  assert.ok(reporter, 'typescript is installed (a dev dependency)');
  server = await createServer({
    port: 0,
    analyses: dir,
    watch: true,
    logger,
    onReload: (app) => {
      reporter?.reloaded(app);
      for (const wake of reloadWaiters.splice(0)) wake();
    },
  });
  reporter.attach(server);
  await reporter.idle();
});

after(async () => {
  await server?.close();
  await reporter?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Resolves after the reload that `change` causes. */
function reloadAfter(change: () => Promise<void>): Promise<void> {
  const reloaded = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no reload within 10 s of a save')), 10_000);
    reloadWaiters.push(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  return change().then(() => reloaded);
}

const wsUrl = (): string => server.url.replace('http', 'ws') + '/hello/ws';

test('a clean analysis: no type errors for its pages or in the log', async () => {
  const { client } = await TestClient.connect(wsUrl());
  client.send('which');
  await client.next('which');
  assert.equal(
    client.frames.some((f) => f.signal === '__type_errors'),
    false,
  );
  client.close();
  assert.deepEqual(
    logger.lines.filter(([, m]) => /type error/.test(m)),
    [],
  );
});

test('a type error: a warning in the log, __type_errors to open pages when the check ends and to pages that connect later; the code runs; a fix clears it', async () => {
  await reloadAfter(() => writeFile(join(dir, 'hello', 'analysis.ts'), source('"five"')));
  // a page open on the new code before the check is done hears of it when it ends
  const { client } = await TestClient.connect(wsUrl());
  await reporter!.idle();
  const told = await client.next('__type_errors', 30_000);
  const load = told.load as { analysis: string; text: string };
  assert.equal(load.analysis, 'hello');
  assert.match(load.text, /analysis\.ts:5:7 - error TS2322/);
  client.send('which');
  assert.equal((await client.next('which')).load, 'five', 'the analysis still runs');

  const warning = logger.lines.find(([, m]) => /type error\(s\)/.test(m));
  assert.ok(warning, 'the log has the type errors');
  assert.equal(warning[0], 'warn');
  assert.match(
    warning[1],
    /^1 type error\(s\) \(TypeScript [\d.]+, tsconfig\.json; the code still runs\):/,
  );
  // a page that connects now gets them right after its __connect reply
  const later = await TestClient.connect(wsUrl());
  const index = later.client.frames.findIndex((f) => f.signal === '__connect');
  const next = await later.client.next('__type_errors');
  assert.deepEqual(next.load, load);
  assert.ok(later.client.frames.indexOf(next) > index, 'after the reply');
  later.client.close();
  // type errors are no banner of the page's HTML any more: the error panel shows them
  const page = await (await fetch(`${server.url}/hello/`)).text();
  assert.doesNotMatch(page, /databench-type-errors/);

  await reloadAfter(() => writeFile(join(dir, 'hello', 'analysis.ts'), source('5')));
  // the page that was open on the broken code reconnects after the restart
  const fixed = await TestClient.connect(wsUrl());
  assert.equal(
    fixed.client.frames.some((f) => f.signal === '__type_errors'),
    false,
    'no stale errors right after a save: they may be fixed',
  );
  await reporter!.idle();
  assert.ok(logger.lines.some(([, m]) => m === 'type check: no more type errors'));
  assert.deepEqual((await fixed.client.next('__type_errors')).load, {
    analysis: 'hello',
    text: null,
  });
  fixed.client.close();
  client.close();
});

test('a check that a save supersedes is given up: its process ends, nothing stale is reported', async () => {
  const checker = await createTypeChecker({ dir, cwd: dir });
  assert.ok(checker);
  try {
    const first = checker.check();
    const pid = checker.pid;
    assert.ok(pid !== undefined);
    const second = checker.restart();
    await assert.rejects(first, (error: Error & { code?: string }) => {
      assert.equal(error.code, 'TYPECHECK_SUPERSEDED');
      return true;
    });
    assert.equal(alive(pid), false, 'the superseded check’s process has ended');
    const result = await second;
    assert.notEqual(result.pid, pid);
    assert.deepEqual(result.diagnostics, []);
  } finally {
    await checker.close();
  }
});

/** Whether process `pid` is still running (signal 0 tests without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

test('each check runs in a process of its own that has ended when the check resolves', async () => {
  const checker = await createTypeChecker({ dir, cwd: dir });
  assert.ok(checker);
  try {
    assert.equal(checker.pid, undefined, 'no process before the first check');
    const pending = checker.check();
    const running = checker.pid;
    assert.ok(running !== undefined, 'a process runs the check');
    const first = await pending;
    assert.equal(first.pid, running);
    assert.equal(first.diagnostics.length, 0, JSON.stringify(first.diagnostics));
    assert.equal(checker.pid, undefined);
    assert.equal(alive(first.pid), false, 'the first check’s process has ended');
    const second = await checker.check();
    assert.notEqual(second.pid, first.pid, 'a new check starts a new process');
    assert.equal(alive(second.pid), false, 'the second check’s process has ended');
  } finally {
    await checker.close();
  }
});

test('close() during a check ends its process and fails the check', async () => {
  const checker = await createTypeChecker({ dir, cwd: dir });
  assert.ok(checker);
  const pending = checker.check();
  const pid = checker.pid;
  assert.ok(pid !== undefined);
  await checker.close();
  await assert.rejects(pending, /the type checker was closed/);
  assert.equal(alive(pid), false, 'the check’s process was ended');
  await assert.rejects(checker.check(), /the type checker was closed/);
});

test('closing the reporter during a check (a shutdown) ends the check without a warning', async () => {
  const own = createMemoryLogger();
  const closing = await prepareTypeCheck({
    mode: 'warn',
    explicit: true,
    dir,
    packaged: false,
    cwd: dir,
    logger: own,
  });
  assert.ok(closing);
  closing.attach(server);
  await closing.close();
  await closing.idle();
  assert.deepEqual(
    own.lines.filter(([level]) => level !== 'debug'),
    [],
  );
});
