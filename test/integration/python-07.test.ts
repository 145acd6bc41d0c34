// Python analyses written as databench 0.7's gallery wrote them
// (test/fixtures/py07/analyses, modelled on flowers, fastpi, bagofcharsd3 and
// redispub/redissub), served by the real server over real sockets:
// @databench.on methods called from the analysis's own code (by a Tornado
// PeriodicCallback, by another handler with `yield`, without `yield`), the
// analyses folder as a package, a failing handler's `__error` frame, no
// error in the log when a page leaves while its handler or timer still
// writes, and which interpreter runs the analysis.
import assert from 'node:assert/strict';
import { chmod, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { databench, FIXTURES, serving, TestClient, until, wsUrlOf } from '../helpers.ts';
import { assertPython, hasPyspark, PYTHON, pythonSkip, tornadoSkip } from '../python.ts';

const ANALYSES = join(FIXTURES, 'py07', 'analyses');
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;

/** The 1-based line and column of `needle` in a fixture's analysis.py. */
async function positionOf(name: string, needle: string): Promise<[number, number]> {
  const lines = (await readFile(join(ANALYSES, name, 'analysis.py'), 'utf8')).split('\n');
  const line = lines.findIndex((l) => l.includes(needle));
  assert.ok(line >= 0, `${needle} is in ${name}/analysis.py`);
  return [line + 1, (lines[line] ?? '').indexOf(needle) + 1];
}

describe('databench 0.7 Python analyses', { skip: pythonSkip || tornadoSkip }, () => {
  const logger = createMemoryLogger();
  let server: DatabenchServer;
  before(async () => {
    assertPython(false, true);
    server = await createServer({ port: 0, analyses: ANALYSES, logger });
  });
  after(() => server.close());

  test('a Tornado PeriodicCallback calls an @databench.on generator method: it runs, its writes reach the page', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'flowers'));
    assert.equal((await client.next('grown', 10_000)).load, 3);
    const lines = client.frames
      .filter((f) => f.signal === 'data' && 'lines' in (f.load as object))
      .map((f) => (f.load as { lines: number[] }).lines);
    assert.deepEqual(lines, [
      [1, 1, 1],
      [2, 2, 2],
      [3, 3, 3],
    ]);
    client.close();
  });

  test('a handler yields another @databench.on handler: it runs and hands back its result; None, gen.moment and gen.sleep are yieldable', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'chain'));
    assert.deepEqual((await client.next('log')).load, { workers: 12 });
    assert.deepEqual((await client.next('chained')).load, { result: 24, active: 12 });
    client.close();
  });

  test('an @databench.on method called without yield still runs, and the call is awaitable', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'chain'));
    await client.next('chained');
    client.send('fire_and_forget', ['to be or not']);
    assert.deepEqual((await client.next('called')).load, { awaitable: true });
    await client.waitFor(
      (f) => f.signal === 'data' && (f.load as { words?: number }).words === 4,
      'the second write of the handler that was not yielded',
    );
    assert.ok(
      client.frames.some(
        (f) => f.signal === 'data' && (f.load as { sentence?: string }).sentence === 'to be or not',
      ),
    );
    client.close();
  });

  test('the analyses folder is a package: from analyses.x.analysis import …, a module beside analysis.py, a relative import', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'consumer'));
    assert.deepEqual((await client.next('imported')).load, {
      greeting: 'hello consumer from source',
      suffix: '(helper beside analysis.py)',
      mark: 'relative import',
      module: 'analyses.consumer.analysis',
    });
    client.close();
  });

  test('a failing handler sends error, then __error with the file:line:column of the user’s frame and the code around it', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'errors'));
    client.send('fail', ['x']);
    assert.equal(
      (await client.next('error')).load,
      'action "fail" failed: ValueError: invalid literal for int() with base 10: \'x\'',
    );
    const load = (await client.next('__error')).load as Record<string, unknown>;
    const [line, column] = await positionOf('errors', 'int(text)');
    assert.equal(load['action'], 'fail');
    assert.equal(load['where'], 'action "fail"');
    assert.equal(load['message'], "ValueError: invalid literal for int() with base 10: 'x'");
    // the column when the interpreter knows it (Python 3.11 and newer)
    assert.ok(
      [`errors/analysis.py:${line}:${column}`, `errors/analysis.py:${line}`].includes(
        String(load['location']),
      ),
      `the innermost frame of analysis.py: ${String(load['location'])}`,
    );
    // two lines either side, numbered, the failing one marked, a caret under the column
    const source = (await readFile(join(ANALYSES, 'errors', 'analysis.py'), 'utf8')).split('\n');
    const width = String(line + 2).length;
    const expected: string[] = [];
    for (let n = line - 2; n <= line + 2; n++) {
      expected.push(
        `${n === line ? '>' : ' '} ${String(n).padStart(width)} | ${source[n - 1] ?? ''}`.trimEnd(),
      );
      if (n === line && String(load['location']).endsWith(`:${column}`)) {
        expected.push(`  ${' '.repeat(width)} | ${' '.repeat(column - 1)}^`);
      }
    }
    assert.equal(load['frame'], expected.join('\n'));

    client.send('plain_fail');
    const plain = (await client.next('__error')).load as Record<string, unknown>;
    const [raiseLine] = await positionOf('errors', "raise ValueError('plain failure')");
    assert.match(
      String(plain['location']),
      new RegExp(`^errors/analysis\\.py:${raiseLine}(:\\d+)?$`),
    );
    assert.equal(plain['action'], 'plain_fail');
    client.close();
  });

  test('a page that leaves while its handler and a timer still write: the generator handler stops at its next yield, nothing errs in the log', async () => {
    const mark = logger.lines.length;
    const chain = await TestClient.connect(wsUrlOf(server, 'chain'));
    await chain.client.next('chained');
    // 1000 rounds of 50 ms: 50 s if nothing stopped it
    chain.client.send('long', [1000]);
    await chain.client.next('round');
    chain.client.close();
    const flowers = await TestClient.connect(wsUrlOf(server, 'flowers'));
    flowers.client.send('keep_growing');
    await flowers.client.next('growing');
    flowers.client.close();
    await until(
      () =>
        logger.lines.slice(mark).some(([, t]) => /long handler ended in round \d+ of 1000/.test(t)),
      'the long handler has been stopped (its finally block ran)',
      15_000,
    );
    const ended = logger.lines
      .slice(mark)
      .map(([, t]) => /long handler ended in round (\d+) of 1000/.exec(t))
      .find((m) => m !== null);
    assert.ok(Number(ended?.[1]) < 100, `stopped soon after the page left: round ${ended?.[1]}`);
    await until(
      () =>
        logger.lines
          .slice(mark)
          .some(([, t]) => t.includes('still growing after the page left: 5')),
      'the timer has written five times since its page left',
      15_000,
    );
    const noise = logger.lines
      .slice(mark)
      .filter(
        ([level, text]) =>
          level === 'error' ||
          level === 'warn' ||
          /Traceback|is closed|emit called before|never retrieved/.test(text),
      );
    assert.deepEqual(noise, []);
  });

  test('a language-kernel analysis of 0.7 (databench_py.singlethread, kernel: py) serves unchanged', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'kernel_py'));
    client.send('test_fn', [1]);
    assert.deepEqual((await client.next('test_fn')).load, [1, 100]);
    client.send('test_fn', { first_param: 'a', second_param: 2 });
    assert.deepEqual((await client.next('test_fn')).load, ['a', 2]);
    client.send('test_state', ['light', 'red']);
    assert.deepEqual((await client.next('data')).load, { light: 'red' });
    client.send('ack', 'x');
    assert.deepEqual((await client.next('data')).load, { status: 'acknowledged x' });
    client.close();
  });

  test('kernel: pyspark runs in the Python kernel when pyspark imports, and is refused with a line saying so when not', async () => {
    const entry = server.app.entries.get('spark');
    if (hasPyspark) {
      assert.equal(entry?.error, undefined);
      const { client } = await TestClient.connect(wsUrlOf(server, 'spark'));
      assert.deepEqual((await client.next('data')).load, { status: 'ready' });
      client.close();
    } else {
      assert.match(
        entry?.error ?? '',
        /^kernel: pyspark needs the pyspark package, and \S+ \(Python 3\.\d+\.\d+\) has none: pip install pyspark/,
      );
    }
  });

  test('an import that fails says which interpreter imported it and how to choose another', () => {
    const error = server.app.entries.get('missing')?.error ?? '';
    assert.match(
      error,
      /missing\/analysis\.py:2: ModuleNotFoundError: No module named 'no_such_module_for_databench_tests'/,
    );
    assert.ok(error.includes(`imported by `), error);
    assert.match(error, /\(Python 3\.\d+/);
    assert.match(
      error,
      /python: in index\.yaml or DATABENCH_PYTHON, or start databench in an activated virtualenv/,
    );
  });
});

describe('databench 0.7 Python analyses: error details off', { skip: pythonSkip }, () => {
  const dir = join(ARTIFACTS, 'py07-no-details', 'analyses');
  let server: DatabenchServer;
  before(async () => {
    assertPython();
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await cp(join(ANALYSES, 'errors'), join(dir, 'errors'), { recursive: true });
    await writeFile(join(dir, 'index.yaml'), 'analyses:\n  - name: errors\n    kernel: py\n');
    server = await createServer({
      port: 0,
      analyses: dir,
      logger: createMemoryLogger(),
      errorDetails: false,
    });
  });
  after(async () => {
    await server.close();
    await rm(join(ARTIFACTS, 'py07-no-details'), { recursive: true, force: true });
  });

  test('__error has the action and the message, no location and no code', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'errors'));
    client.send('plain_fail');
    assert.deepEqual((await client.next('__error')).load, {
      action: 'plain_fail',
      where: 'action "plain_fail"',
      message: 'ValueError: plain failure',
      location: null,
    });
    client.close();
  });
});

describe('the interpreter of a Python analysis is the user’s', { skip: pythonSkip }, () => {
  const dir = join(ARTIFACTS, 'py07-interpreter');
  const analyses = join(dir, 'analyses');
  const venv = join(dir, 'venv');
  const pathBin = join(dir, 'path-bin');

  /** A `python` that says how it was found, then runs the tests' interpreter. */
  async function wrapper(file: string, via: string): Promise<void> {
    await writeFile(file, `#!/bin/sh\nDATABENCH_TEST_VIA=${via} exec ${PYTHON} "$@"\n`);
    await chmod(file, 0o755);
  }

  before(async () => {
    assertPython();
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(venv, 'bin'), { recursive: true });
    await mkdir(pathBin, { recursive: true });
    await cp(join(ANALYSES, 'interp'), join(analyses, 'interp'), { recursive: true });
    await writeFile(join(analyses, 'index.yaml'), 'analyses:\n  - name: interp\n    kernel: py\n');
    await wrapper(join(venv, 'bin', 'python'), 'venv');
    await wrapper(join(pathBin, 'python3'), 'path');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** Serve the folder with the CLI in `env`; what the analysis says about its interpreter. */
  async function interpreterWith(env: Record<string, string>): Promise<unknown> {
    const run = databench(['--analyses', analyses, '--port', '0', '--no-watch'], {
      env: { DATABENCH_PYTHON: '', VIRTUAL_ENV: '', ...env },
    });
    try {
      const url = await serving(run);
      const { client } = await TestClient.connect(`${url.replace('http', 'ws')}/interp/ws`);
      const load = (await client.next('interpreter', 10_000)).load;
      client.close();
      return load;
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
  }

  test('the active virtualenv’s python, with no python: and no DATABENCH_PYTHON', async () => {
    const load = (await interpreterWith({ VIRTUAL_ENV: venv })) as { via: string };
    assert.equal(load.via, 'venv');
  });

  test('python3 on PATH, with no virtualenv', async () => {
    const load = (await interpreterWith({
      PATH: `${pathBin}:${process.env['PATH'] ?? ''}`,
    })) as { via: string };
    assert.equal(load.via, 'path');
  });

  test('DATABENCH_PYTHON over the virtualenv', async () => {
    const load = (await interpreterWith({
      VIRTUAL_ENV: venv,
      DATABENCH_PYTHON: join(pathBin, 'python3'),
    })) as { via: string };
    assert.equal(load.via, 'path');
  });
});
