// npm run bench: the workloads W1–W9 against every target in one run: the
// raw `ws` server, ours (dist/) with the bench analysis in-process, in worker
// threads and in a Python kernel, and the original databench 0.7.3 when
// DATABENCH_ORIGINAL names a checkout of it (bench/original.ts). Each
// workload starts fresh servers, then repeats itself, the targets taking turns
// within every repetition (the first one rotates), so that a ratio is taken
// between figures measured next to each other; the tables show medians over
// the repetitions and each ratio's interquartile range. Servers run in child
// processes; this process is the pages (bench/client.ts). Every loop is
// bounded in count and time.
// Usage: npm run bench [-- --quick] [--only=W2,S] [--reps=N] [--json=FILE] [--docs]
// (S: the start-up rows, see startup.ts; U: the upload rows, see upload.ts)
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  FanOut,
  Page,
  clientGc,
  closeAll,
  measuring,
  openPages,
  roundTrips,
  stream,
  echoFrame,
  isEcho,
  isState,
  loadOf,
  stateFrame,
  type Frame,
} from './client.ts';
import { ensureDist } from './dist.ts';
import { writeDocs } from './docs.ts';
import { report, type Report } from './report.ts';
import { originalTarget, startTarget, useRedis, type Server, type TargetKey } from './servers.ts';
import { mean, pct } from './stats.ts';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined =>
  argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const QUICK = argv.includes('--quick');
/** `--only=W5,W6`: run just the workloads whose names start so. */
const ONLY = flag('only')?.split(',');
const selected = (w: string): boolean => !ONLY || ONLY.some((o) => w.startsWith(o));
const SCALE = QUICK ? 0.2 : 1;
const n = (x: number): number => Math.max(1, Math.round(x * SCALE));
const REPS = flag('reps') === undefined ? undefined : Number(flag('reps'));
/** Repetitions of a workload: its own default, `--reps=N` for every one, fewer with --quick. */
const reps = (x: number): number => REPS ?? (QUICK ? Math.max(2, Math.round(x / 4)) : x);
const DEADLINE_MS = 120_000; // per repetition of one target

function guard<T>(p: Promise<T>, what: string, ms = DEADLINE_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p,
    new Promise<T>(
      (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: over ${ms} ms`)), ms)),
    ),
  ]).finally(() => clearTimeout(timer));
}

// results --------------------------------------------------------------------

/** Figures of one repetition of one target: metric → value. */
type Figures = Record<string, number>;
/** workload → metric → target → one figure per repetition (paired by index across targets). */
export type Results = Map<string, Map<string, Map<TargetKey, number[]>>>;
const results: Results = new Map();

function record(workload: string, target: TargetKey, figures: Figures): void {
  let metrics = results.get(workload);
  if (!metrics) results.set(workload, (metrics = new Map<string, Map<TargetKey, number[]>>()));
  for (const [metric, value] of Object.entries(figures)) {
    if (Number.isNaN(value)) continue;
    let byTarget = metrics.get(metric);
    if (!byTarget) metrics.set(metric, (byTarget = new Map<TargetKey, number[]>()));
    const values = byTarget.get(target) ?? [];
    values.push(value);
    byTarget.set(target, values);
  }
}

/** The load average (1 min) when each workload started. */
const loads: number[] = [];
/** The client's GC pauses during each workload's timed parts. */
const gcs: Record<string, { count: number; ms: number }> = {};
/** Seconds each workload took, servers' start and stop included. */
const seconds: Record<string, number> = {};

/**
 * A full collection in the client before a workload's timed part (the npm
 * script runs node with --expose-gc), so that what opening pages left in the
 * old generation is not collected in the middle of a timed loop.
 */
function collectClientGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

// the driver -------------------------------------------------------------------

/** A workload: what each target's server gets set up with, and one repetition. */
interface Workload<S> {
  name: string;
  targets: TargetKey[];
  reps: number;
  /** `rep`: a fresh server for every repetition (memory); default: one per workload. */
  freshPerRep?: boolean;
  /** Open pages, warm up (not timed). */
  setup(server: Server): Promise<S>;
  /**
   * Turns a repetition is split into (default 1): in each turn every target
   * runs its share, so that the figures of two targets come from the same
   * stretch of time even when the machine's load changes within seconds.
   */
  turns?: number;
  /** One turn of a repetition on one target; after the last turn, the repetition's figures. */
  rep(state: S, server: Server, turn: number): Promise<Figures | undefined>;
  teardown(state: S): Promise<void>;
}

/** The targets that can run here (the original only with DATABENCH_ORIGINAL). */
function runnable(targets: TargetKey[]): TargetKey[] {
  return targets.filter((t) => t !== 'orig' || originalTarget().ok);
}

/**
 * Run `w`: fresh servers, then its repetitions, every target once in each
 * turn of each, the first target rotating from one turn to the next.
 */
async function run<S>(w: Workload<S>): Promise<void> {
  if (!selected(w.name)) return;
  const targets = runnable(w.targets);
  process.stderr.write(`${w.name} (${targets.join(', ')}; ${w.reps} repetitions)…\n`);
  loads.push(loadavg()[0]!);
  const once = async (key: TargetKey): Promise<Figures> => {
    const server = await startTarget(key);
    try {
      const state = await guard(w.setup(server), `${w.name} setup (${key})`);
      collectClientGarbage();
      const figures = await measuring(() => guard(w.rep(state, server, 0), `${w.name} (${key})`));
      await w.teardown(state);
      return figures ?? {};
    } finally {
      await server.stop();
    }
  };
  const servers = new Map<TargetKey, Server>();
  const states = new Map<TargetKey, S>();
  const started = performance.now();
  try {
    if (!w.freshPerRep) {
      for (const key of targets) {
        const server = await startTarget(key);
        servers.set(key, server);
        states.set(key, await guard(w.setup(server), `${w.name} setup (${key})`));
      }
      collectClientGarbage();
    }
    const turns = w.freshPerRep ? 1 : (w.turns ?? 1);
    for (let r = 0, first = 0; r < w.reps; r++) {
      for (let turn = 0; turn < turns; turn++, first++) {
        for (let j = 0; j < targets.length; j++) {
          const key = targets[(j + first) % targets.length]!;
          const figures = w.freshPerRep
            ? await once(key)
            : await measuring(() =>
                guard(w.rep(states.get(key)!, servers.get(key)!, turn), `${w.name} (${key})`),
              );
          if (figures) record(w.name, key, figures);
        }
      }
    }
  } finally {
    for (const state of states.values()) await w.teardown(state);
    for (const server of servers.values()) await server.stop();
  }
  gcs[w.name] = await clientGc(started, performance.now());
  seconds[w.name] = (performance.now() - started) / 1000;
}

// workloads --------------------------------------------------------------------

const ALL: TargetKey[] = ['orig', 'raw', 'ts', 'worker', 'py'];

function w1Connect(): Workload<null> {
  return {
    name: 'W1 connect',
    targets: ['raw', 'ts'],
    reps: reps(5),
    setup: async () => null,
    rep: async (_, s) => {
      const times: number[] = [];
      for (let i = 0; i < n(40); i++) {
        const t0 = performance.now();
        const page = await Page.open(s.url);
        times.push(performance.now() - t0);
        await page.close();
      }
      return { 'p50 ms': pct(times, 50), 'p99 ms': pct(times, 99) };
    },
    teardown: async () => undefined,
  };
}

/** Round trips before the timed ones, on every target (the JIT of both ends). */
const WARM_ROUND_TRIPS = 500;

/**
 * `count` round trips of one page per repetition: the frames sent (built
 * once, the same for every target) and how a reply is recognised.
 */
function roundTripWorkload(
  name: string,
  targets: TargetKey[],
  count: number,
  turns: number,
  frame: (i: number) => string,
  isReply: (f: Frame, i: number) => boolean,
  repetitions: number,
): Workload<{ page: Page; times: Float64Array }> {
  const perTurn = Math.ceil(count / turns);
  const frames = Array.from({ length: Math.max(perTurn, WARM_ROUND_TRIPS) }, (_, i) =>
    Buffer.from(frame(i)),
  );
  return {
    name,
    targets,
    reps: repetitions,
    turns,
    setup: async (s) => {
      const page = await Page.open(s.url);
      await roundTrips(page, frames, isReply, new Float64Array(WARM_ROUND_TRIPS));
      return { page, times: new Float64Array(perTurn * turns) };
    },
    rep: async ({ page, times }, _, turn) => {
      await roundTrips(page, frames, isReply, times.subarray(turn * perTurn, (turn + 1) * perTurn));
      if (turn < turns - 1) return undefined;
      return {
        'mean µs': mean(times),
        'p50 µs': pct(times, 50),
        'p99 µs': pct(times, 99),
      };
    },
    teardown: ({ page }) => page.close(),
  };
}

function w2Echo(): Workload<{ page: Page; times: Float64Array }> {
  return roundTripWorkload('W2 echo', ALL, n(1000), 10, echoFrame, isEcho, reps(21));
}

function w3State(): Workload<{ page: Page; times: Float64Array }> {
  return roundTripWorkload('W3 state', ALL, n(1000), 10, stateFrame, isState, reps(21));
}

const STREAM = 20000;

function w4Stream(): Workload<{ page: Page; gaps: Float64Array }> {
  const count = n(STREAM);
  return {
    name: 'W4 stream',
    targets: ALL,
    reps: reps(9),
    setup: async (s) => {
      const page = await Page.open(s.url);
      const gaps = new Float64Array(count + 2);
      await stream(
        page,
        `{"signal":"stream","load":[${Math.ceil(count / 10)}]}`,
        'stream_done',
        gaps,
      );
      return { page, gaps };
    },
    rep: async ({ page, gaps }) => {
      const r = await stream(page, `{"signal":"stream","load":[${count}]}`, 'stream_done', gaps);
      const seen = gaps.subarray(0, Math.min(r.frames, gaps.length));
      return {
        'ms to final state': r.ms,
        'gap between frames p50 µs': pct(seen, 50),
        'gap between frames p99 µs': pct(seen, 99),
        'frames received': r.frames,
      };
    },
    teardown: ({ page }) => page.close(),
  };
}

/** Values for `set_shared`: new every time (an unchanged value sends nothing). */
let shared = 0;

function w5FanOut(pages: number, targets: TargetKey[]): Workload<{ pages: Page[]; fan: FanOut }> {
  const perRep = n(20);
  const count = n(pages);
  return {
    name: `W5 fan-out ${pages}`,
    targets,
    reps: reps(9),
    setup: async (s) => {
      const pages = await openPages(s.url, count);
      const fan = new FanOut(pages, 'k');
      for (let i = 0; i < 3; i++) await fan.run(++shared);
      return { pages, fan };
    },
    rep: async ({ fan }) => {
      const times: number[] = [];
      for (let i = 0; i < perRep; i++) times.push(await fan.run(++shared));
      return { 'p50 ms': pct(times, 50), 'p99 ms': pct(times, 99) };
    },
    teardown: async ({ pages, fan }) => {
      fan.release();
      await closeAll(pages);
    },
  };
}

const MiB = 1024 * 1024;

/** W6: a fresh server each repetition; RSS after start, and per idle session. */
function w6Memory(
  sessions: number,
  targets: TargetKey[],
): Workload<{ before: { rss: number; heap: number } }> {
  const count = n(sessions);
  return {
    name: `W6 memory ${sessions}`,
    targets,
    reps: reps(5),
    freshPerRep: true,
    setup: async (s) => {
      // what the first sessions load (a worker pool's threads among them) counts as the server's
      await closeAll(await openPages(s.url, 2));
      return { before: await s.memory() };
    },
    rep: async ({ before }, s) => {
      const pages = await openPages(s.url, count);
      const after = await s.memory();
      await closeAll(pages);
      return {
        'MB RSS of a fresh server': before.rss / MiB,
        'KiB RSS/idle session': (after.rss - before.rss) / 1024 / count,
        'KiB JS heap/idle session': (after.heap - before.heap) / 1024 / count,
      };
    },
    teardown: async () => undefined,
  };
}

function w7Churn(): Workload<null> {
  return {
    name: 'W7 churn',
    targets: ['raw', 'ts'],
    reps: reps(3),
    setup: async () => null,
    rep: async (_, s) => {
      const pages = await openPages(s.url, n(200));
      const fan = new FanOut(pages, 'k');
      for (let i = 0; i < 3; i++) await fan.run(++shared);
      const fanOuts = async (): Promise<number[]> => {
        const times: number[] = [];
        for (let i = 0; i < n(30); i++) times.push(await fan.run(++shared));
        return times;
      };
      const before = await fanOuts();
      const churn = n(5000);
      for (let i = 0; i < churn; i += 50) {
        await closeAll(await openPages(s.url, Math.min(50, churn - i)));
      }
      const after = await fanOuts();
      fan.release();
      await closeAll(pages);
      return {
        'fan-out p50 before ms': pct(before, 50),
        'fan-out p50 after ms': pct(after, 50),
        'fan-out p99 after ms': pct(after, 99),
        'after/before': pct(after, 50) / pct(before, 50),
      };
    },
    teardown: async () => undefined,
  };
}

/** One HTTP GET, timed from request to the end of the body. */
async function timedGet(url: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url);
  await res.arrayBuffer();
  return performance.now() - t0;
}

/** One echo round trip of `page` (untimed steps: a Promise each is fine). */
async function echo(page: Page, tag: string): Promise<void> {
  const got = page.next((f) => f.signal === 'test_fn' && loadOf(f)?.[0] === tag);
  page.send('test_fn', [tag, 1]);
  await got;
}

/**
 * W8: page A runs an action that computes for 2 s in a synchronous loop on
 * the target's analysis; meanwhile (a) `GET /` latency, (b) the echo round
 * trip of a page on the in-process analysis, (c) how long an action of a
 * second page of the target's analysis waits before it is answered.
 */
function w8Busy(): Workload<null> {
  return {
    name: 'W8 busy',
    targets: ['ts', 'worker', 'py'],
    reps: reps(3),
    setup: async () => null,
    rep: async (_, s) => {
      const a = await Page.open(s.url);
      const b = await Page.open(s.url);
      const other = await Page.open(s.urlOf('bench'));
      // a round trip each first: both pages have their threads and instances
      for (const p of [a, b]) await echo(p, 'warm');
      let burnt = false;
      const done = a.next((f) => f.signal === 'burnt').then(() => (burnt = true));
      a.send('burn', [2000]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const t0 = performance.now();
      const second = echo(b, 'second').then(() => performance.now() - t0);
      const gets: number[] = [];
      const echoes: number[] = [];
      for (let i = 0; !burnt && i < 10_000; i++) {
        gets.push(await timedGet(s.base + '/'));
        const te = performance.now();
        await echo(other, `e${i}`);
        echoes.push(performance.now() - te);
      }
      const wait = await second;
      await done;
      await closeAll([a, b, other]);
      return {
        '(a) GET / during 2 s CPU p50 ms': pct(gets, 50),
        '(a) GET / during 2 s CPU p99 ms': pct(gets, 99),
        '(b) echo of another analysis p50 ms': pct(echoes, 50),
        '(b) echo of another analysis p99 ms': pct(echoes, 99),
        '(c) a 2nd page of the analysis waits ms': wait,
      };
    },
    teardown: async () => undefined,
  };
}

// Redis ----------------------------------------------------------------------

/** Why the Redis workloads did not run, when they did not. */
let redisNote: string | undefined;

/**
 * W9: 1000 pages split over two processes sharing one Redis (target
 * `redis`) against 1000 pages on one in-memory process (`ts`); a page of the
 * first changes a classData key: the time until every page has it. The two
 * take turns, 20 fan-outs each per repetition.
 */
async function w9FanOut(): Promise<void> {
  const name = 'W9 fan-out 1000';
  if (!selected(name)) return;
  process.stderr.write(`${name} (redis: 2 processes, ts: 1)…\n`);
  loads.push(loadavg()[0]!);
  const count = n(1000);
  const started = performance.now();
  const a = await startTarget('redis');
  const b = await startTarget('redis');
  const one = await startTarget('ts');
  const pages: Page[] = [];
  try {
    const split = await openPages(a.url, Math.ceil(count / 2));
    split.push(...(await openPages(b.url, Math.floor(count / 2))));
    const single = await openPages(one.url, count);
    pages.push(...split, ...single);
    const fans: Array<[TargetKey, FanOut]> = [
      ['redis', new FanOut(split, 'k')],
      ['ts', new FanOut(single, 'k')],
    ];
    for (const [, fan] of fans) for (let i = 0; i < 3; i++) await fan.run(++shared);
    collectClientGarbage();
    for (let r = 0; r < reps(9); r++) {
      for (let j = 0; j < fans.length; j++) {
        const [key, fan] = fans[(j + r) % fans.length]!;
        const times: number[] = [];
        await measuring(async () => {
          for (let i = 0; i < n(20); i++) times.push(await guard(fan.run(++shared), name));
        });
        record(name, key, { 'p50 ms': pct(times, 50), 'p99 ms': pct(times, 99) });
      }
    }
    for (const [, fan] of fans) fan.release();
  } finally {
    await closeAll(pages);
    for (const s of [a, b, one]) await s.stop();
  }
  gcs[name] = await clientGc(started, performance.now());
  seconds[name] = (performance.now() - started) / 1000;
}

/** R1: Redis's used_memory grown per idle session (1000 pages connected, nothing written). */
async function r1RedisMemory(redisUrl: string): Promise<void> {
  const name = 'R1 idle session';
  if (!selected(name)) return;
  process.stderr.write(`${name}…\n`);
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl);
  const s = await startTarget('redis');
  const used = async (): Promise<number> => {
    const info = await redis.info('memory');
    return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
  };
  try {
    const count = n(1000);
    const before = await used();
    const pages = await openPages(s.url, count);
    const after = await used();
    await closeAll(pages);
    record(name, 'redis', { 'bytes of Redis memory/idle session': (after - before) / count });
  } finally {
    redis.disconnect();
    await s.stop();
  }
}

/** The Redis workloads, beside ours in memory; skipped without redis-server. */
async function redisSection(): Promise<void> {
  if (!['R', 'W9'].some(selected)) return;
  const { existsSync } = await import('node:fs');
  const { REDIS_SERVER, startRedis } = await import('../test/redis.ts');
  if (!existsSync(REDIS_SERVER)) {
    redisNote = `no ${REDIS_SERVER} (apt-get install redis-server)`;
    return;
  }
  const redis = await startRedis();
  useRedis(redis.url);
  try {
    const pair: TargetKey[] = ['ts', 'redis'];
    await run(roundTripWorkload('R W2 echo', pair, n(1000), 10, echoFrame, isEcho, reps(9)));
    await run(roundTripWorkload('R W3 state', pair, n(1000), 10, stateFrame, isState, reps(9)));
    await run({ ...w4Stream(), name: 'R W4 stream', targets: pair, reps: reps(5) });
    await w9FanOut();
    await r1RedisMemory(redis.url);
  } finally {
    useRedis(undefined);
    await redis.stop();
  }
}

// the Python kernel's start ----------------------------------------------------

async function pythonStart(): Promise<void> {
  if (!selected('P start')) return;
  process.stderr.write('P start…\n');
  const { PythonKernel } = await import('../src/kernel/python/python-kernel.ts');
  const { createLogger } = await import('../src/util/logger.ts');
  const file = new URL('./analyses/bench_py/analysis.py', import.meta.url).pathname;
  // a kernel's process never keeps its host alive (unref'd): this timer does, until it has exited
  const alive = setInterval(() => undefined, 1000);
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const k = await PythonKernel.create({
      name: 'bench_py',
      file,
      routes: [],
      cliArgs: [],
      logger: createLogger('error'),
    });
    record('P start', 'py', { 'ms to ready': performance.now() - t0 });
    await k.dispose();
  }
  clearInterval(alive);
}

/** U: a file uploaded to an action's handler (three kernels) against a plain HTTP POST. */
async function uploadSection(): Promise<void> {
  if (!selected('U upload')) return;
  const server = await startTarget('ts');
  try {
    const { uploadRows } = await import('./upload.ts');
    for (const [workload, metric, ours, post] of await uploadRows(
      server.base,
      QUICK ? 8 : 32,
      QUICK ? 2 : 3,
    )) {
      ours.forEach((v, i) => {
        record(workload, 'ts', { [metric]: v });
        record(workload, 'raw', { [metric]: post[i]! });
      });
    }
  } finally {
    await server.stop();
  }
}

// main ------------------------------------------------------------------------

async function main(): Promise<void> {
  ensureDist();
  const started = new Date();
  const t0 = performance.now();
  const loadAtStart = loadavg();
  await run(w1Connect());
  await run(w2Echo());
  await run(w3State());
  await run(w4Stream());
  await run(w5FanOut(200, ['orig', 'raw', 'ts', 'py']));
  await run(w5FanOut(1000, ['orig', 'raw', 'ts', 'py']));
  await run(w6Memory(1000, ALL));
  await run(w6Memory(3000, ['raw', 'ts']));
  await run(w7Churn());
  await run(w8Busy());
  await pythonStart();
  await uploadSection();
  await redisSection();
  if (selected('S start-up')) {
    loads.push(loadavg()[0]!);
    const t = performance.now();
    const { startupRows } = await import('./startup.ts');
    for (const [workload, metric, ours, raw] of await startupRows(QUICK ? 3 : 5)) {
      ours.forEach((v, i) => {
        record(workload, 'ts', { [metric]: v });
        record(workload, 'raw', { [metric]: raw[i]! });
      });
    }
    seconds['start-up'] = (performance.now() - t) / 1000;
  }
  /** W10 (bench/w10-deltas.ts): its own table, on a fresh in-process server. */
  let w10: string[] = [];
  if (selected('W10')) {
    const server = await startTarget('ts');
    try {
      const { w10Section } = await import('./w10-deltas.ts');
      w10 = await w10Section(server.base, SCALE);
    } finally {
      await server.stop();
    }
  }
  const original = originalTarget();
  const out: Report = {
    date: started.toISOString(),
    node: process.version,
    cpu: `${cpus()[0]?.model ?? '?'} × ${cpus().length}`,
    load: { start: loadAtStart, end: loadavg(), perWorkload: loads },
    wallSeconds: (performance.now() - t0) / 1000,
    quick: QUICK,
    original: original.ok
      ? { ran: true, text: `${original.version} (${original.checkout})` }
      : { ran: false, text: original.reason },
    clientGc: gcs,
    results: Object.fromEntries(
      [...results].map(([w, metrics]) => [
        w,
        Object.fromEntries([...metrics].map(([m, byTarget]) => [m, Object.fromEntries(byTarget)])),
      ]),
    ),
    ...(redisNote ? { redisNote } : {}),
    seconds,
  };
  const markdown = [report(out), ...w10].join('\n');
  process.stdout.write(markdown + '\n');
  const json = flag('json');
  if (json) writeFileSync(json, JSON.stringify(out, null, 1) + '\n');
  if (argv.includes('--docs')) writeDocs(markdown);
}

await main();
