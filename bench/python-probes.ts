// The Python kernel probes, as figures: what a Python analysis (and a page of
// one) can make the server do. Runs the real CLI in a child process with the
// analyses of bench/python-probes/ and real python3 kernels; measures other
// pages' echo round trips, times, log growth and the server's RSS from /proc.
// Every wait is bounded; every process it caused is ended by its pid.
// Usage: node --conditions=databench-source --import tsx bench/python-probes.ts [probe ...]
// Probes: crossing print logs cancels listen orphan closed (default: all)
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import WebSocket from 'ws';
import { databench, serving, type CliRun } from '../test/helpers.ts';
import { freePort, rssBytes, sleep } from './processes.ts';
import { pct } from './stats.ts';

const ROOT = new URL('../', import.meta.url).pathname;
const PROBES = join(ROOT, 'bench', 'python-probes');

const rssMb = (pid: number): number => rssBytes(pid) / 2 ** 20;

/** Processes whose command line contains `text` (the kernels of one probe folder). */
function processesWith(text: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1];
      if (cmdline.includes(text) && cmdline.includes('databench.kernel') && state !== 'Z') {
        pids.push(Number(name));
      }
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

async function start(folder: string): Promise<{ run: CliRun; url: string }> {
  const run = databench(['--port', '0', '--no-watch', '--analyses', folder]);
  const url = (await serving(run, 60_000)).replace('http', 'ws');
  return { run, url };
}

/** A connected page, and every frame it gets, as text. */
class Page {
  readonly frames: string[] = [];
  private waiters: Array<() => void> = [];
  closed: { code: number; at: number } | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames.push(data.toString());
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('close', (code) => {
      this.closed = { code, at: performance.now() };
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async open(url: string): Promise<Page> {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const page = new Page(ws);
    ws.send('{"__connect":null}');
    await page.next((f) => f.includes('"__connect"'), 30_000);
    return page;
  }

  send(signal: string, load?: unknown): void {
    this.ws.send(JSON.stringify(load === undefined ? { signal } : { signal, load }));
  }

  /** The first frame from now on that `match` accepts (or the close), within `ms`. */
  async next(match: (frame: string) => boolean, ms: number): Promise<string | undefined> {
    let seen = 0;
    const end = performance.now() + ms;
    for (;;) {
      for (; seen < this.frames.length; seen++) {
        if (match(this.frames[seen]!)) return this.frames[seen];
      }
      if (this.closed) return undefined;
      const left = end - performance.now();
      if (left <= 0) throw new Error(`no matching frame within ${ms} ms`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, left).unref();
      });
    }
  }
}

/** Another page's echo round trips, one after the other, in a thread of its own, until stopped. */
async function echoLoop(url: string): Promise<{ stop: () => Promise<number[]> }> {
  const worker = new Worker(join(PROBES, 'echo-worker.js'), { workerData: { url } });
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    stop: async () => {
      const times = new Promise<number[]>((resolve) =>
        worker.on('message', (m: { times?: number[] }) => m.times && resolve(m.times)),
      );
      worker.postMessage('stop');
      const result = await times;
      await worker.terminate();
      return result;
    },
  };
}

function stats(times: number[]): string {
  return `${times.length} echoes, p50 ${pct(times, 50).toFixed(1)} ms, p99 ${pct(times, 99).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms`;
}

/** One 16 MB value from a Python analysis to its page; another page's echo meanwhile. */
async function crossing(): Promise<string> {
  const { run, url } = await start(join(PROBES, 'analyses'));
  try {
    const big = await Page.open(`${url}/big_py/ws`);
    const loop = await echoLoop(`${url}/echo/ws`);
    await sleep(300);
    const t0 = performance.now();
    big.send('send', [16_000_000]);
    const frame = await big.next((f) => f.length > 16_000_000 || f.includes('"error"'), 180_000);
    const ms = performance.now() - t0;
    await sleep(200);
    const times = await loop.stop();
    const what =
      frame === undefined
        ? 'page closed'
        : frame.length > 16_000_000
          ? 'arrived'
          : frame.slice(0, 200);
    return `16 MB value from a Python analysis: ${what} after ${ms.toFixed(0)} ms; the echo page meanwhile: ${stats(times)}`;
  } finally {
    run.child.kill('SIGKILL');
  }
}

/** One 8 MB print() without a newline; another page's echo meanwhile. */
async function print(): Promise<string> {
  const { run, url } = await start(join(PROBES, 'analyses'));
  try {
    const big = await Page.open(`${url}/big_py/ws`);
    const loop = await echoLoop(`${url}/echo/ws`);
    await sleep(300);
    const before = run.stderr.length + run.stdout.length;
    const t0 = performance.now();
    big.send('blurt', [8_000_000]);
    big.send('marker');
    await big.next((f) => f.includes('"marker"'), 180_000);
    // the print's line reaches the log after the marker frame, or not at all
    await sleep(500);
    const ms = performance.now() - t0;
    const times = await loop.stop();
    const grew = run.stderr.length + run.stdout.length - before;
    return `8 MB print() without a newline: done after ${ms.toFixed(0)} ms, log +${grew} bytes; the echo page meanwhile: ${stats(times)}`;
  } finally {
    run.child.kill('SIGKILL');
  }
}

/** 200 `log` frames of 100 KB to a Python analysis: how much the log grows. */
async function logs(): Promise<string> {
  const { run, url } = await start(join(PROBES, 'analyses'));
  try {
    const big = await Page.open(`${url}/big_py/ws`);
    await sleep(300);
    const before = run.stderr.length + run.stdout.length;
    const load = [
      'hello\n2099-01-01T00:00:00.000Z ERROR [databench] forged ' + 'A'.repeat(100_000),
    ];
    for (let i = 0; i < 200; i++) big.send('log', load);
    big.send('marker');
    await big.next((f) => f.includes('"marker"'), 120_000);
    await sleep(1500);
    const grew = run.stderr.length + run.stdout.length - before;
    const forged = run.stderr.split('\n').filter((l) => l.startsWith('2099-')).length;
    return `200 log frames of 100 KB to a Python analysis: log +${(grew / 1e6).toFixed(2)} MB, ${forged} forged line(s) at a line start`;
  } finally {
    run.child.kill('SIGKILL');
  }
}

/** 200 `__cancel` frames of 1 MB while a Python handler blocks: the server's RSS. */
async function cancels(): Promise<string> {
  const { run, url } = await start(join(PROBES, 'analyses'));
  try {
    const big = await Page.open(`${url}/big_py/ws`);
    await sleep(500);
    const before = rssMb(run.child.pid!);
    big.send('busy', [8]);
    await sleep(200);
    const frame = JSON.stringify({ signal: '__cancel', load: { id: 'x'.repeat(1_000_000) } });
    for (let i = 0; i < 200; i++) {
      if (big.ws.readyState !== WebSocket.OPEN) break;
      big.ws.send(frame);
    }
    let peak = before;
    for (let i = 0; i < 30; i++) {
      await sleep(100);
      peak = Math.max(peak, rssMb(run.child.pid!));
    }
    const closed = big.closed ? `, the page closed with ${big.closed.code}` : '';
    return `200 __cancel frames of 1 MB behind a blocked Python handler: server RSS ${before.toFixed(0)} → peak ${peak.toFixed(0)} MB${closed}`;
  } finally {
    run.child.kill('SIGKILL');
  }
}

/** An analysis.py that blocks at import: when the server answers, and what stopping it leaves. */
async function listen(): Promise<string> {
  const port = await freePort();
  const folder = join(PROBES, 'stuck');
  const run = databench(['--port', String(port), '--no-watch', '--analyses', folder]);
  const t0 = performance.now();
  let answered: number | undefined;
  try {
    while (performance.now() - t0 < 60_000) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
        await res.text();
        answered = performance.now() - t0;
        break;
      } catch {
        await sleep(50);
      }
    }
    run.child.kill('SIGINT');
    const code = await Promise.race([run.exited, sleep(15_000).then(() => 'still running')]);
    await sleep(500);
    const left = processesWith(join(folder, 'stuck_py'));
    killAll(left);
    return `analysis.py blocking at import: the server answered after ${answered === undefined ? 'never (60 s)' : `${answered.toFixed(0)} ms`}; after SIGINT it exited with ${String(code)}, ${left.length} stuck Python process(es) left`;
  } finally {
    run.child.kill('SIGKILL');
    killAll(processesWith(join(folder, 'stuck_py')));
  }
}

/** The server is SIGKILLed: are its Python kernels still there? */
async function orphan(): Promise<string> {
  const { run, url } = await start(join(PROBES, 'analyses'));
  const folder = join(PROBES, 'analyses', 'big_py');
  try {
    const big = await Page.open(`${url}/big_py/ws`);
    big.send('busy', [30]);
    await sleep(300);
    const before = processesWith(folder).length;
    run.child.kill('SIGKILL');
    await run.exited;
    const t0 = performance.now();
    let left = processesWith(folder);
    while (left.length > 0 && performance.now() - t0 < 5000) {
      await sleep(50);
      left = processesWith(folder);
    }
    const ms = performance.now() - t0;
    killAll(left);
    return `server SIGKILLed with ${before} Python kernel(s), one busy in a handler: ${left.length} left after ${ms.toFixed(0)} ms`;
  } finally {
    run.child.kill('SIGKILL');
    killAll(processesWith(folder));
  }
}

/** A Python analysis closes its own channel: when its page learns, and when a new page gets in. */
async function closed(): Promise<string> {
  const { run, url } = await start(join(PROBES, 'analyses'));
  try {
    const big = await Page.open(`${url}/big_py/ws`);
    const t0 = performance.now();
    big.send('close_channel');
    let told = 'never (20 s)';
    try {
      await big.next((f) => f.includes('"error"'), 20_000);
      told = `${(performance.now() - t0).toFixed(0)} ms`;
    } catch {
      // never told
    }
    const t1 = performance.now();
    let next = 'never (30 s)';
    try {
      const page = await Promise.race([
        Page.open(`${url}/big_py/ws`),
        sleep(30_000).then(() => undefined),
      ]);
      if (page) next = `${(performance.now() - t1).toFixed(0)} ms`;
    } catch (error) {
      next = `failed: ${(error as Error).message}`;
    }
    return `a Python analysis closed its channel: its page was told after ${told} (closed: ${big.closed ? String(big.closed.code) : 'no'}); a new page connected after ${next}`;
  } finally {
    run.child.kill('SIGKILL');
    killAll(processesWith(join(PROBES, 'analyses', 'big_py')));
  }
}

const PROBE_FNS: Record<string, () => Promise<string>> = {
  crossing,
  print,
  logs,
  cancels,
  listen,
  orphan,
  closed,
};
const chosen = process.argv.slice(2);
for (const name of chosen.length > 0 ? chosen : Object.keys(PROBE_FNS)) {
  const fn = PROBE_FNS[name];
  if (!fn) throw new Error(`unknown probe ${name} (known: ${Object.keys(PROBE_FNS).join(', ')})`);
  try {
    console.log(`${name}: ${await fn()}`);
  } catch (error) {
    console.log(`${name}: failed: ${(error as Error).message}`);
  }
}
