// `kernel: py` with real Python processes: the kernel conformance suite
// (src/testing/kernel-suite.ts) run against the Python kernel with the
// conformance analysis in Python; then, with real sockets, what only the
// Python kernel has: the seed's Python API through the wire (handlers of
// every style, the wire's encodings, tracebacks, logs, class_data across
// processes and with TypeScript pages, matplotlib), a process killed from
// outside taking its children along, load errors, reload and shutdown with no
// process left behind.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testKernel } from 'databench-ts/testing';
import { PYTHON_PACKAGE_DIR, PythonKernel } from '../../src/kernel/python/python-kernel.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient, until, wsUrlOf } from '../helpers.ts';
import { assertPython, hasMatplotlib, matplotlibSkip, pythonSkip } from '../python.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function kernel(server: DatabenchServer, name = 'py'): PythonKernel {
  return server.app.entries.get(name)!.kernel as PythonKernel;
}

/** A process is gone (or a zombie waiting for its parent: it runs nothing any more). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

/**
 * A server on `analyses` for the tests of one describe: started in its
 * `before` (Python is required there), closed in its `after`.
 */
function pythonServer(
  analyses: string,
  logger = createMemoryLogger(),
): { readonly server: DatabenchServer } {
  const ctx = {} as { server: DatabenchServer };
  before(async () => {
    assertPython();
    ctx.server = await createServer({ port: 0, analyses, logger });
  });
  after(() => ctx.server.close());
  return ctx;
}

testKernel(
  'py',
  ({ logger }) => {
    assertPython();
    return PythonKernel.create({
      name: 'conformance',
      file: join(FIXTURES, 'kernels', 'conformance_py', 'analysis.py'),
      routes: [],
      cliArgs: [],
      logger,
      processes: 2,
    });
  },
  { skip: pythonSkip, memberIds: (kernel) => kernel.pids },
);

describe('Python kernel', { skip: pythonSkip }, () => {
  const logger = createMemoryLogger();
  const ctx = pythonServer(FIXTURES + 'kernels', logger);

  test('an idle kernel process has not loaded OpenSSL; an analysis that imports ssl gets it', async () => {
    const { client } = await TestClient.connect(wsUrlOf(ctx.server, 'py'));
    client.send('echo', [1]);
    assert.equal((await client.next('echo')).load, 1);
    const [pid] = kernel(ctx.server).pids;
    const maps = (): string => readFileSync(`/proc/${pid}/maps`, 'utf8');
    if (process.platform === 'linux') assert.doesNotMatch(maps(), /libssl|_ssl\./);
    client.send('ssl');
    assert.deepEqual((await client.next('ssl')).load, {
      before: false,
      context: 'SSLContext',
      asyncio: true,
    });
    if (process.platform === 'linux') assert.match(maps(), /_ssl\./);
    client.close();
  });

  test('plain, generator and async handlers; @on and @on_action; list, dict and scalar loads', async () => {
    const { client } = await TestClient.connect(wsUrlOf(ctx.server, 'py'));
    client.send('gen', [3]);
    for (let i = 0; i < 3; i++) assert.equal((await client.next('gen')).load, i);
    assert.deepEqual(
      (await client.waitFor((f) => f.signal === 'data', 'the generator’s set_state')).load,
      { gen_done: 3 },
    );
    client.send('async', { a: 1 });
    assert.deepEqual((await client.next('async')).load, { a: 1, b: 2 });
    client.send('async', [5, 6]);
    assert.deepEqual((await client.next('async')).load, { a: 5, b: 6 });
    client.send('plain', 'scalar');
    assert.deepEqual((await client.next('plain')).load, { args: ['scalar'], kwargs: {} });
    client.send('plain', { k: 1 });
    assert.deepEqual((await client.next('plain')).load, { args: [], kwargs: { k: 1 } });
    client.send('plain');
    assert.deepEqual((await client.next('plain')).load, { args: [], kwargs: {} });
    client.send('decorated', [5]);
    assert.equal((await client.next('decorated')).load, 5);
    client.send('renamed', [6]);
    assert.equal((await client.next('renamed')).load, 6);
    client.send('async', { nope: 1 });
    assert.match(String((await client.next('error')).load), /action "async".*nope/);
    client.close();
  });

  test('values and frames as the TypeScript side sends them; request_args as parse_qs gives it', async () => {
    const { client } = await TestClient.connect(wsUrlOf(ctx.server, 'py'), {
      requestArgs: '?a=1&a=2&b=&c=x+y',
    });
    client.send('special');
    assert.deepEqual((await client.next('special')).load, {
      nan: 'NaN',
      inf: 'Infinity',
      ninf: '-Infinity',
      set: [1],
      tuple: [1, 2],
      none: null,
      unicode: 'é€',
    });
    client.send('nomessage');
    assert.deepEqual(await client.next('bare'), { signal: 'bare' });
    assert.deepEqual(await client.next('none'), { signal: 'none', load: null });
    client.send('args_echo');
    assert.deepEqual((await client.next('args_echo')).load, {
      cli_args: [],
      request_args: { a: ['1', '2'], c: ['x y'] },
    });
    client.send('transform', [21]);
    const doubled = await client.waitFor(
      (f) => f.signal === 'data' && 'doubled' in (f.load as object),
      'the transformed key',
    );
    assert.deepEqual(doubled.load, { doubled: 42 });
    client.close();
  });

  test('a handler that raises: the page gets the exception, the log the traceback; the session lives', async () => {
    const { client, id } = await TestClient.connect(wsUrlOf(ctx.server, 'py'));
    client.send('fail', { text: 'boom', __process_id: 4 });
    assert.equal((await client.next('error')).load, 'action "fail" failed: ValueError: boom');
    assert.deepEqual((await client.next('__process')).load, { id: 4, status: 'start' });
    assert.deepEqual((await client.next('__process')).load, { id: 4, status: 'end', error: true });
    const line = logger.lines.find(
      ([level, text]) =>
        level === 'error' && text.includes(id.slice(0, 8)) && text.includes('Traceback'),
    );
    assert.ok(line, 'the traceback is in the log');
    assert.match(line[1], /^\[py\] /);
    assert.match(line[1], /analysis\.py", line \d+, in on_fail\n\s+raise ValueError\(text\)/);
    assert.doesNotMatch(line[1], /databench\/meta\.py/, 'the traceback starts in the user’s code');
    client.send('echo', ['alive']);
    assert.equal((await client.next('echo')).load, 'alive');
    client.close();
  });

  test('print() and logging go to the server log with the analysis name', async () => {
    const { client, id } = await TestClient.connect(wsUrlOf(ctx.server, 'py'));
    client.send('print', ['hello from print()']);
    client.send('echo', [1]);
    await client.next('echo');
    await until(
      () => logger.lines.some(([l, t]) => l === 'info' && t === '[py] hello from print()'),
      'the printed line is logged',
    );
    assert.ok(
      logger.lines.some(
        ([l, t]) => l === 'info' && t.startsWith(`[py] connected ${id.slice(0, 8)}`),
      ),
      'logging.info of the analysis is logged',
    );
    client.close();
  });

  test('class_data written by a Python page reaches a Python page on another process, not a TypeScript analysis of the same class name', async () => {
    await until(() => ctx.server.sessions.size === 0, 'earlier sessions are released');
    const a = await TestClient.connect(wsUrlOf(ctx.server, 'py'));
    const b = await TestClient.connect(wsUrlOf(ctx.server, 'py'));
    a.client.send('thread');
    b.client.send('thread');
    const [pa, pb] = [(await a.client.next('thread')).load, (await b.client.next('thread')).load];
    assert.notEqual(pa, pb, 'two sessions on a 2-process pool get a process each');
    a.client.send('class_state', [77]);
    await b.client.waitFor(
      (f) => f.signal === 'class_data' && (f.load as { w?: number }).w === 77,
      'the class_data change on the other process',
    );
    b.client.send('shared', [78]);
    await a.client.waitFor(
      (f) => f.signal === 'class_data' && (f.load as { v?: number }).v === 78,
      'the write of the other process',
    );
    // inproc runs a TypeScript class Work too: another analysis, another classData
    const ts = await TestClient.connect(wsUrlOf(ctx.server, 'inproc'));
    ts.client.send('shared', [79]);
    await ts.client.waitFor(
      (f) => f.signal === 'class_data' && (f.load as { v?: number }).v === 79,
      'its own write on the TypeScript page',
    );
    const seen = ts.client.frames.filter((f) => f.signal === 'class_data').map((f) => f.load);
    assert.deepEqual(seen, [{ v: 79 }], 'the TypeScript page has none of the Python writes');
    const c = await TestClient.connect(wsUrlOf(ctx.server, 'py'));
    assert.deepEqual(
      (await c.client.next('class_data')).load,
      { w: 77, v: 78 },
      "a new Python page gets its own analysis's class_data only",
    );
    for (const p of [a, b, ts, c]) p.client.close();
  });

  test('a class_data change reaches every page of every process (one frame for the pages of a process)', async () => {
    await until(() => ctx.server.sessions.size === 0, 'earlier sessions are released');
    const pages = [];
    for (let i = 0; i < 5; i++) pages.push(await TestClient.connect(wsUrlOf(ctx.server, 'py')));
    const pids = new Set<unknown>();
    for (const page of pages) {
      page.client.send('thread');
      pids.add((await page.client.next('thread')).load);
    }
    assert.equal(pids.size, 2, 'the five pages share the two processes');
    pages[0]!.client.send('class_state', [91]);
    for (const page of pages) {
      await page.client.waitFor(
        (f) => f.signal === 'class_data' && (f.load as { w?: number }).w === 91,
        'the class_data change',
      );
    }
    for (const page of pages) page.client.close();
  });

  test(
    'fig_to_src: a matplotlib figure becomes a PNG data URI (and an SVG one)',
    { skip: matplotlibSkip },
    async () => {
      assertPython(true);
      const { client } = await TestClient.connect(wsUrlOf(ctx.server, 'py'));
      client.send('fig');
      const png = String((await client.next('fig', 20_000)).load);
      assert.match(png, /^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
      const bytes = Buffer.from(png.slice(png.indexOf(',') + 1), 'base64');
      assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      assert.equal(bytes.subarray(12, 16).toString('latin1'), 'IHDR');
      client.send('fig', ['svg']);
      const svg = String((await client.next('fig', 20_000)).load);
      assert.match(decodeURIComponent(svg), /^data:image\/svg\+xml;charset=utf-8,[^]*<svg/);
      client.close();
    },
  );

  test('a process killed from outside is survived the same way, and takes its children with it', async () => {
    const a = await TestClient.connect(wsUrlOf(ctx.server, 'py'));
    a.client.send('thread');
    const pid = (await a.client.next('thread')).load as number;
    a.client.send('spawn');
    const child = (await a.client.next('spawned')).load as number;
    assert.equal(gone(child), false);
    process.kill(pid, 'SIGKILL');
    assert.match(String((await a.client.next('error')).load), /kernel stopped.*SIGKILL/);
    assert.equal((await a.client.closed()).code, 1011);
    await until(() => gone(child), 'the process the analysis started has ended');
    const b = await TestClient.connect(wsUrlOf(ctx.server, 'py'));
    b.client.send('echo', [1]);
    assert.equal((await b.client.next('echo')).load, 1);
    b.client.close();
  });

  test('a syntax error in analysis.py is a load error with file and line', () => {
    const entry = ctx.server.app.entries.get('broken_py')!;
    assert.equal(entry.kernel, undefined);
    assert.match(entry.error ?? '', /broken_py\/analysis\.py:6: SyntaxError: .*\n\s+y = \)/);
  });
});

test(
  'a kernel caches the bytecode of the package’s modules, and writes none beside analysis.py',
  { skip: pythonSkip },
  async () => {
    assertPython();
    const dir = await mkdtemp(join(tmpdir(), 'databench-pycache-'));
    const saved = process.env['PYTHONDONTWRITEBYTECODE'];
    // as on a machine whose environment does not turn bytecode off
    delete process.env['PYTHONDONTWRITEBYTECODE'];
    try {
      await writeFile(join(dir, 'helper.py'), 'VALUE = 1\n');
      await writeFile(
        join(dir, 'analysis.py'),
        'import databench\nimport helper\n\nclass A(databench.Analysis):\n    pass\n',
      );
      const kernel = await PythonKernel.create({
        name: 'pycache',
        file: join(dir, 'analysis.py'),
        routes: [],
        cliArgs: [],
        logger: createMemoryLogger(),
      });
      await kernel.dispose();
      assert.equal(
        existsSync(join(dir, '__pycache__')),
        false,
        'no __pycache__ beside analysis.py',
      );
      const cached = await readdir(join(PYTHON_PACKAGE_DIR, 'databench', '__pycache__'));
      assert.ok(
        cached.some((f) => f.startsWith('kernel.')),
        `the package's modules are cached: ${cached.join(', ')}`,
      );
    } finally {
      if (saved !== undefined) process.env['PYTHONDONTWRITEBYTECODE'] = saved;
      await rm(dir, { recursive: true, force: true });
    }
  },
);

describe('Python kernel: the seed’s example and load errors', { skip: pythonSkip }, () => {
  const ctx = pythonServer(FIXTURES + 'python');

  test('the seed’s Pi example runs as written', async () => {
    const { client } = await TestClient.connect(wsUrlOf(ctx.server, 'pi'));
    assert.deepEqual((await client.next('data')).load, { samples: 10000 });
    client.send('run', { __process_id: 1 });
    await client.waitFor(
      (f) => f.signal === '__process' && (f.load as { status: string }).status === 'end',
      'the end of the run',
      20_000,
    );
    const estimates = client.frames
      .filter((f) => f.signal === 'data' && 'pi' in (f.load as object))
      .map((f) => (f.load as { pi: { estimate: number } }).pi.estimate);
    assert.ok(estimates.length >= 2, `the estimate streams: ${estimates.length} frames`);
    assert.ok(Math.abs(estimates.at(-1)! - Math.PI) < 0.2, `π ≈ ${estimates.at(-1)}`);
    client.send('run', { samples: 2000, __process_id: 2 });
    await client.waitFor(
      (f) => f.signal === '__process' && (f.load as { id: number; status: string }).id === 2,
      'the start of the second run',
    );
    await client.waitFor(
      (f) =>
        f.signal === '__process' &&
        (f.load as { id: number; status: string }).id === 2 &&
        (f.load as { status: string }).status === 'end',
      'the end of the second run (samples as a keyword)',
      20_000,
    );
    client.close();
  });

  test('an import error is a load error with the file and line of the import', () => {
    const entry = ctx.server.app.entries.get('import_error')!;
    assert.equal(entry.kernel, undefined);
    assert.match(
      entry.error ?? '',
      /import_error\/analysis\.py:2: ImportError: cannot import name 'missing_name'/,
    );
  });

  test('a module without an Analysis subclass says so', () => {
    assert.match(
      ctx.server.app.entries.get('no_subclass')!.error ?? '',
      /no_subclass\/analysis\.py defines no databench\.Analysis subclass/,
    );
  });

  test('a missing interpreter says which one and what to do', () => {
    assert.match(
      ctx.server.app.entries.get('no_python')!.error ?? '',
      /no Python interpreter "\/nonexistent\/bin\/python3": install python3/,
    );
  });

  test('the page of an analysis that failed to load shows why', async () => {
    const res = await fetch(`${ctx.server.url}/import_error/`);
    assert.equal(res.status, 500);
    assert.match(
      await res.text(),
      /analysis\.py:2: ImportError: cannot import name &#39;missing_name&#39;|analysis\.py:2: ImportError: cannot import name 'missing_name'/,
    );
  });
});

describe('Python kernel: reload and shutdown', { skip: pythonSkip }, () => {
  const dir = join(ROOT, 'test-artifacts', 'python-reload');
  let server: DatabenchServer;
  const logger = createMemoryLogger();
  before(async () => {
    assertPython();
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await cp(join(FIXTURES, 'kernels', 'py'), join(dir, 'py'), { recursive: true });
    await writeFile(join(dir, 'py', 'helper.py'), "PREFIX = 'v1'\n");
    const file = join(dir, 'py', 'analysis.py');
    const source = await readFile(file, 'utf8');
    await writeFile(
      file,
      source
        .replace('import databench\n', 'import databench\nfrom helper import PREFIX\n')
        .replace("self.emit('echo', x)", "self.emit('echo', [PREFIX, x])"),
    );
    await writeFile(join(dir, 'index.yaml'), 'analyses:\n  - name: py\n    kernel: py\n');
    server = await createServer({ port: 0, analyses: dir, logger, watch: true });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('saving a module beside analysis.py reloads: pages close with 1012, new sessions run the new code, old processes end', async () => {
    const old = kernel(server);
    const oldPids = old.pids;
    const a = await TestClient.connect(wsUrlOf(server, 'py'));
    a.client.send('echo', ['x']);
    assert.deepEqual((await a.client.next('echo')).load, ['v1', 'x']);
    await writeFile(join(dir, 'py', 'helper.py'), "PREFIX = 'v2'\n");
    assert.equal((await a.client.closed(10_000)).code, 1012);
    await until(() => kernel(server) !== old, 'the analysis has reloaded', 10_000);
    const b = await TestClient.connect(wsUrlOf(server, 'py'));
    b.client.send('echo', ['x']);
    assert.deepEqual((await b.client.next('echo')).load, ['v2', 'x']);
    await until(() => old.processes === 0 && oldPids.every(gone), 'the old processes have ended');
    b.client.close();
  });

  test('a syntax error on save keeps the last good version serving', async () => {
    const good = kernel(server);
    const file = join(dir, 'py', 'analysis.py');
    const source = await readFile(file, 'utf8');
    await writeFile(file, source + '\n    def broken(self:\n');
    await until(() => server.app.entries.get('py')!.stale, 'the failed reload', 10_000);
    assert.match(server.app.entries.get('py')!.error ?? '', /py\/analysis\.py:\d+: SyntaxError/);
    assert.equal(kernel(server), good);
    const c = await TestClient.connect(wsUrlOf(server, 'py'));
    c.client.send('echo', ['still']);
    assert.deepEqual((await c.client.next('echo')).load, ['v2', 'still']);
    c.client.close();
    await writeFile(file, source);
    await until(() => !server.app.entries.get('py')!.stale, 'the fixed reload', 10_000);
  });

  test('shutdown runs disconnected in Python and ends every process and what it started', async () => {
    const a = await TestClient.connect(wsUrlOf(server, 'py'));
    a.client.send('spawn');
    const child = (await a.client.next('spawned')).load as number;
    const k = kernel(server);
    const pids = k.pids;
    assert.ok(pids.length >= 1);
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 6000);
    assert.equal(k.processes, 0);
    assert.ok(pids.every(gone), 'the kernel processes have ended');
    await until(() => gone(child), 'the process the analysis started has ended');
    assert.ok(
      logger.lines.some(([, line]) => line.includes(`disconnected ${a.id.slice(0, 8)}`)),
      'disconnected ran in Python',
    );
    assert.equal((await a.client.closed()).code, 1001);
  });
});

describe('the packaged dummypi_py', { skip: pythonSkip }, () => {
  const ctx = pythonServer(join(ROOT, 'analyses'));

  test('streams its estimate of π (and a plot with matplotlib) to the same page as dummypi', async () => {
    const { client } = await TestClient.connect(wsUrlOf(ctx.server, 'dummypi_py'));
    assert.deepEqual((await client.next('data')).load, { samples: 20000 });
    client.send('samples', [5000]);
    client.send('run', { __process_id: 1 });
    await client.waitFor(
      (f) => f.signal === '__process' && (f.load as { status: string }).status === 'end',
      'the end of the run',
      30_000,
    );
    const pi = client.frames.filter((f) => f.signal === 'data' && 'pi' in (f.load as object));
    assert.ok(pi.length >= 5, `${pi.length} estimates`);
    const last = pi.at(-1)!.load as { pi: { estimate: number } };
    assert.ok(Math.abs(last.pi.estimate - Math.PI) < 0.2);
    const plot = client.frames.find((f) => f.signal === 'data' && 'plot' in (f.load as object));
    if (hasMatplotlib)
      assert.match((plot?.load as { plot: string }).plot, /^data:image\/png;base64,/);
    client.close();
  });
});
