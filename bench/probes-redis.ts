// The Redis probes, as figures: real `databench` processes on one real
// redis-server (started here, persistence off), hostile or unlucky Redis
// events, and what the servers and their pages make of them. Every wait is
// bounded. Usage:
//   node --conditions=databench-source --import tsx bench/probes-redis.ts [probe]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { databench, FIXTURES, serving, TestClient, type CliRun } from '../test/helpers.ts';
import { startRedis, type RedisServer } from '../test/redis.ts';

const SCALE = join(FIXTURES, 'scale');

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

async function servers(
  redis: RedisServer,
  count: number,
): Promise<{ runs: CliRun[]; urls: string[] }> {
  const runs = Array.from({ length: count }, () =>
    databench(['--port', '0', '--analyses', SCALE, '--log', 'warn', '--no-watch'], {
      env: { DATABENCH_DATASTORE: redis.url },
    }),
  );
  const urls = await Promise.all(runs.map((r) => serving(r)));
  return { runs, urls: urls.map((u) => u.replace('http', 'ws') + '/shared/ws') };
}

function stop(runs: CliRun[]): void {
  for (const r of runs) r.child.kill('SIGKILL');
}

/** The newest value of classData `key` a page has received. */
function latest(client: TestClient, key: string): unknown {
  for (let i = client.frames.length - 1; i >= 0; i--) {
    const f = client.frames[i]!;
    if (f.signal === 'class_data' && typeof f.load === 'object' && f.load !== null) {
      if (key in f.load) return (f.load as Record<string, unknown>)[key];
    }
  }
  return undefined;
}

/**
 * FLUSHALL while two servers hold a domain: A keeps writing; how long until
 * B's page shows A's writes again, and whether a new page on B gets a value
 * Redis no longer holds.
 */
async function flushallConvergence(): Promise<string> {
  const redis = await startRedis();
  const inspect = new Redis(redis.url);
  const { runs, urls } = await servers(redis, 2);
  try {
    // a long-running deployment: the domain's version is far along
    await inspect.incrby('databench:version:Shared', 100_000);
    const { client: onA } = await TestClient.connect(urls[0]!);
    const { client: onB } = await TestClient.connect(urls[1]!);
    onA.send('set_class', { key: 'color', value: 'red' });
    for (let i = 0; i < 200; i++) onA.send('set_class', { key: 'n', value: i });
    await onB.waitFor(
      (f) => f.signal === 'class_data' && (f.load as Record<string, unknown>)['n'] === 199,
      'the writes before the flush on B',
      20_000,
    );
    await inspect.flushall();
    const t0 = performance.now();
    let i = 0;
    let seenAfterMs: number | undefined;
    // A writes every 20 ms; B must show a value written after the flush
    while (performance.now() - t0 < 10_000) {
      onA.send('set_class', { key: 'n', value: 1000 + i++ });
      await new Promise((r) => setTimeout(r, 20));
      const v = latest(onB, 'n');
      if (typeof v === 'number' && v >= 1000) {
        seenAfterMs = performance.now() - t0;
        break;
      }
    }
    const { client: later } = await TestClient.connect(urls[1]!);
    const snapshot = await later.waitFor((f) => f.signal === 'class_data', 'a snapshot', 5000);
    const stale = 'color' in (snapshot.load as object);
    for (const c of [onA, onB, later]) c.close();
    return (
      `FLUSHALL with two servers, A writing every 20 ms: B's page shows A's writes again ` +
      `${seenAfterMs === undefined ? 'never (> 10 s)' : `after ${seenAfterMs.toFixed(0)} ms`}; ` +
      `a new page on B ${stale ? 'gets the flushed value (stale)' : 'gets what Redis holds'}`
    );
  } finally {
    stop(runs);
    inspect.disconnect();
    await redis.stop();
  }
}

/**
 * One short PUBLISH on a domain's channel whose header announces a huge
 * count of entries: how long a subscribed server stalls (a page's ping
 * round trip) and how much it grows.
 */
async function publishStall(): Promise<string> {
  const redis = await startRedis();
  const inspect = new Redis(redis.url);
  const { runs, urls } = await servers(redis, 1);
  try {
    // a raw socket: what the server sends after the message need not be JSON
    const ws = new WebSocket(urls[0]!, { perMessageDeflate: false });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const connected = new Promise((resolve) => ws.once('message', resolve));
    ws.send('{"__connect":null}');
    await connected;
    const pid = runs[0]!.child.pid!;
    const before = rssMb(pid);
    // its entry's key length (-8) leads the parser back to the entry itself
    const message = 'o 1 9999999\ns -8 0 ';
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 20);
    await inspect.publish('databench:changes:Shared', message);
    // ping round trips for a second after the message: the longest is the stall
    let worst = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 1000) {
      const t = performance.now();
      const pong = new Promise<void>((resolve) => ws.once('pong', () => resolve()));
      ws.ping();
      const answered = await Promise.race([
        pong.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 120_000)),
      ]);
      if (!answered) {
        worst = Infinity;
        break;
      }
      worst = Math.max(worst, performance.now() - t);
      await new Promise((r) => setTimeout(r, 10));
    }
    clearInterval(sampler);
    peak = Math.max(peak, rssMb(pid));
    ws.terminate();
    return (
      `a ${Buffer.byteLength(message)}-byte PUBLISH announcing 9999999 entries: the longest ping round trip ` +
      `${worst === Infinity ? '> 120 s' : `${worst.toFixed(0)} ms`}; server RSS ${before.toFixed(0)} → peak ${peak.toFixed(0)} MB`
    );
  } finally {
    stop(runs);
    inspect.disconnect();
    await redis.stop();
  }
}

/** A stored value that is not one JSON value: does it reach a page as frames of its own? */
async function storedInjection(): Promise<string> {
  const redis = await startRedis();
  const inspect = new Redis(redis.url);
  await inspect.hset('databench:domain:Shared', 'x', '1},"signal":"evil","load":{"a":1');
  const { runs, urls } = await servers(redis, 1);
  try {
    const { client } = await TestClient.connect(urls[0]!);
    client.send('report');
    await client.waitFor((f) => f.signal === 'report', 'a report', 10_000);
    const evil = client.frames.some((f) => f.signal === 'evil');
    client.close();
    return `a stored field "1},\\"signal\\":\\"evil\\",…": ${evil ? 'delivered as an "evil" frame' : 'not delivered as a frame'}`;
  } finally {
    stop(runs);
    inspect.disconnect();
    await redis.stop();
  }
}

const only = process.argv[2];
for (const probe of [flushallConvergence, publishStall, storedInjection]) {
  if (only && probe.name !== only) continue;
  console.log(await probe());
}
