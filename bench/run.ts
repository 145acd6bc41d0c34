// npm run bench: the workloads of issue 3 against our server and, in the same
// run, a raw `ws` server answering the same protocol. Servers run in child
// processes; this process is the pages. Every loop is bounded in count and time.
// Usage: npm run bench [-- --quick]
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

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

/** The same server, with the workloads pointed at another analysis of it. */
function at(s: Server, analysis: string): Server {
  return { ...s, url: `${s.base.replace('http', 'ws')}/${analysis}/ws` };
}

function startServer(kind: 'ours' | 'raw'): Promise<Server> {
  const child = fork(new URL('./server.ts', import.meta.url).pathname, [kind], {
    execArgv: [
      '--conditions=databench-source',
      '--import',
      'tsx',
      '--expose-gc',
      '--max-old-space-size=4096',
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
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
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const got = page.until(marker(i));
    send(page, i);
    await got;
  }
  const ms = performance.now() - t0;
  await page.close();
  return { total: ms, perOp: (ms / count) * 1000 };
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
  const t0 = performance.now();
  const done = page.until('stream_done');
  page.send('stream', [count]);
  await done;
  const ms = performance.now() - t0;
  const frames = page.frames - before;
  await page.close();
  return { ms, frames };
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

async function w6Memory(kind: Server['kind'], analysis?: string) {
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
      const pages = await openPages(s.url, n(1000));
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

// main ------------------------------------------------------------------------

class Skip extends Error {}

type Row = [workload: string, metric: string, ours: number, raw: number, goal: string];

async function main(): Promise<void> {
  const servers = { ours: await startServer('ours'), raw: await startServer('raw') };
  const rows: Row[] = [];
  const both = async <T>(
    what: string,
    fn: (s: Server) => Promise<T>,
  ): Promise<{ ours: T; raw: T }> => {
    if (!selected(what)) throw new Skip();
    process.stderr.write(`${what}…\n`);
    const raw = await guard(fn(servers.raw), `${what} (raw)`);
    const ours = await guard(fn(servers.ours), `${what} (ours)`);
    return { ours, raw };
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
      rows.push(['W1 connect', 'p50 ms', w1.ours.p50, w1.raw.p50, '']);
      rows.push(['W1 connect', 'p99 ms', w1.ours.p99, w1.raw.p99, '']);
    });
    await step(async () => {
      const w2 = await both('W2 echo', w2Echo);
      rows.push(['W2 echo', 'µs/round trip', w2.ours.perOp, w2.raw.perOp, '≤ 1.3']);
    });
    await step(async () => {
      const w3 = await both('W3 state', w3State);
      rows.push(['W3 state', 'µs/round trip', w3.ours.perOp, w3.raw.perOp, '≤ 1.3']);
    });
    await step(async () => {
      const w4 = await both('W4 stream', w4Stream);
      rows.push(['W4 stream', 'ms to final state', w4.ours.ms, w4.raw.ms, '≤ 1.5']);
      rows.push(['W4 stream', 'frames received', w4.ours.frames, w4.raw.frames, '']);
    });
    await step(async () => {
      const w5a = await both('W5 fan-out 200', (s) => w5FanOut(s, n(200)));
      rows.push(['W5 fan-out 200', 'p50 ms', w5a.ours.p50, w5a.raw.p50, '']);
    });
    await step(async () => {
      const w5b = await both('W5 fan-out 1000', (s) => w5FanOut(s, n(1000)));
      rows.push(['W5 fan-out 1000', 'p50 ms', w5b.ours.p50, w5b.raw.p50, '≤ 1.3']);
      rows.push(['W5 fan-out 1000', 'p99 ms', w5b.ours.p99, w5b.raw.p99, '']);
    });
    await step(async () => {
      const w6 = await both('W6 memory', (s) => w6Memory(s.kind));
      rows.push([
        'W6 memory',
        'KiB RSS/session',
        w6.ours.kbPerSession,
        w6.raw.kbPerSession,
        '≤ 1.3',
      ]);
      rows.push([
        'W6 memory',
        'KiB JS heap/session',
        w6.ours.heapKbPerSession,
        w6.raw.heapKbPerSession,
        '',
      ]);
    });
    await step(async () => {
      const w7 = await both('W7 churn', w7Churn);
      rows.push(['W7 churn', 'fan-out p50 before ms', w7.ours.beforeP50, w7.raw.beforeP50, '']);
      rows.push(['W7 churn', 'fan-out p50 after ms', w7.ours.afterP50, w7.raw.afterP50, '']);
      rows.push(['W7 churn', 'after/before', w7.ours.ratio, w7.raw.ratio, 'ours ≤ 1.2']);
    });
  } finally {
    servers.raw.child.kill();
  }
  // the kernel boundary: the same analysis in-process and in worker threads
  const kernelRows: Row[] = [];
  const pyRows: Row[] = [];
  const ours = servers.ours;
  const pair = async <T>(
    what: string,
    fn: (s: Server) => Promise<T>,
  ): Promise<{ worker: T; inproc: T }> => {
    if (!selected(what)) throw new Skip();
    process.stderr.write(`${what}…\n`);
    const inproc = await guard(fn(at(ours, 'bench')), `${what} (in-process)`);
    const worker = await guard(fn(at(ours, 'bench_worker')), `${what} (worker)`);
    return { worker, inproc };
  };
  try {
    await step(async () => {
      const w2 = await pair('K W2 echo', w2Echo);
      kernelRows.push(['W2 echo', 'µs/round trip', w2.worker.perOp, w2.inproc.perOp, '≤ 1.5']);
    });
    await step(async () => {
      const w4 = await pair('K W4 stream', w4Stream);
      kernelRows.push(['W4 stream', 'ms to final state', w4.worker.ms, w4.inproc.ms, '≤ 1.5']);
      kernelRows.push(['W4 stream', 'frames received', w4.worker.frames, w4.inproc.frames, '']);
    });
    await step(async () => {
      if (!selected('K W6 memory')) throw new Skip();
      process.stderr.write('K W6 memory…\n');
      const inproc = await w6Memory('ours', 'bench');
      const worker = await w6Memory('ours', 'bench_worker');
      kernelRows.push([
        'W6 memory',
        'KiB RSS/idle session',
        worker.kbPerSession,
        inproc.kbPerSession,
        '',
      ]);
    });
    await step(async () => {
      if (!selected('W8 busy')) throw new Skip();
      process.stderr.write('W8 busy…\n');
      const inproc = await guard(w8Busy(ours, 'bench'), 'W8 (in-process)');
      const worker = await guard(w8Busy(ours, 'bench_worker'), 'W8 (worker)');
      kernelRows.push(['W8 (a) GET / during 2 s CPU', 'p50 ms', worker.getP50, inproc.getP50, '']);
      kernelRows.push([
        'W8 (a) GET / during 2 s CPU',
        'p99 ms',
        worker.getP99,
        inproc.getP99,
        'worker < 50',
      ]);
      kernelRows.push(['W8 (b) in-process echo', 'p50 ms', worker.echoP50, inproc.echoP50, '']);
      kernelRows.push([
        'W8 (b) in-process echo',
        'p99 ms',
        worker.echoP99,
        inproc.echoP99,
        'worker < 10',
      ]);
      kernelRows.push([
        'W8 (c) 2nd page waits',
        'ms',
        worker.secondWait,
        inproc.secondWait,
        'worker < 100',
      ]);
    });
    // the same workloads in a Python kernel process (`kernel: py`)
    const py = async <T>(what: string, fn: (s: Server) => Promise<T>): Promise<T> => {
      if (!selected(what)) throw new Skip();
      process.stderr.write(`${what}…\n`);
      return guard(fn(at(ours, 'bench_py')), `${what} (py)`);
    };
    const inprocOf = (workload: string, metric: string): number =>
      kernelRows.find(([w, m]) => w === workload && m === metric)?.[3] ?? NaN;
    await step(async () => {
      const w2 = await py('P W2 echo', w2Echo);
      pyRows.push([
        'W2 echo',
        'µs/round trip',
        w2.perOp,
        inprocOf('W2 echo', 'µs/round trip'),
        '≤ 3',
      ]);
    });
    await step(async () => {
      const w4 = await py('P W4 stream', w4Stream);
      pyRows.push([
        'W4 stream',
        'ms to final state',
        w4.ms,
        inprocOf('W4 stream', 'ms to final state'),
        '≤ 3',
      ]);
      pyRows.push([
        'W4 stream',
        'frames received',
        w4.frames,
        inprocOf('W4 stream', 'frames received'),
        '',
      ]);
    });
    await step(async () => {
      if (!selected('P W6 memory')) throw new Skip();
      process.stderr.write('P W6 memory…\n');
      const m = await w6Memory('ours', 'bench_py');
      pyRows.push([
        'W6 memory',
        'KiB RSS/idle session (server + Python)',
        m.kbPerSession,
        inprocOf('W6 memory', 'KiB RSS/idle session'),
        '',
      ]);
    });
    await step(async () => {
      if (!selected('P start')) throw new Skip();
      process.stderr.write('P start…\n');
      const { PythonKernel } = await import('../src/kernel/python-kernel.ts');
      const { createLogger } = await import('../src/server/logger.ts');
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
      pyRows.push(['process start', 'ms to ready (p50 of 5)', pct(times, 50), NaN, '']);
    });
    await step(async () => {
      if (!selected('P W8 busy')) throw new Skip();
      process.stderr.write('P W8 busy…\n');
      const r = await guard(w8Busy(ours, 'bench_py'), 'W8 (py)');
      pyRows.push([
        'W8 (a) GET / during 2 s CPU',
        'p99 ms',
        r.getP99,
        inprocOf('W8 (a) GET / during 2 s CPU', 'p99 ms'),
        'py < 50',
      ]);
      pyRows.push([
        'W8 (b) in-process echo',
        'p99 ms',
        r.echoP99,
        inprocOf('W8 (b) in-process echo', 'p99 ms'),
        'py < 10',
      ]);
      pyRows.push([
        'W8 (c) 2nd page waits',
        'ms',
        r.secondWait,
        inprocOf('W8 (c) 2nd page waits', 'ms'),
        '(one process: waits)',
      ]);
    });
  } finally {
    ours.child.kill();
  }
  const fmt = (x: number): string =>
    x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(3);
  const lines = [
    `databench bench${QUICK ? ' (--quick: counts scaled by 0.2)' : ''}, node ${process.version}`,
    '',
    '| workload | metric | ours | raw ws | ours/raw | goal |',
    '|---|---|---:|---:|---:|---|',
    ...rows.map(
      ([w, m, o, r, g]) => `| ${w} | ${m} | ${fmt(o)} | ${fmt(r)} | ${(o / r).toFixed(2)} | ${g} |`,
    ),
  ];
  if (kernelRows.length > 0) {
    lines.push(
      '',
      'The kernel boundary: the same analysis in worker threads (`kernel: worker`) and in-process',
      '',
      '| workload | metric | worker | in-process | worker/in-process | goal |',
      '|---|---|---:|---:|---:|---|',
      ...kernelRows.map(
        ([w, m, o, r, g]) =>
          `| ${w} | ${m} | ${fmt(o)} | ${fmt(r)} | ${(o / r).toFixed(2)} | ${g} |`,
      ),
    );
  }
  if (pyRows.length > 0) {
    lines.push(
      '',
      'A Python kernel (`kernel: py`, one process) against the TypeScript analysis in-process',
      '',
      '| workload | metric | py | in-process | py/in-process | goal |',
      '|---|---|---:|---:|---:|---|',
      ...pyRows.map(
        ([w, m, o, r, g]) =>
          `| ${w} | ${m} | ${fmt(o)} | ${Number.isNaN(r) ? '' : fmt(r)} | ${Number.isNaN(r) ? '' : (o / r).toFixed(2)} | ${g} |`,
      ),
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}

await main();
