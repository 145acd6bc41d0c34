// Deltas for big values through a real server and real sockets, with each
// kernel (in-process, worker thread, Python process): a page that announces
// `__deltas` gets appends and patches as `__delta` frames and can rebuild
// every value from them; a 0.7 page (no announcement) gets whole values; a
// page that reads too slowly gets a coalesced key whole; Redis stores whole
// values, so a page resumed on another server gets the whole list, then
// deltas against it. (The client's side: src/client/connection.test.ts and
// test/e2e/deltas.test.ts.)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Datastore } from 'databench-ts';
import { applyDelta, type DeltaLoad } from 'databench-ts/protocol';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient, until, wsUrlOf, type Frame } from '../helpers.ts';
import { pythonSkip } from '../python.ts';
import { redisSkip, startRedis, type RedisServer } from '../redis.ts';

const DELTAS = FIXTURES + 'deltas';
const SOFT = 64 * 1024;
const KERNELS = [
  { name: 'inproc', skip: false as const },
  { name: 'work', skip: false as const },
  { name: 'py', skip: pythonSkip },
];

/** A page that announces deltas (as this project's client does) and completes `__connect`. */
async function deltaPage(url: string, id: string | null = null): Promise<TestClient> {
  const client = await TestClient.open(url);
  client.sendJson({ __connect: id, __request_args: '', __deltas: 1 });
  await client.waitFor((f) => f.signal === '__connect', 'the __connect reply');
  return client;
}

/**
 * The page's `data` as a client holds it after every frame so far: whole
 * values as they came, deltas applied to them in order. Throws when a delta
 * does not apply to what the page holds.
 */
function rebuild(frames: Frame[]): Map<string, unknown> {
  const values = new Map<string, unknown>();
  for (const frame of frames) {
    if (frame.signal === 'data') {
      for (const [key, value] of Object.entries(frame.load as object)) values.set(key, value);
    } else if (frame.signal === '__delta') {
      const delta = structuredClone(frame.load) as DeltaLoad;
      assert.ok(values.has(delta.key), `a __delta of "${delta.key}" came before its value`);
      values.set(delta.key, applyDelta(structuredClone(values.get(delta.key)), delta));
    }
  }
  return values;
}

/** How many frames of `signal` name `key`. */
function count(frames: Frame[], signal: string, key: string): number {
  return frames.filter(
    (f) =>
      f.signal === signal &&
      (signal === '__delta' ? (f.load as DeltaLoad).key === key : key in (f.load as object)),
  ).length;
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('deltas through a real server, in every kernel', () => {
  let server: DatabenchServer;
  const clients: TestClient[] = [];
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: DELTAS,
      logger: createMemoryLogger(),
      sendBufferSoftBytes: SOFT,
    });
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
  });

  for (const { name, skip } of KERNELS) {
    describe(`kernel "${name}"`, { skip }, () => {
      test('appends reach a page that announced deltas as __delta frames, from which it rebuilds the list', async () => {
        const page = await deltaPage(wsUrlOf(server, name));
        clients.push(page);
        page.send('grow', [600]);
        await page.next('grown', 30_000);
        assert.deepEqual(rebuild(page.frames).get('xs'), range(0, 600));
        assert.equal(
          count(page.frames, 'data', 'xs'),
          1,
          'only the first append (a new list) goes whole',
        );
        assert.ok(count(page.frames, '__delta', 'xs') >= 1, 'the other appends go as deltas');
        const bytes = page.frames
          .filter((f) => f.signal === '__delta')
          .reduce((n, f) => n + JSON.stringify(f).length, 0);
        let whole = 0;
        for (let n = 2; n <= 600; n++) whole += JSON.stringify({ xs: range(0, n) }).length;
        assert.ok(
          bytes * 10 < whole,
          `the deltas are small: ${bytes} bytes for 600 appends, against ${whole} as whole lists`,
        );
      });

      test('a 0.7 page (no __deltas in __connect) gets every value whole', async () => {
        const { client } = await TestClient.connect(wsUrlOf(server, name));
        clients.push(client);
        client.send('grow', [50]);
        await client.next('grown', 30_000);
        assert.equal(count(client.frames, '__delta', 'xs'), 0);
        const lists = client.frames
          .filter((f) => f.signal === 'data')
          .map((f) => (f.load as { xs: number[] }).xs);
        assert.ok(lists.length >= 1);
        assert.deepEqual(lists.at(-1), range(0, 50));
        for (const list of lists) assert.deepEqual(list, range(0, list.length));
      });

      test('a page that reads too slowly gets the key whole once its updates coalesce, and ends with the right value', async () => {
        const page = await deltaPage(wsUrlOf(server, name));
        clients.push(page);
        const fields = 16;
        const size = 4096;
        page.send('fill', [fields, size]);
        await page.next('filled', 30_000);
        const session = [...server.sessions].find(
          (s) => s.ws.readyState === s.ws.OPEN && s.id === sessionId(page),
        )!;
        assert.ok(session, "the page's session");
        // the server's mirror of the page's data (every kernel's writes reach it)
        const mirror = new Datastore<{ big?: Record<string, string> }>(sessionId(page));
        page.ws.pause();
        page.send('churn', [3000, fields, size]);
        await until(() => session.ws.bufferedAmount > SOFT, 'the page is slow', 60_000);
        // these writes happen while the page is slow: they coalesce (their
        // values are one character longer, to tell them from the first run's)
        page.send('churn', [40, fields, size + 1]);
        const last = '39:' + 'y'.repeat(size + 1);
        await until(() => mirror.get('big')?.['f7'] === last, 'the second run ends', 60_000);
        mirror.close();
        page.ws.resume();
        await page.next('churned', 60_000);
        await page.next('churned', 60_000);
        const expected: Record<string, string> = {};
        for (let i = 0; i < fields; i++) expected[`f${i}`] = 'x'.repeat(size);
        for (let i = 0; i < 3000; i++) expected[`f${i % fields}`] = `${i}:` + 'y'.repeat(size);
        for (let i = 0; i < 40; i++) expected[`f${i % fields}`] = `${i}:` + 'y'.repeat(size + 1);
        assert.deepEqual(rebuild(page.frames).get('big'), expected);
        const firstDelta = page.frames.findIndex((f) => f.signal === '__delta');
        assert.ok(firstDelta > 0, 'patches went out as deltas while the page kept up');
        assert.ok(
          count(page.frames.slice(firstDelta), 'data', 'big') >= 1,
          'once coalesced, the key went whole',
        );
      });
    });
  }
});

/** The analysis id a page got in its `__connect` reply. */
function sessionId(page: TestClient): string {
  const reply = page.frames.find((f) => f.signal === '__connect');
  return (reply?.load as { analysis_id: string }).analysis_id;
}

describe(
  'deltas with the Redis datastore: two servers, one redis-server',
  { skip: redisSkip },
  () => {
    let redis: RedisServer;
    let a: DatabenchServer;
    let b: DatabenchServer;
    const clients: TestClient[] = [];
    before(async () => {
      redis = await startRedis();
      const options = {
        port: 0,
        analyses: DELTAS,
        logger: createMemoryLogger(),
        datastore: redis.url,
      };
      a = await createServer(options);
      b = await createServer(options);
    });
    after(async () => {
      for (const c of clients) c.close();
      await Promise.all([a?.close(), b?.close()]);
      await redis?.stop();
    });

    test('appends go out as deltas; Redis holds the whole list, which a page resumed on the other server gets, then deltas against it', async () => {
      const onA = await deltaPage(wsUrlOf(a, 'inproc'));
      clients.push(onA);
      onA.send('grow', [200]);
      await onA.next('grown', 30_000);
      assert.deepEqual(rebuild(onA.frames).get('xs'), range(0, 200));
      assert.ok(count(onA.frames, '__delta', 'xs') >= 1);
      const id = sessionId(onA);
      onA.close();
      await onA.closed();
      const onB = await deltaPage(wsUrlOf(b, 'inproc'), id);
      clients.push(onB);
      const snapshot = await onB.waitFor((f) => f.signal === 'data', 'the data snapshot', 20_000);
      assert.deepEqual((snapshot.load as { xs: number[] }).xs, range(0, 200));
      onB.send('grow', [20]);
      await onB.next('grown', 30_000);
      assert.deepEqual(rebuild(onB.frames).get('xs'), range(0, 220));
      assert.ok(count(onB.frames, '__delta', 'xs') >= 1, 'the appends on B go as deltas');
    });
  },
);

describe('a value larger than a page can receive, changed by deltas', () => {
  const HARD = 64 * 1024;
  let server: DatabenchServer;
  const clients: TestClient[] = [];
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: DELTAS,
      logger: createMemoryLogger(),
      sendBufferSoftBytes: 16 * 1024,
      sendBufferHardBytes: HARD,
    });
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
  });

  test('a page that takes deltas is measured by what it is sent: it follows a list past the limit; a 0.7 page is told and closed', async () => {
    const n = 20_000;
    assert.ok(JSON.stringify(range(0, n)).length > HARD, 'the list outgrows the limit');
    const page = await deltaPage(wsUrlOf(server, 'inproc'));
    clients.push(page);
    page.send('grow', [n]);
    await page.next('grown', 30_000);
    assert.deepEqual(rebuild(page.frames).get('xs'), range(0, n));
    assert.ok(!page.frames.some((f) => f.signal === 'error'), 'no error frame');

    const { client: old } = await TestClient.connect(wsUrlOf(server, 'inproc'));
    clients.push(old);
    old.send('grow', [n]);
    // whole lists: past the limit, either as one value or as what it buffers
    const { code, reason } = await old.closed(30_000);
    assert.ok(code === 1011 || code === 1008, `closed with ${code}`);
    assert.ok(String(reason).length > 0, 'the close says why');
  });
});
