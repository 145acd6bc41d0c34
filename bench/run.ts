// npm run bench: the workloads W1–W10 against our server and, in the same
// run, a raw `ws` server answering the same protocol. Servers run in child
// processes; this process is the pages. Every loop is bounded in count and time.
// Usage: npm run bench [-- --quick] [--only=W2,S]  (S: the start-up rows, see startup.ts)
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { ensureDist } from './dist.ts';

const QUICK = process.argv.includes('--quick');
/** `--only W5,W6`: run just those workloads. */
const ONLY = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
const selected = (w: string): boolean => !ONLY || ONLY.some((o) => w.startsWith(o));
const SCALE = QUICK ? 0.2 : 1;
const n = (x: number): number => Math.max(1, Math.round(x * SCALE));
const DEADLINE_MS = 120_000; // per workload

interface Server {
  kind: 'ours' | 'raw';
  child: ChildProcess;
  /** The WebSocket URL of the workloads' analysis. */
  url: string;
  /** `http://host:port` */
  base: string;
}

/** The analysis a server's workloads point at (see {@link at}). */
function analysisOf(s: Server): string {
  return /\/([A-Za-z_][A-Za-z0-9_]*)\/ws$/.exec(s.url)?.[1] ?? 'bench';
}

/** The same server, with the workloads pointed at another analysis of it. */
function at(s: Server, analysis: string): Server {
  return { ...s, url: `${s.base.replace('http', 'ws')}/${analysis}/ws` };
}

/**
 * `ours`: bench/server.ts on dist/ (tsx only for that file and the bench
 * analyses); `raw`: bench/raw-server.js, plain JavaScript run by plain
 * node. `datastore`: a redis:// URL for a Redis-backed server.
 */
function startServer(kind: 'ours' | 'raw', datastore?: string): Promise<Server> {
  const memoryFlags = ['--expose-gc', '--max-old-space-size=4096'];
  const child =
    kind === 'raw'
      ? fork(new URL('./raw-server.js', import.meta.url).pathname, [], {
          execArgv: memoryFlags,
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        })
      : fork(
          new URL('./server.ts', import.meta.url).pathname,
          datastore ? [kind, datastore] : [kind],
          {
            execArgv: ['--import', 'tsx', ...memoryFlags],
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          },
        );
  return new Promise((resolve, reject) => {
    child.once('message', (m: { url: string; base: string }) =>
      resolve({ kind, child, url: m.url, base: m.base }),
    );
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
}

function memory(server: Server): Promise<{ rss: number; heap: number }> {
  return new Promise((resolve) => {
    const on = (m: { rss?: number; heap?: number; kernelRss?: number }): void => {
      if (m.rss !== undefined) {
        server.child.off('message', on);
        // a Python kernel's sessions live in its processes: count their memory too
        resolve({ rss: m.rss + (m.kernelRss ?? 0), heap: m.heap ?? NaN });
      }
    };
    server.child.on('message', on);
    server.child.send({ cmd: 'rss' });
  });
}

function guard<T>(p: Promise<T>, what: string, ms = DEADLINE_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p,
    new Promise<T>(
      (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: over ${ms} ms`)), ms)),
    ),
  ]).finally(() => clearTimeout(timer));
}

/** A page: a socket with one pending waiter for a frame that contains a marker. */
class Page {
  private waiter: { marker: string; resolve: () => void } | undefined;
  frames = 0;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames++;
      const w = this.waiter;
      if (w && (data as Buffer).toString().includes(w.marker)) {
        this.waiter = undefined;
        w.resolve();
      }
    });
  }

  static async open(url: string): Promise<Page> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const page = new Page(ws);
    const connected = page.until('"__connect"');
    ws.send('{"__connect":null}');
    await connected;
    return page;
  }

  until(marker: string): Promise<void> {
    return new Promise((resolve) => (this.waiter = { marker, resolve }));
  }

  send(signal: string, load: unknown): void {
    this.ws.send(JSON.stringify({ signal, load }));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function openPages(url: string, count: number): Promise<Page[]> {
  const pages: Page[] = [];
  for (let i = 0; i < count; i += 50) {
    pages.push(
      ...(await Promise.all(Array.from({ length: Math.min(50, count - i) }, () => Page.open(url)))),
    );
  }
  return pages;
}

// workloads -------------------------------------------------------------------

async function w1Connect(s: Server): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < n(200); i++) {
    const t0 = performance.now();
    const page = await Page.open(s.url);
    times.push(performance.now() - t0);
    await page.close();
  }
  return { p50: pct(times, 50), p99: pct(times, 99) };
}

async function roundTrips(
  s: Server,
  count: number,
  send: (p: Page, i: number) => void,
  marker: (i: number) => string,
) {
  const page = await Page.open(s.url);
  const times: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const got = page.until(marker(i));
    const t = performance.now();
    send(page, i);
    await got;
    times.push((performance.now() - t) * 1000);
  }
  const ms = performance.now() - t0;
  await page.close();
  return { total: ms, perOp: (ms / count) * 1000, p50: pct(times, 50), p99: pct(times, 99) };
}

function w2Echo(s: Server) {
  return roundTrips(
    s,
    n(5000),
    (p, i) => p.send('test_fn', [i, 2]),
    (i) => `[${i},2]`,
  );
}

function w3State(s: Server) {
  return roundTrips(
    s,
    n(5000),
    (p, i) => p.send('test_state', ['k', i]),
    (i) => `{"k":${i}}`,
  );
}

async function w4Stream(s: Server) {
  const page = await Page.open(s.url);
  const count = 20000;
  const before = page.frames;
  const gaps: number[] = [];
  let last = performance.now();
  const onFrame = (): void => {
    const now = performance.now();
    gaps.push((now - last) * 1000);
    last = now;
  };
  page.ws.on('message', onFrame);
  const t0 = performance.now();
  last = t0;
  const done = page.until('stream_done');
  page.send('stream', [count]);
  await done;
  const ms = performance.now() - t0;
  page.ws.off('message', onFrame);
  const frames = page.frames - before;
  await page.close();
  // the tail of the stream: how long the page waits between two frames at worst
  return { ms, frames, gapP50: pct(gaps, 50), gapP99: pct(gaps, 99) };
}

async function fanOut(pages: Page[], reps: number, tag: string): Promise<number[]> {
  const times: number[] = [];
  const first = pages[0];
  if (!first) return times;
  for (let r = 0; r < reps; r++) {
    const marker = `${tag}-${r}-${Math.random().toString(36).slice(2)}`;
    const all = Promise.all(pages.map((p) => p.until(marker)));
    const t0 = performance.now();
    first.send('set_shared', ['k', marker]);
    await all;
    times.push(performance.now() - t0);
  }
  return times;
}

async function w5FanOut(s: Server, count: number) {
  const pages = await openPages(s.url, count);
  const times = await fanOut(pages, n(50), `w5-${count}`);
  await Promise.all(pages.map((p) => p.close()));
  return { p50: pct(times, 50), p99: pct(times, 99) };
}

async function w6Memory(kind: Server['kind'], analysis?: string, sessions = 1000) {
  // fresh server processes, so that earlier workloads' heap does not blur the
  // figure; RSS moves in steps, so take the median of three
  const rssPerSession: number[] = [];
  const heapPerSession: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const started = await startServer(kind);
    const s = analysis ? at(started, analysis) : started;
    try {
      if (analysis) {
        // the pool's threads start with the first sessions: count them in "before"
        await Promise.all((await openPages(s.url, 2)).map((p) => p.close()));
      }
      const before = await memory(s);
      const pages = await openPages(s.url, n(sessions));
      const after = await memory(s);
      await Promise.all(pages.map((p) => p.close()));
      rssPerSession.push((after.rss - before.rss) / 1024 / pages.length);
      heapPerSession.push((after.heap - before.heap) / 1024 / pages.length);
    } finally {
      s.child.kill();
    }
  }
  return { kbPerSession: pct(rssPerSession, 50), heapKbPerSession: pct(heapPerSession, 50) };
}

async function w7Churn(s: Server) {
  const pages = await openPages(s.url, n(200));
  const before = await fanOut(pages, n(50), 'w7a');
  const churn = n(5000);
  for (let i = 0; i < churn; i += 50) {
    const batch = await openPages(s.url, Math.min(50, churn - i));
    await Promise.all(batch.map((p) => p.close()));
  }
  const after = await fanOut(pages, n(50), 'w7b');
  await Promise.all(pages.map((p) => p.close()));
  return {
    beforeP50: pct(before, 50),
    afterP50: pct(after, 50),
    afterP99: pct(after, 99),
    ratio: pct(after, 50) / pct(before, 50),
  };
}

/** One HTTP GET, timed from request to the end of the body. */
async function timedGet(url: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url);
  await res.arrayBuffer();
  return performance.now() - t0;
}

/**
 * W8: page A runs an action that computes for 2 s in a synchronous loop on
 * `analysis`; meanwhile (a) `GET /` latency, (b) the echo round trip of a
 * page on the in-process analysis, (c) how long an action of a second page of
 * `analysis` waits before it is answered.
 */
async function w8Busy(s: Server, analysis: string) {
  const target = at(s, analysis);
  const a = await Page.open(target.url);
  const b = await Page.open(target.url);
  const echo = await Page.open(at(s, 'bench').url);
  // a round trip each first: both pages have their threads and instances
  for (const p of [a, b]) {
    const got = p.until('"warm"');
    p.send('test_fn', ['warm', 0]);
    await got;
  }
  let burnt = false;
  const done = a.until('"burnt"').then(() => (burnt = true));
  a.send('burn', [2000]);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const t0 = performance.now();
  const second = b.until('"second"').then(() => performance.now() - t0);
  b.send('test_fn', ['second', 0]);
  const gets: number[] = [];
  const echoes: number[] = [];
  for (let i = 0; !burnt && i < 10_000; i++) {
    gets.push(await timedGet(s.base + '/'));
    const te = performance.now();
    const got = echo.until(`["e${i}",1]`);
    echo.send('test_fn', [`e${i}`, 1]);
    await got;
    echoes.push(performance.now() - te);
  }
  const wait = await second;
  await done;
  await Promise.all([a, b, echo].map((p) => p.close()));
  return {
    getP50: pct(gets, 50),
    getP99: pct(gets, 99),
    echoP50: pct(echoes, 50),
    echoP99: pct(echoes, 99),
    secondWait: wait,
  };
}

// Redis ----------------------------------------------------------------------

/**
 * W9: `count` pages split over two processes sharing one Redis; a page on the
 * first changes a classData key; the time until every page has it.
 */
async function w9FanOut(a: Server, b: Server, count: number) {
  const pages = [
    ...(await openPages(a.url, Math.ceil(count / 2))),
    ...(await openPages(b.url, Math.floor(count / 2))),
  ];
  const times = await fanOut(pages, n(50), `w9-${count}`);
  await Promise.all(pages.map((p) => p.close()));
  return { p50: pct(times, 50), p99: pct(times, 99) };
}

/** Redis's used_memory grown per idle session (`count` pages connected, nothing written). */
async function redisMemoryPerSession(s: Server, redisUrl: string, count: number) {
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl);
  const used = async (): Promise<number> => {
    const info = await redis.info('memory');
    return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
  };
  try {
    const before = await used();
    const pages = await openPages(s.url, count);
    const after = await used();
    await Promise.all(pages.map((p) => p.close()));
    return (after - before) / count;
  } finally {
    redis.disconnect();
  }
}

/**
 * Each side twice, alternating, the better of two kept: a fresh process and a
 * warmed one would otherwise compare JIT warm-up, not the datastore.
 */
async function warm(
  redis: () => Promise<number>,
  memory: () => Promise<number>,
  what: string,
): Promise<{ r: number; m: number }> {
  const rs: number[] = [];
  const ms: number[] = [];
  for (let i = 0; i < 2; i++) {
    rs.push(await guard(redis(), `${what} redis`));
    ms.push(await guard(memory(), `${what} memory`));
  }
  return { r: Math.min(...rs), m: Math.min(...ms) };
}

type RedisRow = [workload: string, metric: string, redis: number, memory: number, goal: string];

/** The Redis rows, beside the in-memory server in the same run; skipped without redis-server. */
async function redisSection(memoryServer: Server): Promise<RedisRow[]> {
  const rows: RedisRow[] = [];
  const wanted = ['W2 echo', 'W3 state', 'W4 stream', 'W9', 'R1'].some(selected);
  if (!wanted) return rows;
  const { existsSync } = await import('node:fs');
  const { REDIS_SERVER, startRedis } = await import('../test/redis.ts');
  if (!existsSync(REDIS_SERVER)) {
    process.stderr.write(`Redis rows skipped: no ${REDIS_SERVER} (apt-get install redis-server)\n`);
    return rows;
  }
  const redis = await startRedis();
  const a = await startServer('ours', redis.url);
  const b = await startServer('ours', redis.url);
  try {
    // the figure of a workload, on the Redis-backed server and on the in-memory one
    const paired: Array<[string, string, (s: Server) => Promise<number>, string]> = [
      ['W2 echo', 'µs/round trip', async (s) => (await w2Echo(s)).perOp, '≤ 1.5'],
      ['W3 state', 'µs/round trip', async (s) => (await w3State(s)).perOp, ''],
      ['W4 stream', 'ms to final state', async (s) => (await w4Stream(s)).ms, '≤ 1.5'],
    ];
    for (const [workload, metric, figure, goal] of paired) {
      if (!selected(workload)) continue;
      process.stderr.write(`${workload} (redis)…\n`);
      const { r, m } = await warm(
        () => figure(a),
        () => figure(memoryServer),
        workload,
      );
      rows.push([workload, metric, r, m, goal]);
    }
    if (selected('W9')) {
      process.stderr.write('W9 fan-out over 2 processes on Redis…\n');
      const count = n(1000);
      const r = await guard(w9FanOut(a, b, count), 'W9');
      const m = await guard(w5FanOut(memoryServer, count), 'W5 for W9');
      rows.push([`W9 fan-out ${count} (2 processes) vs W5`, 'p50 ms', r.p50, m.p50, '≤ 2']);
      rows.push([`W9 fan-out ${count} (2 processes) vs W5`, 'p99 ms', r.p99, m.p99, '']);
    }
    if (selected('R1')) {
      process.stderr.write('R1 Redis memory per idle session…\n');
      const bytes = await guard(redisMemoryPerSession(a, redis.url, n(1000)), 'R1');
      rows.push(['R1 idle session', 'bytes of Redis memory', bytes, NaN, '']);
    }
  } finally {
    a.child.kill();
    b.child.kill();
    await redis.stop();
  }
  return rows;
}

// main ------------------------------------------------------------------------

class Skip extends Error {}

/** One line of a table: the figures of every repetition of both sides. */
type Row = [workload: string, metric: string, ours: number[], raw: number[], goal: string];

/** Repetitions of each workload (`--reps=N`); the table shows medians and the spread of the ratio. */
const REPS = Number(process.argv.find((a) => a.startsWith('--reps='))?.slice(7) ?? (QUICK ? 1 : 3));

/**
 * Run a workload `reps` times on two servers, alternating (`raw` first), and
 * keep every figure: the tables show medians and the spread of the ratio.
 */
async function sideBySide<T>(
  what: string,
  ours: Server,
  raw: Server,
  fn: (s: Server) => Promise<T>,
  reps = REPS,
): Promise<{ ours: T[]; raw: T[] }> {
  if (!selected(what)) throw new Skip();
  process.stderr.write(`${what}…\n`);
  const out = { ours: [] as T[], raw: [] as T[] };
  for (let r = 0; r < reps; r++) {
    out.raw.push(await guard(fn(raw), `${what} (${raw.url})`));
    out.ours.push(await guard(fn(ours), `${what} (${ours.url})`));
  }
  return out;
}

function median(values: number[]): number {
  return pct(values, 50);
}

async function main(): Promise<void> {
  ensureDist();
  const servers = { ours: await startServer('ours'), raw: await startServer('raw') };
  const rows: Row[] = [];
  let redisRows: RedisRow[] = [];
  const both = <T>(what: string, fn: (s: Server) => Promise<T>, reps = REPS) =>
    sideBySide(what, servers.ours, servers.raw, fn, reps);
  const add = <T>(
    table: Row[],
    w: string,
    metric: string,
    r: { ours: T[]; raw: T[] },
    pick: (x: T) => number,
    goal = '',
  ): void => {
    table.push([w, metric, r.ours.map(pick), r.raw.map(pick), goal]);
  };
  const step = async (fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (error) {
      if (!(error instanceof Skip)) throw error;
    }
  };
  try {
    await step(async () => {
      const w1 = await both('W1 connect', w1Connect);
      add(rows, 'W1 connect', 'p50 ms', w1, (x) => x.p50);
      add(rows, 'W1 connect', 'p99 ms', w1, (x) => x.p99);
    });
    await step(async () => {
      const w2 = await both('W2 echo', w2Echo);
      add(rows, 'W2 echo', 'mean µs/round trip', w2, (x) => x.perOp, '≤ 1.3');
      add(rows, 'W2 echo', 'p50 µs', w2, (x) => x.p50);
      add(rows, 'W2 echo', 'p99 µs', w2, (x) => x.p99, '≤ 1.5');
    });
    await step(async () => {
      const w3 = await both('W3 state', w3State);
      add(rows, 'W3 state', 'mean µs/round trip', w3, (x) => x.perOp, '≤ 1.3');
      add(rows, 'W3 state', 'p50 µs', w3, (x) => x.p50, '≤ 1.3');
      add(rows, 'W3 state', 'p99 µs', w3, (x) => x.p99, '≤ 1.5');
    });
    await step(async () => {
      const w4 = await both('W4 stream', w4Stream);
      add(rows, 'W4 stream', 'ms to final state', w4, (x) => x.ms, '≤ 1.0');
      add(rows, 'W4 stream', 'gap between frames p50 µs', w4, (x) => x.gapP50);
      add(rows, 'W4 stream', 'gap between frames p99 µs', w4, (x) => x.gapP99);
      add(rows, 'W4 stream', 'frames received', w4, (x) => x.frames);
    });
    await step(async () => {
      const w5a = await both('W5 fan-out 200', (s) => w5FanOut(s, n(200)));
      add(rows, 'W5 fan-out 200', 'p50 ms', w5a, (x) => x.p50);
      add(rows, 'W5 fan-out 200', 'p99 ms', w5a, (x) => x.p99);
    });
    await step(async () => {
      const w5b = await both('W5 fan-out 1000', (s) => w5FanOut(s, n(1000)));
      add(rows, 'W5 fan-out 1000', 'p50 ms', w5b, (x) => x.p50, '≤ 1.3');
      add(rows, 'W5 fan-out 1000', 'p99 ms', w5b, (x) => x.p99);
    });
    await step(async () => {
      // fresh processes, median of three inside: one repetition
      for (const count of [1000, 3000]) {
        const w6 = await both(`W6 memory ${count}`, (s) => w6Memory(s.kind, undefined, count), 1);
        add(rows, `W6 memory ${count}`, 'KiB RSS/session', w6, (x) => x.kbPerSession, '≤ 1.3');
        add(rows, `W6 memory ${count}`, 'KiB JS heap/session', w6, (x) => x.heapKbPerSession);
      }
    });
    await step(async () => {
      redisRows = await redisSection(servers.ours);
    });
    await step(async () => {
      const w7 = await both('W7 churn', w7Churn);
      add(rows, 'W7 churn', 'fan-out p50 before ms', w7, (x) => x.beforeP50);
      add(rows, 'W7 churn', 'fan-out p50 after ms', w7, (x) => x.afterP50);
      add(rows, 'W7 churn', 'fan-out p99 after ms', w7, (x) => x.afterP99);
      add(rows, 'W7 churn', 'after/before', w7, (x) => x.ratio, 'ours ≤ 1.2');
    });
    await step(async () => {
      // fresh processes of `node bin/databench.js` (dist/) against a plain-node raw server
      if (!selected('S start-up')) throw new Skip();
      const { startupRows } = await import('./startup.ts');
      rows.push(...(await startupRows(QUICK ? 3 : 5)));
    });
  } finally {
    servers.raw.child.kill();
  }
  // the kernel boundary: the same analysis in-process and in worker threads
  const kernelRows: Row[] = [];
  /** W10 (bench/w10-deltas.ts): its own table, on the same server. */
  let w10Lines: string[] = [];
  const pyRows: Row[] = [];
  const ours = servers.ours;
  /** `ours` is the worker side, `raw` the in-process side (the columns of the second table). */
  const pair = <T>(what: string, fn: (s: Server) => Promise<T>, reps = REPS) =>
    sideBySide(what, at(ours, 'bench_worker'), at(ours, 'bench'), fn, reps);
  try {
    await step(async () => {
      const w2 = await pair('K W2 echo', w2Echo);
      add(kernelRows, 'W2 echo', 'mean µs/round trip', w2, (x) => x.perOp, '≤ 1.5');
      add(kernelRows, 'W2 echo', 'p99 µs', w2, (x) => x.p99);
    });
    await step(async () => {
      const w4 = await pair('K W4 stream', w4Stream);
      add(kernelRows, 'W4 stream', 'ms to final state', w4, (x) => x.ms, '≤ 1.5');
      add(kernelRows, 'W4 stream', 'gap between frames p99 µs', w4, (x) => x.gapP99);
      add(kernelRows, 'W4 stream', 'frames received', w4, (x) => x.frames);
    });
    await step(async () => {
      const w6 = await pair('K W6 memory', (s) => w6Memory('ours', analysisOf(s)), 1);
      add(kernelRows, 'W6 memory', 'KiB RSS/idle session', w6, (x) => x.kbPerSession);
    });
    await step(async () => {
      const w8 = await pair('W8 busy', (s) => w8Busy(s, analysisOf(s)));
      add(kernelRows, 'W8 (a) GET / during 2 s CPU', 'p50 ms', w8, (x) => x.getP50);
      add(kernelRows, 'W8 (a) GET / during 2 s CPU', 'p99 ms', w8, (x) => x.getP99, 'worker < 50');
      add(kernelRows, 'W8 (b) in-process echo', 'p50 ms', w8, (x) => x.echoP50);
      add(kernelRows, 'W8 (b) in-process echo', 'p99 ms', w8, (x) => x.echoP99, 'worker < 10');
      add(kernelRows, 'W8 (c) 2nd page waits', 'ms', w8, (x) => x.secondWait, 'worker < 100');
    });
    // the same workloads in a Python kernel process (`kernel: py`), against in-process
    const pyPair = <T>(what: string, fn: (s: Server) => Promise<T>, reps = REPS) =>
      sideBySide(what, at(ours, 'bench_py'), at(ours, 'bench'), fn, reps);
    await step(async () => {
      const w2 = await pyPair('P W2 echo', w2Echo);
      add(pyRows, 'W2 echo', 'mean µs/round trip', w2, (x) => x.perOp, '≤ 3');
      add(pyRows, 'W2 echo', 'p99 µs', w2, (x) => x.p99);
    });
    await step(async () => {
      const w4 = await pyPair('P W4 stream', w4Stream);
      add(pyRows, 'W4 stream', 'ms to final state', w4, (x) => x.ms, '≤ 3');
      add(pyRows, 'W4 stream', 'gap between frames p99 µs', w4, (x) => x.gapP99);
      add(pyRows, 'W4 stream', 'frames received', w4, (x) => x.frames);
    });
    await step(async () => {
      const m = await pyPair('P W6 memory', (s) => w6Memory('ours', analysisOf(s)), 1);
      add(pyRows, 'W6 memory', 'KiB RSS/idle session (server + Python)', m, (x) => x.kbPerSession);
    });
    await step(async () => {
      if (!selected('P start')) throw new Skip();
      process.stderr.write('P start…\n');
      const { PythonKernel } = await import('../src/kernel/python/python-kernel.ts');
      const { createLogger } = await import('../src/util/logger.ts');
      const file = new URL('./analyses/bench_py/analysis.py', import.meta.url).pathname;
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const k = await PythonKernel.create({
          name: 'bench_py',
          file,
          routes: [],
          cliArgs: [],
          logger: createLogger('error'),
        });
        times.push(performance.now() - t0);
        await k.dispose();
      }
      pyRows.push(['process start', 'ms to ready (5 starts)', times, times.map(() => NaN), '']);
    });
    await step(async () => {
      const w8 = await pyPair('P W8 busy', (s) =>
        w8Busy(s, s.url.includes('bench_py') ? 'bench_py' : 'bench'),
      );
      add(pyRows, 'W8 (a) GET / during 2 s CPU', 'p99 ms', w8, (x) => x.getP99, 'py < 50');
      add(pyRows, 'W8 (b) in-process echo', 'p99 ms', w8, (x) => x.echoP99, 'py < 10');
      add(pyRows, 'W8 (c) 2nd page waits', 'ms', w8, (x) => x.secondWait, '(one process: waits)');
    });
    await step(async () => {
      if (!selected('W10')) throw new Skip();
      const { w10Section } = await import('./w10-deltas.ts');
      w10Lines = await w10Section(ours.base, SCALE);
    });
  } finally {
    ours.child.kill();
  }
  const fmt = (x: number): string =>
    x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(3);
  /** Medians, their ratio, and the lowest and highest ratio of one repetition. */
  const line = ([w, m, o, r, g]: Row): string => {
    const ratios = o.map((x, i) => x / (r[i] ?? NaN));
    const spread =
      ratios.length > 1
        ? `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`
        : '';
    return `| ${w} | ${m} | ${fmt(median(o))} | ${fmt(median(r))} | ${(median(o) / median(r)).toFixed(2)} | ${spread} | ${g} |`;
  };
  const lines = [
    `databench bench${QUICK ? ' (--quick: counts scaled by 0.2)' : ''}, node ${process.version}, ${REPS} repetition(s): medians; spread is the lowest–highest ratio of one repetition`,
    '',
    '| workload | metric | ours | raw ws | ours/raw | spread | goal |',
    '|---|---|---:|---:|---:|---|---|',
    ...rows.map(line),
  ];
  if (kernelRows.length > 0) {
    lines.push(
      '',
      'The kernel boundary: the same analysis in worker threads (`kernel: worker`) and in-process',
      '',
      '| workload | metric | worker | in-process | worker/in-process | spread | goal |',
      '|---|---|---:|---:|---:|---|---|',
      ...kernelRows.map(line),
    );
  }
  if (pyRows.length > 0) {
    lines.push(
      '',
      'A Python kernel (`kernel: py`, one process) against the TypeScript analysis in-process',
      '',
      '| workload | metric | py | in-process | py/in-process | spread | goal |',
      '|---|---|---:|---:|---:|---|---|',
      ...pyRows.map(line),
    );
  }
  lines.push(...w10Lines);
  if (redisRows.length > 0) {
    lines.push(
      '',
      'Redis-backed (redis-server on this machine) beside the in-memory server, same run:',
      '',
      '| workload | metric | redis | memory | redis/memory | goal |',
      '|---|---|---:|---:|---:|---|',
      ...redisRows.map(
        ([w, m, r, o, g]) =>
          `| ${w} | ${m} | ${fmt(r)} | ${Number.isNaN(o) ? '' : fmt(o)} | ${Number.isNaN(o) ? '' : (r / o).toFixed(2)} | ${g} |`,
      ),
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}

await main();
