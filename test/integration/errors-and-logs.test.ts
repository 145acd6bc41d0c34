// Reporting an error never crashes the process or skips cleanup
// (against the real CLI), and what pages cause in the log is escaped,
// bounded and rate limited, with no whole analysis id in any line.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import type { Logger, LogLevel } from '../../src/util/logger.ts';
import { databench, FIXTURES, printed, serving, TestClient } from '../helpers.ts';

/** A memory logger whose lines a test can await. */
function waitableLogger(): Logger & {
  lines: Array<[LogLevel, string]>;
  waitFor(test: RegExp, timeoutMs?: number): Promise<string>;
} {
  const lines: Array<[LogLevel, string]> = [];
  let waiters: Array<{ test: RegExp; resolve: (line: string) => void }> = [];
  const add = (level: LogLevel) => (line: string) => {
    lines.push([level, line]);
    waiters = waiters.filter((w) => (w.test.test(line) ? (w.resolve(line), false) : true));
  };
  return {
    lines,
    debug: add('debug'),
    info: add('info'),
    warn: add('warn'),
    error: add('error'),
    waitFor(test, timeoutMs = 5000) {
      const seen = lines.find(([, line]) => test.test(line));
      if (seen) return Promise.resolve(seen[1]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no log line matching ${test} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          test,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      });
    },
  };
}

describe('a thrown value without a prototype, in the real CLI', () => {
  test('from a timer and from on_disconnected: the process lives on and cleanup runs', async () => {
    const run = databench(['--port', '0', '--no-watch', '--analyses', join(FIXTURES, 'hardening')]);
    let exit: number | null | undefined;
    void run.exited.then((code) => (exit = code));
    try {
      const url = (await serving(run)).replace('http', 'ws') + '/crashy/ws';
      const first = await TestClient.connect(url);
      assert.equal((await first.client.next('resumed')).load, false);
      first.client.send('throw_in_timer');
      assert.match(
        String((await first.client.next('error')).load),
        /timer failed: \[object with a null prototype\]/,
      );
      first.client.send('echo', ['alive']);
      assert.equal((await first.client.next('echo')).load, 'alive');

      first.client.close();
      await printed(run, 'stderr', /disconnected" failed: \[object with a null prototype\]/);
      // cleanup ran: the released store is gone, so resuming the id finds nothing
      const again = await TestClient.connect(url, { id: first.id });
      assert.equal((await again.client.next('resumed')).load, false);
      again.client.close();
      assert.equal(exit, undefined, `databench exited: ${run.stderr}`);
      assert.doesNotMatch(run.stderr, /uncaught|TypeError/i);
    } finally {
      run.child.kill('SIGTERM');
    }
  });
});

describe('log lines that pages cause', () => {
  let server: DatabenchServer;
  let logger: ReturnType<typeof waitableLogger>;
  let wsUrl: string;
  before(async () => {
    logger = waitableLogger();
    server = await createServer({ port: 0, analyses: FIXTURES + 'hardening', logger });
    wsUrl = server.url.replace('http', 'ws') + '/echo/ws';
  });
  after(() => server.close());

  test('are escaped, cut at 1000 characters, and never hold a whole analysis id', async () => {
    const { client, id } = await TestClient.connect(wsUrl);
    client.send('log', ['a\nINFO [databench] forged\r\x1b[2J', id]);
    client.send('warn', ['x'.repeat(20_000)]);
    client.send('error', [{ toString: 1 }]);
    client.send('echo', [1]);
    await client.next('echo');
    const line = await logger.waitFor(/forged/);
    assert.ok(!line.includes('\n') && !line.includes('\r') && !line.includes('\x1b'), line);
    assert.match(line, /a\\nINFO \[databench\] forged\\r\\x1b\[2J/);
    assert.ok(line.includes(id.slice(0, 8)));
    const long = await logger.waitFor(/x{1000}/);
    assert.match(long, /x{1000}… \(19000 more chars\)$/);
    assert.ok(long.length < 1100);
    // an object is logged readably (util.inspect), whatever its toString
    await logger.waitFor(/\{ toString: 1 \}/);
    client.send('no_such_action', 1);
    await client.next('warn');
    client.close();
    for (const [, l] of logger.lines) assert.ok(!l.includes(id), `a whole id in: ${l}`);
  });

  test('are rate limited per page, and what was dropped is counted', async () => {
    const { client, id } = await TestClient.connect(wsUrl);
    const other = await TestClient.connect(wsUrl);
    const prefix = `[frontend ${id.slice(0, 8)}]`;
    for (let i = 0; i < 100; i++) client.send('log', [`flood ${i}`]);
    client.send('echo', [1]);
    await client.next('echo');
    const flood = logger.lines.filter(([, l]) => l.startsWith(prefix) && l.includes('flood'));
    assert.ok(flood.length >= 20 && flood.length < 30, `${flood.length} lines of 100 logged`);
    // another page has its own budget
    other.client.send('log', ['from the other page']);
    await logger.waitFor(/from the other page/);
    client.close();
    const dropped = await logger.waitFor(/log line\(s\) from this page dropped/);
    assert.ok(dropped.startsWith(prefix), dropped);
    assert.equal(Number(/(\d+) log line/.exec(dropped)?.[1]) + flood.length, 100);
    other.client.close();
  });
});
