// Scale-out on Redis: real `databench` processes sharing one real
// redis-server, real WebSocket pages on each.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { databench, FIXTURES, serving, TestClient, type CliRun, type Frame } from '../helpers.ts';
import { freePort, redisSkip, startRedis, type RedisServer } from '../redis.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const SCALE = join(FIXTURES, 'scale');

async function stop(run: CliRun): Promise<void> {
  if (run.child.exitCode !== null || run.child.signalCode !== null) return;
  run.child.kill('SIGTERM');
  await run.exited;
}

function ws(url: string): string {
  return url.replace('http', 'ws') + '/shared/ws';
}

/** The last `class_data` (or `data`) value of `key` a page received. */
function last(client: TestClient, signal: 'class_data' | 'data', key: string): unknown {
  let value: unknown;
  for (const f of client.frames) {
    if (f.signal === signal && typeof f.load === 'object' && f.load !== null && key in f.load) {
      value = (f.load as Record<string, unknown>)[key];
    }
  }
  return value;
}

interface Report {
  pid: number;
  classData: Record<string, unknown>;
  data: Record<string, unknown>;
}

/** Ask the page's process for its mirror (after its writes and the changes before now are in). */
async function report(client: TestClient): Promise<Report> {
  const from = client.frames.length;
  client.send('report');
  const frame = await client.waitFor((f) => f.signal === 'report', 'a report', 20_000, from);
  return frame.load as Report;
}

/** Run `action` and wait for the end of its `__process`. */
async function run(client: TestClient, action: string, load: unknown, id: number): Promise<void> {
  const from = client.frames.length;
  client.send(action, { ...(load as object), __process_id: id });
  const end = await client.waitFor(
    (f: Frame) =>
      f.signal === '__process' &&
      (f.load as { id: number; status: string }).id === id &&
      (f.load as { status: string }).status === 'end',
    `the end of ${action}`,
    60_000,
    from,
  );
  assert.equal((end.load as { error?: boolean }).error, undefined, `${action} failed`);
}

describe(
  'scale-out on Redis: two databench processes, one redis-server',
  { skip: redisSkip },
  () => {
    let redis: RedisServer;
    let inspect: Redis;
    let a: CliRun;
    let b: CliRun;
    let urlA = '';
    let urlB = '';
    const clients: TestClient[] = [];
    const page = async (url: string, id?: string): Promise<TestClient> => {
      const { client } = await TestClient.connect(ws(url), id ? { id } : {});
      clients.push(client);
      return client;
    };

    before(async () => {
      redis = await startRedis();
      inspect = new Redis(redis.url, { maxRetriesPerRequest: 50 });
      const args = ['--port', '0', '--analyses', SCALE, '--log', 'warn', '--no-watch'];
      a = databench([...args, '--datastore', redis.url]);
      // the second takes the URL from the environment
      b = databench(args, { env: { DATABENCH_DATASTORE: redis.url } });
      [urlA, urlB] = await Promise.all([serving(a), serving(b)]);
    });

    after(async () => {
      for (const c of clients) c.close();
      await Promise.all([a && stop(a), b && stop(b)]);
      inspect?.disconnect();
      await redis?.stop();
    });

    test('classData written on A reaches pages on B; Redis holds it as the wire JSON', async () => {
      const onA = await page(urlA);
      const onB = await page(urlB);
      onA.send('set_class', { key: 'color', value: { name: 'red', rgb: [255, 0, 0] } });
      const frame = await onB.waitFor(
        (f) => f.signal === 'class_data' && 'color' in (f.load as object),
        'the class_data frame on B',
      );
      assert.deepEqual(frame.load, { color: { name: 'red', rgb: [255, 0, 0] } });
      assert.equal(
        await inspect.hget('databench:domain:Shared', 'color'),
        '{"name":"red","rgb":[255,0,0]}',
      );
      // a page that opens later on B gets it in its classData snapshot
      const later = await page(urlB);
      await later.waitFor(
        (f) => f.signal === 'class_data' && 'color' in (f.load as object),
        'the classData snapshot',
      );
    });

    test('a page that started on A resumes on B with its data; the actions of one session keep their order', async () => {
      const onA = await page(urlA);
      const id = (
        (await onA.waitFor((f) => f.signal === '__connect', 'connect')).load as {
          analysis_id: string;
        }
      ).analysis_id;
      onA.send('set_data', { key: 'x', value: 42 });
      for (let i = 0; i < 50; i++) onA.send('seq', [i]);
      const r = await report(onA);
      assert.deepEqual(
        r.data['seq'],
        Array.from({ length: 50 }, (_, i) => i),
      );
      onA.close();
      await onA.closed();
      const onB = await page(urlB, id);
      const snapshot = await onB.waitFor(
        (f) => f.signal === 'data' && 'x' in (f.load as object),
        'the data snapshot on B',
      );
      assert.deepEqual((snapshot.load as Record<string, unknown>)['x'], 42);
      assert.equal(
        (
          (await onB.waitFor((f) => f.signal === '__connect', 'connect')).load as {
            analysis_id: string;
          }
        ).analysis_id,
        id,
      );
      // the data domain has a TTL in Redis (the retention), renewed while a process holds it
      const ttl = await inspect.pttl(`databench:domain:${id}`);
      assert.ok(ttl > 0, `the data domain has no TTL (${ttl})`);
    });

    test('two processes × 1000 interleaved writes to one key: every mirror, every page and Redis agree', async () => {
      const writerA = await page(urlA);
      const writerB = await page(urlB);
      const watchers = [await page(urlA), await page(urlB), await page(urlA), await page(urlB)];
      await Promise.all([
        run(writerA, 'hammer', { tag: 'a', n: 1000 }, 1),
        run(writerB, 'hammer', { tag: 'b', n: 1000 }, 2),
      ]);
      const [ra, rb] = await Promise.all([report(writerA), report(writerB)]);
      // a second round: the first made sure each process's own writes are in
      const [ra2, rb2] = await Promise.all([report(writerA), report(writerB)]);
      const stored = JSON.parse(
        (await inspect.hget('databench:domain:Shared', 'counter')) ?? 'null',
      ) as unknown;
      assert.ok(stored === 'a999' || stored === 'b999', `Redis holds ${String(stored)}`);
      assert.notEqual(ra.pid, rb.pid);
      assert.equal(ra2.classData['counter'], stored, 'the mirror of A disagrees with Redis');
      assert.equal(rb2.classData['counter'], stored, 'the mirror of B disagrees with Redis');
      for (const p of [writerA, writerB, ...watchers]) {
        await p.waitFor(
          (f) =>
            f.signal === 'class_data' && (f.load as Record<string, unknown>)['counter'] === stored,
          `the final counter on a page`,
        );
        assert.equal(last(p, 'class_data', 'counter'), stored, 'a page ended on another value');
      }
    });

    test('Redis stopped and started again during writes: pages are warned, the servers stay up, mirrors converge to Redis', async () => {
      const writer = await page(urlA);
      const onB = await page(urlB);
      writer.send('start_ticker');
      await onB.waitFor(
        (f) => f.signal === 'class_data' && 'tick' in (f.load as object),
        'a tick on B',
      );
      await redis.stop();
      const warnA = await writer.waitFor((f) => f.signal === 'warn', 'a warn on A', 10_000);
      const warnB = await onB.waitFor((f) => f.signal === 'warn', 'a warn on B', 10_000);
      for (const w of [warnA, warnB]) assert.match(String(w.load), /datastore is unreachable/);
      // the servers stay up while Redis is away
      assert.equal((await fetch(urlA + '/')).status, 200);
      await redis.start();
      const back = await onB.waitFor(
        (f) => f.signal === 'log' && /reachable again/.test(String(f.load)),
        'the datastore back on B',
        15_000,
      );
      const afterBack = onB.frames.indexOf(back);
      await onB.waitFor(
        (f) => f.signal === 'class_data' && 'tick' in (f.load as object),
        'a tick on B after Redis is back',
        15_000,
        afterBack + 1,
      );
      writer.send('stop_ticker');
      await report(writer);
      const [ra, rb] = await Promise.all([report(writer), report(onB)]);
      const stored = JSON.parse(
        (await inspect.hget('databench:domain:Shared', 'tick')) ?? 'null',
      ) as unknown;
      assert.equal(typeof stored, 'number');
      assert.equal(ra.classData['tick'], stored, 'A disagrees with Redis');
      assert.equal(rb.classData['tick'], stored, 'B disagrees with Redis');
      // Redis came back empty (no persistence): the mirrors follow it
      assert.equal(rb.classData['color'], undefined);
      await onB.waitFor(
        (f) => f.signal === 'class_data' && (f.load as Record<string, unknown>)['tick'] === stored,
        'the final tick on B',
      );
    });

    test('a process killed with SIGKILL: its pages reconnect to the other and resume with their data', async () => {
      const onA = await page(urlA);
      const id = (
        (await onA.waitFor((f) => f.signal === '__connect', 'connect')).load as {
          analysis_id: string;
        }
      ).analysis_id;
      onA.send('set_data', { key: 'kept', value: 'yes' });
      await report(onA);
      a.child.kill('SIGKILL');
      await onA.closed(10_000);
      const onB = await page(urlB, id);
      const snapshot = await onB.waitFor(
        (f) => f.signal === 'data' && 'kept' in (f.load as object),
        'the data snapshot on B',
      );
      assert.equal((snapshot.load as Record<string, unknown>)['kept'], 'yes');
    });
  },
);

describe('the databench command with Redis', { skip: redisSkip }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  test('an unreachable Redis: one line naming the URL, exit 1', async () => {
    const port = await freePort();
    const r = databench([
      '--port',
      '0',
      '--analyses',
      SCALE,
      '--datastore',
      `redis://127.0.0.1:${port}/0`,
    ]);
    assert.equal(await r.exited, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`cannot reach Redis at redis://127\\.0\\.0\\.1:${port}/0`));
  });

  test('a bad datastore URL is bad usage: exit 2; the password is not printed', async () => {
    const r = databench(['--datastore', 'http://user:secret@example.com/']);
    assert.equal(await r.exited, 2);
    assert.match(r.stderr, /--datastore needs redis:\/\/HOST:PORT\/DB/);
    assert.doesNotMatch(r.stderr, /secret/);
    const env = databench([], { env: { DATABENCH_DATASTORE: 'redis://host/notanumber' } });
    assert.equal(await env.exited, 2);
    assert.match(env.stderr, /DATABENCH_DATASTORE needs redis:\/\//);
  });

  test('--workers 2 with the memory datastore is refused with one line', async () => {
    const r = databench(['--workers', '2', '--analyses', SCALE, '--port', '0']);
    assert.equal(await r.exited, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(
      r.stderr,
      /--workers 2 needs a datastore all processes share: give --datastore redis:\/\//,
    );
  });

  test('--workers 2: two processes on the one port share classData', async () => {
    const r = databench([
      '--workers',
      '2',
      '--port',
      '0',
      '--analyses',
      SCALE,
      '--log',
      'warn',
      '--no-watch',
      '--datastore',
      redis.url,
    ]);
    try {
      const url = await serving(r);
      assert.match(r.stdout, /with 2 workers/);
      const pages: TestClient[] = [];
      const pids = new Set<number>();
      // connections are dealt round-robin: a few pages reach both workers
      for (let i = 0; i < 6 && pids.size < 2; i++) {
        const { client } = await TestClient.connect(ws(url));
        pages.push(client);
        pids.add((await report(client)).pid);
      }
      assert.equal(pids.size, 2, 'every page reached the same worker');
      pages[0]!.send('set_class', { key: 'workers', value: 2 });
      for (const p of pages) {
        await p.waitFor(
          (f) => f.signal === 'class_data' && (f.load as Record<string, unknown>)['workers'] === 2,
          'the change on every page',
        );
      }
      for (const p of pages) p.close();
    } finally {
      await stop(r);
    }
    assert.equal(await r.exited, 0);
  });
});

describe('a write Redis never takes', { skip: redisSkip }, () => {
  test('is given up after its retries with an error frame to the page that wrote it', async () => {
    const redis = await startRedis();
    const { createServer } = await import('../../src/server/create-server.ts');
    const { createMemoryLogger } = await import('../../src/util/logger.ts');
    const { createRedisBackend } = await import('../../src/datastore/backends/redis.ts');
    const backend = await createRedisBackend({ url: redis.url, maxRetriesPerRequest: 2 });
    const logger = createMemoryLogger();
    const server = await createServer({ port: 0, analyses: SCALE, logger, datastore: backend });
    try {
      const { client } = await TestClient.connect(ws(server.url));
      await redis.stop();
      await client.waitFor((f) => f.signal === 'warn', 'the warn', 10_000);
      client.send('set_class', { key: 'lost', value: 1 });
      const error = await client.waitFor((f) => f.signal === 'error', 'the error frame', 20_000);
      assert.match(String(error.load), /could not store lost of "Shared"/);
      assert.ok(logger.lines.some(([level, line]) => level === 'error' && /lost/.test(line)));
      client.close();
    } finally {
      await server.close();
      await backend.dispose();
      await redis.stop();
    }
  });
});

describe('--workers with Redis: crashes and the developer loop', { skip: redisSkip }, () => {
  const dir = join(ROOT, 'test-artifacts', `workers-${process.pid}`);
  const source = (version: string): string =>
    readFileSync(join(SCALE, 'shared', 'analysis.ts'), 'utf8').replace(
      'async on_report() {',
      `on_which() {\n    return this.emit('which', '${version}');\n  }\n\n  async on_report() {`,
    );

  test('a killed worker is replaced and its page resumes on another; a saved analysis reloads on every worker', async () => {
    const redis = await startRedis();
    await mkdir(join(dir, 'shared'), { recursive: true });
    await writeFile(join(dir, 'index.yaml'), 'analyses:\n  - name: shared\n');
    await writeFile(join(dir, 'shared', 'index.html'), '<!doctype html><p>shared</p>');
    await writeFile(join(dir, 'shared', 'analysis.ts'), source('v1'));
    const r = databench(
      ['--workers', '2', '--watch', '--port', '0', '--analyses', dir, '--log', 'warn'],
      {
        env: { DATABENCH_DATASTORE: redis.url },
      },
    );
    const pages: TestClient[] = [];
    try {
      const url = await serving(r);
      const connect = async (id?: string): Promise<{ client: TestClient; id: string }> => {
        const c = await TestClient.connect(ws(url), id ? { id } : {});
        pages.push(c.client);
        return c;
      };
      // one page on each worker
      const byPid = new Map<number, TestClient>();
      for (let i = 0; i < 8 && byPid.size < 2; i++) {
        const { client } = await connect();
        byPid.set((await report(client)).pid, client);
      }
      assert.equal(byPid.size, 2, 'the pages did not reach both workers');
      const [victim, page] = [...byPid.entries()][0]!;
      const id = (
        (await page.waitFor((f) => f.signal === '__connect', 'connect')).load as {
          analysis_id: string;
        }
      ).analysis_id;
      page.send('set_data', { key: 'kept', value: 'yes' });
      await report(page);
      process.kill(victim, 'SIGKILL');
      await page.closed(10_000);
      // a connection node:cluster dealt to the dead worker before it noticed the
      // exit is never answered: retry after a while, as a page's reconnect would
      let resumed: { client: TestClient; id: string } | undefined;
      for (let attempt = 0; attempt < 5 && !resumed; attempt++) {
        const pending = connect(id);
        let timer: ReturnType<typeof setTimeout> | undefined;
        resumed = await Promise.race([
          pending,
          new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 3000))),
        ]);
        clearTimeout(timer);
        if (!resumed) void pending.then(({ client }) => client.close()).catch(() => undefined);
      }
      assert.ok(resumed, 'the page could not reconnect after the crash');
      await resumed.client.waitFor(
        (f) => f.signal === 'data' && (f.load as Record<string, unknown>)['kept'] === 'yes',
        'the data snapshot after the crash',
      );
      // the primary starts a replacement: new pages reach a new pid
      const pids = new Set<number>();
      const deadline = Date.now() + 30_000;
      while (![...pids].some((p) => !byPid.has(p))) {
        assert.ok(Date.now() < deadline, `no replacement worker; pids seen ${[...pids].join(',')}`);
        const { client } = await connect();
        pids.add((await report(client)).pid);
      }
      // the developer loop: a save reloads the analysis on every worker
      const open = pages.filter((p) => p.closeCode === undefined);
      await writeFile(join(dir, 'shared', 'analysis.ts'), source('v2'));
      for (const p of open) assert.equal((await p.closed(20_000)).code, 1012);
      const seen = new Set<number>();
      for (let i = 0; i < 8 && seen.size < 2; i++) {
        const { client } = await connect();
        client.send('which');
        assert.equal((await client.next('which', 10_000)).load, 'v2');
        seen.add((await report(client)).pid);
      }
      assert.equal(seen.size, 2, 'the new code did not reach both workers');
    } finally {
      for (const p of pages) p.close();
      await stop(r);
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('datastore: in index.yaml', { skip: redisSkip }, () => {
  test('selects Redis when no option or flag does', async () => {
    const redis = await startRedis();
    const dir = join(ROOT, 'test-artifacts', `yaml-datastore-${process.pid}`);
    await mkdir(join(dir, 'shared'), { recursive: true });
    await writeFile(
      join(dir, 'index.yaml'),
      `datastore: ${redis.url}\nanalyses:\n  - name: shared\n`,
    );
    await writeFile(join(dir, 'shared', 'index.html'), '<!doctype html><p>shared</p>');
    await writeFile(
      join(dir, 'shared', 'analysis.ts'),
      readFileSync(join(SCALE, 'shared', 'analysis.ts'), 'utf8'),
    );
    const { createServer } = await import('../../src/server/create-server.ts');
    const { createMemoryLogger } = await import('../../src/util/logger.ts');
    const server = await createServer({ port: 0, analyses: dir, logger: createMemoryLogger() });
    const inspect = new Redis(redis.url);
    try {
      assert.equal(server.datastore.name, 'redis');
      const { client } = await TestClient.connect(ws(server.url));
      client.send('set_class', { key: 'from_yaml', value: true });
      await report(client);
      assert.equal(await inspect.hget('databench:domain:Shared', 'from_yaml'), 'true');
      client.close();
    } finally {
      inspect.disconnect();
      await server.close();
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
