import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Datastore } from 'databench-ts';
import { testBackend } from 'databench-ts/testing';
import {
  createRedisBackend,
  type RedisBackend,
  type RedisBackendOptions,
} from 'databench-ts/datastore/redis';
import type { BackendEvent } from '../backend.ts';
import { redisSkip, startRedis, type RedisServer } from '../../../test/redis.js';

describe('redis backend', { skip: redisSkip }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });
  testBackend('redis', () => createRedisBackend(redis.url), { shared: true });
});

/** Waits until `check()` holds, failing with `what` after `ms` (a liveness cap). */
async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The events a backend reports, and a wait for the first of a type. */
function events(backend: RedisBackend) {
  const seen: BackendEvent[] = [];
  const waiters: Array<() => void> = [];
  backend.onEvent((e) => {
    seen.push(e);
    for (const w of waiters.splice(0)) w();
  });
  return {
    seen,
    async next(type: BackendEvent['type'], from = 0, ms = 15_000): Promise<BackendEvent> {
      await until(() => seen.slice(from).some((e) => e.type === type), `a "${type}" event`, ms);
      return seen.slice(from).find((e) => e.type === type)!;
    },
  };
}

describe('redis backend: Redis loses what the processes mirror', { skip: redisSkip }, () => {
  let redis: RedisServer;
  let inspect: Redis;
  const made: RedisBackend[] = [];
  const make = async (options: Partial<RedisBackendOptions> = {}): Promise<RedisBackend> => {
    const backend = await createRedisBackend({ url: redis.url, ...options });
    made.push(backend);
    return backend;
  };
  before(async () => {
    redis = await startRedis();
    inspect = new Redis(redis.url);
  });
  after(async () => {
    for (const b of made) await b.dispose();
    inspect?.disconnect();
    await redis?.stop();
  });

  test('a FLUSHALL: the next write on one process brings every mirror to what Redis holds', async () => {
    // no periodic check during the test: the write alone must tell
    const [p, q] = [await make({ checkEveryMs: 600_000 }), await make({ checkEveryMs: 600_000 })];
    const name = `flush-${randomUUID()}`;
    const a = new Datastore(name, { backend: p });
    const b = new Datastore(name, { backend: q });
    await Promise.all([a.ready, b.ready]);
    // a long-lived domain: its version is far along
    await inspect.incrby(`databench:version:${name}`, 100_000);
    await a.update({ x: 1, y: 2 });
    await until(() => b.get('y') === 2, 'the writes before the flush on the other process');
    const qEvents = events(q);
    await inspect.flushall();
    // a key the other process has seen at a high version: a new, lower one must still apply
    await a.set('y', 3);
    await until(() => b.get('y') === 3, 'the first write after the flush on the other process');
    await until(() => !a.has('x') && !b.has('x'), 'the flushed keys gone from both mirrors');
    assert.deepEqual(a.toObject(), { y: 3 });
    assert.deepEqual(b.toObject(), { y: 3 });
    const reset = await qEvents.next('reset');
    assert.match((reset as { reason: string }).reason, /version key gone/);
    // and later writes keep flowing both ways
    await b.set('w', 4);
    await until(() => a.get('w') === 4, 'a write from the other side');
    a.close();
    b.close();
  });

  test('a new domain written before its first load is not taken for a lost one', async () => {
    const p = await make({ checkEveryMs: 600_000 });
    const seen = events(p);
    const a = new Datastore(`new-${randomUUID()}`, { backend: p });
    // sent before the load that makes the version key
    await a.set('x', 1);
    await a.ready;
    await p.sync();
    assert.deepEqual(a.toObject(), { x: 1 });
    assert.deepEqual(
      seen.seen.filter((e) => e.type === 'reset'),
      [],
    );
    a.close();
  });

  test('a FLUSHALL with no write after it: every process finds it within checkEveryMs', async () => {
    const [p, q] = [await make({ checkEveryMs: 100 }), await make({ checkEveryMs: 100 })];
    const name = `flush-quiet-${randomUUID()}`;
    const a = new Datastore(name, { backend: p });
    const b = new Datastore(name, { backend: q });
    await Promise.all([a.ready, b.ready]);
    await a.update({ x: 1 });
    await until(() => b.get('x') === 1, 'the write on the other process');
    await inspect.flushall();
    await until(() => !a.has('x') && !b.has('x'), 'both mirrors emptied like Redis');
    a.close();
    b.close();
  });

  test('an evicted version key and hash of a domain without TTL: found by the check, mirrors follow', async () => {
    const [p, q] = [await make({ checkEveryMs: 100 }), await make({ checkEveryMs: 100 })];
    const name = `evicted-${randomUUID()}`;
    const a = new Datastore(name, { backend: p });
    const b = new Datastore(name, { backend: q });
    await Promise.all([a.ready, b.ready]);
    await a.update({ x: 1 });
    await until(() => b.get('x') === 1, 'the write on the other process');
    await inspect.del(`databench:version:${name}`, `databench:domain:${name}`);
    await until(() => !a.has('x') && !b.has('x'), 'both mirrors emptied like Redis');
    assert.equal(await inspect.exists(`databench:version:${name}`), 1, 'the version key is back');
    a.close();
    b.close();
  });

  test('a version that goes back: both processes reload what Redis holds', async () => {
    const [p, q] = [await make({ checkEveryMs: 600_000 }), await make({ checkEveryMs: 600_000 })];
    const name = `rewound-${randomUUID()}`;
    const a = new Datastore(name, { backend: p });
    const b = new Datastore(name, { backend: q });
    await Promise.all([a.ready, b.ready]);
    for (let i = 0; i < 5; i++) {
      await a.set('n', i);
      await p.sync(); // one write each: the version reaches 5
    }
    await until(() => b.get('n') === 4, 'the writes on the other process');
    // an older copy of the domain comes back (a restore): a version lower than what was seen
    await inspect.set(`databench:version:${name}`, '1');
    await inspect.hset(`databench:domain:${name}`, 'restored', '"yes"');
    await a.set('m', 1);
    await until(
      () => a.get('restored') === 'yes' && b.get('restored') === 'yes' && b.get('m') === 1,
      'both mirrors reloaded from Redis',
    );
    a.close();
    b.close();
  });

  test('a lost data domain (TTL): found by the lease renewal', async () => {
    const p = await make({ checkEveryMs: 600_000 });
    const name = randomUUID();
    const a = new Datastore(name, { backend: p, releaseAfterMs: 600 });
    await a.ready;
    await a.set('x', 1);
    await p.sync();
    await inspect.del(`databench:version:${name}`, `databench:domain:${name}`);
    await until(() => !a.has('x'), 'the mirror emptied like Redis', 5000);
    await until(
      async () => (await inspect.exists(`databench:version:${name}`)) === 1,
      'the version key made again',
    );
    a.close();
  });
});

describe('redis backend: a domain attached while Redis is away', { skip: redisSkip }, () => {
  test('recovers: the attach completes, `up` is reported, leases are renewed again', async () => {
    const redis = await startRedis();
    const backend = await createRedisBackend({ url: redis.url, maxRetriesPerRequest: 1000 });
    const inspect = new Redis(redis.url, { maxRetriesPerRequest: 1000 });
    const seen = events(backend);
    try {
      const held = new Datastore(randomUUID(), { backend, releaseAfterMs: 900 });
      await held.ready;
      await redis.stop();
      await seen.next('down');
      // two pages open while Redis is away: attaches that overlap the recovery
      const names = [randomUUID(), randomUUID()];
      const late = names.map((n) => new Datastore(n, { backend, releaseAfterMs: 900 }));
      await redis.start();
      await seen.next('up');
      await Promise.all(late.map((s) => s.ready));
      await late[0]!.set('x', 1);
      await backend.sync();
      assert.equal(await inspect.hget(`databench:domain:${names[0]}`, 'x'), '1');
      // leases renew: the TTL of a held domain climbs back up (renewed every 300 ms)
      const key = `databench:version:${names[1]}`;
      const first = await inspect.pttl(key);
      assert.ok(first > 0, `no TTL on a held domain (${first})`);
      // the TTL only falls between renewals: a sample above the one before is a
      // renewal (`first` may itself be read just after one, at the full TTL)
      let previous = first;
      await until(
        async () => {
          const ttl = await inspect.pttl(key);
          const renewed = ttl > previous;
          previous = ttl;
          return renewed;
        },
        'a lease renewal after the recovery',
        5000,
      );
      // still held well past its TTL
      await until(async () => (await inspect.pttl(key)) > 0, 'the domain kept');
      for (const s of [held, ...late]) s.close();
    } finally {
      inspect.disconnect();
      await backend.dispose();
      await redis.stop();
    }
  });
});

describe('redis backend: what Redis hands back is checked', { skip: redisSkip }, () => {
  let redis: RedisServer;
  let inspect: Redis;
  let backend: RedisBackend;
  before(async () => {
    redis = await startRedis();
    inspect = new Redis(redis.url);
    backend = await createRedisBackend(redis.url);
  });
  after(async () => {
    await backend?.dispose();
    inspect?.disconnect();
    await redis?.stop();
  });

  test('a stored value that is not one JSON value is left out, with a `dropped` event', async () => {
    const name = `bad-${randomUUID()}`;
    await inspect.hset(`databench:domain:${name}`, {
      evil: '1},"signal":"evil","load":{"a":1',
      good: '{"ok":true}',
    });
    const seen = events(backend);
    const store = new Datastore(name, { backend });
    await store.ready;
    assert.deepEqual(store.toObject(), { good: { ok: true } });
    const dropped = await seen.next('dropped');
    assert.match((dropped as { reason: string }).reason, /not one JSON value \("evil"\)/);
    store.close();
  });

  test('a malformed change message is dropped at once, whatever count it claims; later ones apply', async () => {
    const name = `forged-${randomUUID()}`;
    const store = new Datastore(name, { backend });
    await store.ready;
    const seen = events(backend);
    const channel = `databench:changes:${name}`;
    const t0 = performance.now();
    // a 19-byte message whose entry leads the parser back to itself, 9999999 times
    await inspect.publish(channel, 'o 1 9999999\ns -8 0 ');
    const entry = (key: string, value: string, valueBytes = Buffer.byteLength(value)): string =>
      `\ns ${Buffer.byteLength(key)} ${valueBytes} ${key}${value}`;
    await inspect.publish(channel, `o 2 1${entry('k', '1},"signal":"evil"')}`);
    await inspect.publish(channel, `o 3 1${entry('k', '1', 5)}`);
    await inspect.publish(channel, `o 4 1${entry('k', '7')}`);
    await until(() => store.get('k') === 7, 'the well-formed change after the forged ones');
    assert.ok(performance.now() - t0 < 2000, `took ${performance.now() - t0} ms`);
    const reasons = seen.seen.filter((e) => e.type === 'dropped').map((e) => e.reason);
    assert.equal(reasons.length, 3, reasons.join('\n'));
    assert.match(reasons[0]!, /count of entries \(9999999\)/);
    assert.match(reasons[1]!, /value of "k" is not one JSON value/);
    assert.match(reasons[2]!, /lengths the message does not hold/);
    assert.equal(store.has('k1},"signal"'), false);
    store.close();
  });
});

/** `promise`, or a failure naming `what` after `ms` (a liveness cap). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

describe('redis backend: sync() across a Redis restart', { skip: redisSkip }, () => {
  // Redis drops a published message nobody is subscribed to: a barrier sent
  // before this process has subscribed again after the restart would never come back
  for (const when of ['while Redis is away', 'when the client is back, before the subscriber']) {
    test(`called ${when}: resolves once Redis is back, with the writes in Redis`, async () => {
      const redis = await startRedis();
      const backend = await createRedisBackend({ url: redis.url, maxRetriesPerRequest: 1000 });
      const inspect = new Redis(redis.url, { maxRetriesPerRequest: 1000 });
      const seen = events(backend);
      const name = randomUUID();
      try {
        const store = new Datastore(name, { backend });
        await store.ready;
        await store.set('tick', 0);
        await redis.stop();
        await seen.next('down');
        // written while Redis is away: kept, sent when it is back
        await store.set('tick', 1);
        let synced: Promise<void> | undefined;
        if (when === 'while Redis is away') synced = backend.sync();
        else
          backend.redis.once('ready', () => {
            synced = backend.sync();
          });
        await redis.start();
        await until(() => synced !== undefined, 'the client connection back');
        await within(synced!, 15_000, 'sync() after the restart');
        assert.equal(await inspect.hget(`databench:domain:${name}`, 'tick'), '1');
        assert.ok(
          seen.seen.some((e) => e.type === 'up'),
          'sync() resolved before the recovery',
        );
        store.close();
      } finally {
        inspect.disconnect();
        await backend.dispose();
        await redis.stop();
      }
    });
  }

  test('a sync() still waiting when the backend is disposed rejects', async () => {
    const redis = await startRedis();
    const backend = await createRedisBackend({ url: redis.url, maxRetriesPerRequest: 1000 });
    const seen = events(backend);
    try {
      await redis.stop();
      await seen.next('down');
      const synced = backend.sync();
      await backend.dispose();
      await assert.rejects(within(synced, 5000, 'sync() after dispose'), {
        code: 'DATASTORE_CLOSED',
      });
    } finally {
      await backend.dispose();
      await redis.stop();
    }
  });
});
