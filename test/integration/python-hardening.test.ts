// What a Python analysis, and a page of one, can make the server do, against
// a real server and real python3 kernels: large values and long lines on the
// kernel's channel, floods of log lines, cancel frames, an analysis that
// blocks at import or closes its own channel, a server that dies.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { databench, FIXTURES, serving, TestClient, until, wsUrlOf } from '../helpers.ts';
import { assertPython, PYTHON, pythonSkip } from '../python.ts';

const ANALYSES = FIXTURES + 'python-hardening';

describe('a Python analysis on the kernel channel', { skip: pythonSkip }, () => {
  const logger = createMemoryLogger();
  let server: DatabenchServer;
  before(async () => {
    assertPython();
    server = await createServer({ port: 0, analyses: ANALYSES, logger });
  });
  after(() => server.close());

  test('a 16 MB value crosses to its page in linear time', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'big_py'));
    try {
      client.send('send', [16_000_000]);
      // the reader that joined every chunk to what came before took 20 to 40 s
      const frame = await client.waitFor(
        (f) => f.signal === 'data',
        'the 16 MB data frame',
        15_000,
      );
      const load = frame.load as { big: string };
      assert.equal(load.big.length, 16_000_000);
      // other pages were served meanwhile, and still are
      const { client: echo } = await TestClient.connect(wsUrlOf(server, 'echo'));
      echo.send('ping', [1]);
      assert.equal((await echo.next('pong')).load, 1);
      echo.close();
    } finally {
      client.close();
    }
  });

  test('a value larger than a page can receive fails its call, naming the key and the bound', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'big_py'));
    try {
      client.send('send', [64 << 20]);
      const error = await client.waitFor((f) => f.signal === 'error', 'an error frame', 20_000);
      assert.match(String(error.load), /key "big"/);
      assert.match(String(error.load), /67108864 bytes a page can receive/);
      client.send('emit_big', [64 << 20]);
      const second = await client.waitFor(
        (f) => f.signal === 'error' && f !== error,
        'a second error frame',
        20_000,
      );
      assert.match(String(second.load), /signal "big"/);
      // the kernel goes on: the page's next action is answered
      client.send('marker', [7]);
      assert.equal((await client.next('marker')).load, 7);
      assert.equal(
        client.frames.some((f) => f.signal === 'data'),
        false,
      );
    } finally {
      client.close();
    }
  });

  test('one long print() without a newline is one cut log line', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'big_py'));
    try {
      client.send('blurt', [8_000_000]);
      client.send('marker', [1]);
      await client.next('marker');
      await until(
        () => logger.lines.some(([, line]) => line.startsWith('[big_py] yyyy')),
        'the print() in the log',
        10_000,
      );
      const line = logger.lines.find(([, l]) => l.startsWith('[big_py] yyyy'))![1];
      assert.ok(line.length < 1200, `a log line of ${line.length} characters`);
      assert.match(line, /more/);
    } finally {
      client.close();
    }
  });
});

describe('__cancel frames to a Python analysis', { skip: pythonSkip }, () => {
  let server: DatabenchServer;
  before(async () => {
    assertPython();
    // small bounds, so that a few hundred frames reach them
    server = await createServer({
      port: 0,
      analyses: ANALYSES,
      logger: createMemoryLogger(),
      pauseQueuedBytes: 64 << 10,
      maxQueuedBytes: 64 << 10,
    });
  });
  after(() => server.close());

  test('a cancel naming more than an id or an action name is refused; the page lives', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'big_py'));
    try {
      client.send('__cancel', { id: 'x'.repeat(1_000_000) });
      const error = await client.next('error');
      assert.match(String(error.load), /at most 256 characters, got 1000000/);
      client.send('__cancel', { action: 'y'.repeat(257) });
      assert.match(String((await client.next('error')).load), /got 257/);
      client.send('marker', [5]);
      assert.equal((await client.next('marker')).load, 5);
    } finally {
      client.close();
    }
  });

  test('a cancel while nothing runs is dropped and counts nothing', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'big_py'));
    try {
      for (let i = 0; i < 400; i++) client.send('__cancel', { id: `${i}`.padEnd(200, '.') });
      client.send('marker', [6]);
      assert.equal((await client.next('marker')).load, 6);
      assert.equal(client.closeCode, undefined);
    } finally {
      client.close();
    }
  });

  test("cancel frames count against the page's input bounds while a handler runs", async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'big_py'));
    try {
      client.send('busy', [5]);
      // 400 cancels of ~250 bytes: 100 KB, past the 64 KiB bound
      for (let i = 0; i < 400; i++) client.send('__cancel', { id: `${i}`.padEnd(200, '.') });
      const closed = await client.closed(15_000);
      assert.equal(closed.code, 1008);
      assert.match(closed.reason, /more than 65536 bytes of actions queued/);
    } finally {
      client.close();
    }
  });
});

describe('a Python analysis that closes its own channel', { skip: pythonSkip }, () => {
  let server: DatabenchServer;
  before(async () => {
    assertPython();
    server = await createServer({ port: 0, analyses: ANALYSES, logger: createMemoryLogger() });
  });
  after(() => server.close());

  test('ends its pages with an error and a close they reconnect from, at once; a new page gets a new process', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'big_py'));
    client.send('pid');
    const pid = (await client.next('pid')).load as number;
    client.send('close_channel');
    const error = await client.next('error');
    assert.match(String(error.load), /closed its channel/);
    assert.equal((await client.closed()).code, 1011);
    await until(() => gone(pid), 'the process has ended', 5000);
    const next = await TestClient.connect(wsUrlOf(server, 'big_py'));
    next.client.send('pid');
    assert.notEqual((await next.client.next('pid')).load, pid);
    next.client.close();
  });
});

/** Every line the log got (a call with newlines is several lines), and the lines that start with `prefix`. */
function logLines(logger: ReturnType<typeof createMemoryLogger>): string[] {
  return logger.lines.flatMap(([, text]) => text.split('\n'));
}

const FORGED = '2099-01-01T00:00:00.000Z ERROR [databench] forged';

describe('the log lines a Python analysis and its pages cause', { skip: pythonSkip }, () => {
  const logger = createMemoryLogger();
  let server: DatabenchServer;
  before(async () => {
    assertPython();
    server = await createServer({ port: 0, analyses: ANALYSES, logger });
  });
  after(() => server.close());

  test("a page's log, warn and error actions: escaped, cut at 1000 characters, rate limited per page", async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'big_py'));
    const load = [`hello\n${FORGED} ${'A'.repeat(100_000)}`];
    for (let i = 0; i < 200; i++)
      client.send(i % 3 === 0 ? 'log' : i % 3 === 1 ? 'warn' : 'error', load);
    client.send('marker', [1]);
    await client.next('marker');
    client.close();
    const kept = (): Array<[string, string]> =>
      logger.lines.filter(([, t]) => t.includes('hello\\n2099-'));
    const dropped = (): number =>
      logger.lines
        .map(([, t]) => /(\d+) log line\(s\) from this page dropped/.exec(t)?.[1])
        .filter((n) => n !== undefined)
        .reduce((sum, n) => sum + Number(n), 0);
    // the count of what was dropped comes with the session's end at the latest
    await until(
      () => kept().length + dropped() === 200,
      'every line is logged or counted as dropped',
      10_000,
    );
    const lines = logLines(logger);
    assert.equal(lines.filter((l) => l.startsWith('2099-')).length, 0, 'no forged line');
    assert.ok(kept().length >= 20 && kept().length < 40, `${kept().length} lines of 200 kept`);
    for (const [, text] of kept()) {
      assert.ok(text.length < 1200, `a line of ${text.length} characters`);
      assert.match(text, /… \(\d+ more chars\)$/);
    }
  });

  test('print(), stderr and logging lines of a Python analysis: escaped, cut, rate limited per analysis', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'big_py'));
    const before = logger.lines.length;
    const start = performance.now();
    // 400 × (2 printed lines, 2 on stderr, one record): 2000 lines
    client.send('lines', [400, `x\x1b[31m\n${FORGED} ${'B'.repeat(5000)}`]);
    client.send('marker', [2]);
    await client.next('marker');
    const mine = (): Array<[string, string]> =>
      logger.lines.slice(before).filter(([, t]) => t.startsWith('[big_py] '));
    const reports = (): string[] =>
      mine()
        .map(([, t]) => t)
        .filter((t) => /^\[big_py\] \d+ line\(s\) of output dropped/.test(t));
    const dropped = (): number =>
      reports().reduce((sum, t) => sum + Number(/\] (\d+) line/.exec(t)![1]), 0);
    const kept = (): Array<[string, string]> =>
      mine().filter(([, t]) => !/^\[big_py\] \d+ line\(s\) of output dropped/.test(t));
    // the count of what was dropped comes once the analysis is quiet
    await until(
      () => kept().length + dropped() === 2000,
      'every output line is logged or counted as dropped',
      20_000,
    );
    const elapsedS = (performance.now() - start) / 1000;
    client.close();
    const limit = /rate limit: (\d+) at once, then (\d+) a second per analysis/.exec(reports()[0]!);
    assert.ok(limit, reports()[0]);
    const [burst, perSecond] = [Number(limit[1]), Number(limit[2])];
    // at most the burst (the bucket is the analysis's: earlier lines took from it too),
    // then the rate over the time it took
    assert.ok(kept().length > 0, 'lines pass until the bucket is empty');
    assert.ok(
      kept().length <= burst + perSecond * elapsedS + 1,
      `${kept().length} lines kept in ${elapsedS.toFixed(2)} s: at most ${burst} + ${perSecond}/s`,
    );
    for (const [, text] of mine()) {
      assert.ok(text.length < 1300, `a line of ${text.length} characters`);
      assert.ok(!text.includes('\x1b'), 'a control character is escaped');
      for (const line of text.split('\n').slice(1)) assert.match(line, /^ {4}/);
    }
    assert.ok(
      mine().some(([, t]) => t.includes('x\\x1b[31m')),
      'an escaped control character',
    );
    assert.equal(logLines(logger).filter((l) => l.startsWith('2099-')).length, 0, 'no forged line');
  });
});

/** Kernel processes of analysis folder `dir` that are still running (not zombies). */
function kernelsOf(dir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      if (
        cmdline.includes('databench.kernel') &&
        cmdline.includes(dir) &&
        !/^State:\s+Z/m.test(status)
      ) {
        pids.push(Number(name));
      }
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Resolves once `url` answers an HTTP GET (the server listens), polling; fails after `timeoutMs`. */
async function answers(url: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      await (await fetch(url)).text();
      return;
    } catch (error) {
      if (Date.now() > end)
        throw new Error(`${url} did not answer within ${timeoutMs} ms`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('an analysis.py that waits at import', { skip: pythonSkip }, () => {
  const dir = FIXTURES + 'python-stuck';
  test(
    'the server listens and serves the others; past load_timeout it is a load error and its process ends',
    { timeout: 60_000 },
    async () => {
      assertPython();
      const logger = createMemoryLogger();
      const port = await freePort();
      let started = false;
      const starting = createServer({ port, analyses: dir, logger }).then((s) => {
        started = true;
        return s;
      });
      let server: DatabenchServer | undefined;
      try {
        const base = `http://127.0.0.1:${port}`;
        // the index answers while stuck_py loads
        await answers(`${base}/`, 10_000);
        assert.equal(started, false, 'answered while stuck_py still loads');
        // another analysis's page works meanwhile
        const { client } = await TestClient.connect(`ws://127.0.0.1:${port}/echo/ws`);
        client.send('ping', [3]);
        assert.equal((await client.next('pong')).load, 3);
        client.close();
        assert.equal(started, false, 'served while stuck_py still loads');
        // the server listens while the kernel starts: its process may come a moment later
        await until(
          () => kernelsOf(dir + '/stuck_py').length === 1,
          'its process is loading',
          10_000,
        );
        // a page of stuck_py waits for its load, then is refused with the load error
        const refused = TestClient.open(`ws://127.0.0.1:${port}/stuck_py/ws`).then(
          () => 'accepted',
          (error: Error) => error.message,
        );
        server = await starting;
        assert.match(await refused, /503/);
        const entry = server.app.entries.get('stuck_py')!;
        assert.equal(entry.kernel, undefined);
        assert.match(entry.error ?? '', /did not load within 3 s/);
        assert.match(entry.error ?? '', /load_timeout/);
        const page = await fetch(`${base}/stuck_py/`);
        assert.equal(page.status, 500);
        assert.match(await page.text(), /did not load within 3 s/);
        await until(() => kernelsOf(dir + '/stuck_py').length === 0, 'its process has ended', 5000);
      } finally {
        server ??= await starting;
        await server.close();
      }
    },
  );
});

describe('a server stopped while an analysis.py waits at import', { skip: pythonSkip }, () => {
  test('leaves no Python process behind', async () => {
    assertPython();
    const dir = FIXTURES + 'python-stuck';
    const port = await freePort();
    const run = databench(['--port', String(port), '--no-watch', '--analyses', dir], {
      env: { DATABENCH_PYTHON: PYTHON },
    });
    try {
      await answers(`http://127.0.0.1:${port}/`, 20_000);
      // the server listens while the kernel starts: its process may come a moment later
      await until(
        () => kernelsOf(dir + '/stuck_py').length === 1,
        'its process is loading',
        10_000,
      );
      run.child.kill('SIGINT');
      await run.exited;
      await until(() => kernelsOf(dir + '/stuck_py').length === 0, 'no process is left', 5000);
    } finally {
      run.child.kill('SIGKILL');
      for (const pid of kernelsOf(dir + '/stuck_py')) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('a Python kernel whose server dies', { skip: pythonSkip }, () => {
  test('ends at once with what it started, even while a handler runs (it does not read its channel then)', async () => {
    assertPython();
    const run = databench(['--port', '0', '--no-watch', '--analyses', ANALYSES], {
      env: { DATABENCH_PYTHON: PYTHON },
    });
    let pid: number | undefined;
    let child: number | undefined;
    try {
      const url = (await serving(run)).replace('http', 'ws');
      const { client } = await TestClient.connect(`${url}/big_py/ws`);
      client.send('pid');
      pid = (await client.next('pid')).load as number;
      client.send('child');
      child = (await client.next('child')).load as number;
      client.send('busy', [60]);
      assert.equal(gone(pid), false);
      run.child.kill('SIGKILL');
      await run.exited;
      await until(() => gone(pid!), 'the kernel process has ended', 5000);
      await until(() => gone(child!), 'the process the analysis started has ended', 5000);
    } finally {
      run.child.kill('SIGKILL');
      for (const p of [pid, child]) if (p !== undefined && !gone(p)) process.kill(p, 'SIGKILL');
    }
  });
});

/** A process is gone (or a zombie: it runs nothing any more). */
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
