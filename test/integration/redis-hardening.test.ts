// Redis under stress: ids a client picks, a flushed Redis, a page that
// connects while Redis is away, a Redis that refuses the start, and what
// Redis hands back (stored values, pub/sub messages). Real redis-servers
// (persistence off), real servers (two on one Redis stand for two
// processes: each has its own backend), real sockets, the real CLI.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import {
  createRedisBackend,
  type RedisBackend,
  type RedisBackendOptions,
} from '../../src/datastore/backends/redis.ts';
import { databench, FIXTURES, TestClient, type CliRun, type Frame } from '../helpers.ts';
import { freePort, REDIS_SERVER, redisSkip, startRedis, type RedisServer } from '../redis.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const SCALE = join(FIXTURES, 'scale');

function ws(url: string): string {
  return url.replace('http', 'ws') + '/shared/ws';
}

interface Report {
  pid: number;
  classData: Record<string, unknown>;
  data: Record<string, unknown>;
}

/** Ask the page's server for its mirror (after its writes and the changes before now are in). */
async function report(client: TestClient, timeoutMs = 20_000): Promise<Report> {
  const from = client.frames.length;
  client.send('report');
  const frame = await client.waitFor((f) => f.signal === 'report', 'a report', timeoutMs, from);
  return frame.load as Report;
}

/** A `class_data` (or `data`) frame holding `key` (with `value`, when given). */
function holds(key: string, value?: unknown, signal = 'class_data'): (f: Frame) => boolean {
  return (f) =>
    f.signal === signal &&
    typeof f.load === 'object' &&
    f.load !== null &&
    key in f.load &&
    (value === undefined || (f.load as Record<string, unknown>)[key] === value);
}

type Served = {
  server: DatabenchServer;
  backend: RedisBackend;
  logger: ReturnType<typeof createMemoryLogger>;
  close(): Promise<void>;
};

/** A server on its own Redis backend (a process of its own, as far as Redis can tell). */
async function serve(url: string, options: Partial<RedisBackendOptions> = {}): Promise<Served> {
  const backend = await createRedisBackend({ url, ...options });
  const logger = createMemoryLogger();
  const server = await createServer({
    port: 0,
    analyses: SCALE,
    logger,
    datastore: backend,
    watch: false,
  });
  return {
    server,
    backend,
    logger,
    async close() {
      await server.close();
      await backend.dispose();
    },
  };
}

/** Waits until `check()` holds, failing with `what` after `ms` (a liveness cap). */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe(
  'analysis ids on Redis: only issued ones resume, one page per session',
  { skip: redisSkip },
  () => {
    let redis: RedisServer;
    let a: Served;
    let b: Served;
    const pages: TestClient[] = [];
    const page = async (server: Served, id?: string) => {
      const c = await TestClient.connect(ws(server.server.url), id ? { id } : {});
      pages.push(c.client);
      return c;
    };
    before(async () => {
      redis = await startRedis();
      [a, b] = await Promise.all([serve(redis.url), serve(redis.url)]);
    });
    after(async () => {
      for (const p of pages) p.close();
      await Promise.all([a?.close(), b?.close()]);
      await redis?.stop();
    });

    test('a well-formed id no server issued starts a new session', async () => {
      const chosen = randomUUID();
      const { id } = await page(a, chosen);
      assert.notEqual(id, chosen, 'a client chose its own analysis id');
      const other = await page(b, randomUUID());
      assert.notEqual(other.id, chosen);
    });

    test('an id issued on one server, with nothing written, resumes on the other', async () => {
      const first = await page(a);
      first.client.close();
      await first.client.closed();
      const { id } = await page(b, first.id);
      assert.equal(id, first.id);
    });

    test('resuming on B an id open on A closes the page on A with 4001; B has its data', async () => {
      const onA = await page(a);
      onA.client.send('set_data', { key: 'x', value: 42 });
      await report(onA.client);
      const onB = await page(b, onA.id);
      assert.equal(onB.id, onA.id);
      const closed = await onA.client.closed(10_000);
      assert.equal(closed.code, 4001, `the older page closed with ${closed.code} ${closed.reason}`);
      await onB.client.waitFor(holds('x', 42, 'data'), 'the data snapshot on B');
      // and back again: B's page closes, A's new page resumes
      const again = await page(a, onA.id);
      assert.equal(again.id, onA.id);
      assert.equal((await onB.client.closed(10_000)).code, 4001);
    });
  },
);

describe('a FLUSHALL under two servers', { skip: redisSkip }, () => {
  test("B's pages see A's later writes; a new page on B gets what Redis holds", async () => {
    const redis = await startRedis();
    const inspect = new Redis(redis.url);
    // no periodic check: A's write alone must bring B back
    const [a, b] = await Promise.all([
      serve(redis.url, { checkEveryMs: 600_000 }),
      serve(redis.url, { checkEveryMs: 600_000 }),
    ]);
    const pages: TestClient[] = [];
    try {
      // a long-running deployment: the domain's version is far along
      await inspect.incrby('databench:version:Shared', 100_000);
      const { client: onA } = await TestClient.connect(ws(a.server.url));
      const { client: onB } = await TestClient.connect(ws(b.server.url));
      pages.push(onA, onB);
      onA.send('set_class', { key: 'color', value: 'red' });
      onA.send('set_class', { key: 'n', value: 1 });
      await onB.waitFor(holds('n', 1), 'the writes before the flush on B');
      await inspect.flushall();
      onA.send('set_class', { key: 'n', value: 2 });
      await onB.waitFor(holds('n', 2), "A's write after the flush on B", 10_000);
      await onB.waitFor(holds('color', null), 'the flushed key gone on B', 10_000);
      const { client: later } = await TestClient.connect(ws(b.server.url));
      pages.push(later);
      const snapshot = await later.waitFor((f) => f.signal === 'class_data', 'the snapshot');
      assert.deepEqual(snapshot.load, { n: 2 }, 'a new page on B got what Redis no longer holds');
      assert.ok(
        b.logger.lines.some(([level, line]) => level === 'warn' && /lost "Shared"/.test(line)),
        'no log line about the lost domain',
      );
    } finally {
      for (const p of pages) p.close();
      await Promise.all([a.close(), b.close()]);
      inspect.disconnect();
      await redis.stop();
    }
  });
});

describe('a page that connects while Redis is away', { skip: redisSkip }, () => {
  test('gets its __connect reply before any other frame once Redis is back; recovery completes', async () => {
    const redis = await startRedis();
    const served = await serve(redis.url, { maxRetriesPerRequest: 1000 });
    const { server } = served;
    const pages: TestClient[] = [];
    try {
      const { client: first } = await TestClient.connect(ws(server.url));
      pages.push(first);
      first.send('set_class', { key: 'color', value: 'red' });
      await report(first);
      await redis.stop();
      await first.waitFor((f) => f.signal === 'warn', 'the warn that Redis is away', 10_000);
      // two pages while Redis is away: their stores wait, their attaches overlap the recovery
      const during = [await TestClient.open(ws(server.url)), await TestClient.open(ws(server.url))];
      pages.push(...during);
      for (const p of during) p.sendJson({ __connect: null, __request_args: '' });
      await until(
        () => [...server.sessions].filter((s) => s.id !== undefined).length === 3,
        'the sessions of the two pages',
      );
      // a change of classData while their stores load
      first.send('set_class', { key: 'while_away', value: 1 });
      await first.waitFor(holds('while_away', 1), 'the change on the first page');
      await redis.start();
      await first.waitFor(
        (f) => f.signal === 'log' && /reachable again/.test(String(f.load)),
        'the datastore back on the first page',
        20_000,
      );
      for (const p of during) {
        await p.waitFor((f) => f.signal === '__connect', 'the __connect reply', 20_000);
        assert.equal(
          p.frames[0]!.signal,
          '__connect',
          `a frame before __connect: ${JSON.stringify(p.frames[0])}`,
        );
        await p.waitFor(holds('while_away', 1), 'the change made while its stores loaded');
      }
      // the recovered backend works: a write of a page that connected meanwhile reaches Redis
      during[0]!.send('set_class', { key: 'after', value: 1 });
      await report(during[0]!);
      const inspect = new Redis(redis.url);
      try {
        assert.equal(await inspect.hget('databench:domain:Shared', 'after'), '1');
      } finally {
        inspect.disconnect();
      }
    } finally {
      for (const p of pages) p.close();
      await served.close();
      await redis.stop();
    }
  });
});

describe('a Redis that refuses the start', { skip: redisSkip }, () => {
  const dir = join(ROOT, 'test-artifacts', `redis-worker-${process.pid}`);
  before(async () => {
    // an analysis in a worker thread: its thread must not keep a failed start alive
    await mkdir(join(dir, 'shared'), { recursive: true });
    await writeFile(
      join(dir, 'index.yaml'),
      'analyses:\n  - name: shared\n    kernel: worker\n  - name: inproc\n',
    );
    for (const name of ['shared', 'inproc']) {
      await mkdir(join(dir, name), { recursive: true });
      await copyFile(join(SCALE, 'shared', 'analysis.ts'), join(dir, name, 'analysis.ts'));
      await copyFile(join(SCALE, 'shared', 'index.html'), join(dir, name, 'index.html'));
    }
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The exit code, or a failure when the process is still running after `ms` (then it is killed). */
  async function exitOf(r: CliRun, ms = 60_000): Promise<number | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const code = await Promise.race([
      r.exited,
      new Promise<'running'>((resolve) => (timer = setTimeout(() => resolve('running'), ms))),
    ]);
    clearTimeout(timer);
    if (code === 'running') {
      r.child.kill('SIGKILL');
      assert.fail(`databench still runs ${ms / 1000} s after a failed start: ${r.stderr}`);
    }
    return code;
  }

  for (const workers of [1, 2]) {
    test(`unreachable, with a kernel: worker analysis${workers > 1 ? ', --workers 2' : ''}: one line, exit 1`, async () => {
      const port = await freePort();
      const r = databench([
        '--port',
        '0',
        '--analyses',
        dir,
        '--no-watch',
        ...(workers > 1 ? ['--workers', String(workers)] : []),
        '--datastore',
        `redis://127.0.0.1:${port}/0`,
      ]);
      assert.equal(await exitOf(r), 1);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(
        lines[0]!,
        new RegExp(`cannot reach Redis at redis://127\\.0\\.0\\.1:${port}/0: connect ECONNREFUSED`),
      );
    });
  }

  test('a password Redis refuses, or none where it wants one: says so, exit 1', async () => {
    const { spawn } = await import('node:child_process');
    const port = await freePort();
    const child = spawn(
      REDIS_SERVER,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--requirepass',
        'right',
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += String(d);
          if (out.includes('Ready to accept connections')) resolve();
        });
        child.once('exit', () => reject(new Error(`redis-server exited: ${out}`)));
      });
      const cases: Array<[string, RegExp]> = [
        [
          `redis://:wrong@127.0.0.1:${port}/0`,
          new RegExp(
            `Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}/0 refused the password \\(WRONGPASS`,
          ),
        ],
        [`redis://127.0.0.1:${port}/0`, /asks for a password: give it in the URL/],
      ];
      for (const [url, expected] of cases) {
        for (const extra of [[], ['--workers', '2']]) {
          const r = databench([
            '--port',
            '0',
            '--analyses',
            dir,
            '--no-watch',
            ...extra,
            '--datastore',
            url,
          ]);
          assert.equal(await exitOf(r), 1, r.stderr);
          const lines = r.stderr.trim().split('\n');
          assert.equal(lines.length, 1, r.stderr);
          assert.match(lines[0]!, expected);
          assert.doesNotMatch(r.stderr, /wrong|Connection is closed/);
        }
      }
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('what Redis hands back reaches no page unchecked', { skip: redisSkip }, () => {
  let redis: RedisServer;
  let inspect: Redis;
  let served: Served;
  before(async () => {
    redis = await startRedis();
    inspect = new Redis(redis.url);
    await inspect.hset('databench:domain:Shared', {
      evil: '1},"signal":"evil","load":{"a":1',
      good: '"kept"',
    });
    served = await serve(redis.url);
  });
  after(async () => {
    await served?.close();
    inspect?.disconnect();
    await redis?.stop();
  });

  test('a stored value that is not one JSON value is left out with a log line, never a frame', async () => {
    const { client } = await TestClient.connect(ws(served.server.url));
    const snapshot = await client.waitFor((f) => f.signal === 'class_data', 'the snapshot');
    assert.deepEqual(snapshot.load, { good: 'kept' });
    const r = await report(client);
    assert.deepEqual(r.classData, { good: 'kept' });
    assert.ok(!client.frames.some((f) => f.signal === 'evil'), 'a stored value injected a frame');
    assert.ok(
      served.logger.lines.some(
        ([level, line]) => level === 'warn' && /dropped datastore data of "Shared"/.test(line),
      ),
      'no log line',
    );
    client.close();
  });

  test('a forged change message with a huge count is dropped at once with a log line; the page stays served', async () => {
    const { client } = await TestClient.connect(ws(served.server.url));
    const before = served.logger.lines.length;
    // 19 bytes whose one entry leads a naive parser back to itself, 9999999 times
    await inspect.publish('databench:changes:Shared', 'o 1 9999999\ns -8 0 ');
    await until(
      () =>
        served.logger.lines
          .slice(before)
          .some(([, line]) =>
            /dropped datastore data of "Shared": a change message with a count/.test(line),
          ),
      'the log line',
      4000,
    );
    // the server answers at once (a liveness cap: a naive parse takes seconds)
    const t0 = performance.now();
    await report(client, 4000);
    assert.ok(performance.now() - t0 < 4000);
    client.close();
  });
});
