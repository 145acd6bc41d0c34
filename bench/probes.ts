// The hostile-client probes, as figures: what a page can make the
// server hold, and how long teardown and shutdown take. Runs the real CLI in
// a child process and measures its RSS from /proc. Every loop is bounded.
// Usage: node --conditions=databench-source --import tsx bench/probes.ts
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { databench, serving, type CliRun } from '../test/helpers.ts';

const ROOT = new URL('../', import.meta.url).pathname;
const FIXTURES = join(ROOT, 'test', 'fixtures');

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

async function start(analyses: string): Promise<{ child: ChildProcess; url: string; run: CliRun }> {
  const run = databench(['--port', '0', '--no-watch', '--analyses', analyses]);
  const url = (await serving(run)).replace('http', 'ws');
  return { child: run.child, url, run };
}

async function page(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const connected = new Promise((resolve) => ws.once('message', resolve));
  ws.send('{"__connect":null}');
  await connected;
  return ws;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function queuedInput(): Promise<string> {
  const s = await start(join(FIXTURES, 'kernels'));
  try {
    const ws = await page(`${s.url}/inproc/ws`);
    await sleep(300);
    const before = rssMb(s.child.pid!);
    ws.send(JSON.stringify({ signal: 'forever' }));
    const load = JSON.stringify({ signal: 'echo', load: ['x'.repeat(1_000_000)] });
    for (let i = 0; i < 300; i++) ws.send(load);
    let peak = before;
    for (let i = 0; i < 40; i++) {
      await sleep(100);
      peak = Math.max(peak, rssMb(s.child.pid!));
    }
    ws.terminate();
    return `300 frames of 1 MB behind a handler that never returns: server RSS ${before.toFixed(0)} → peak ${peak.toFixed(0)} MB`;
  } finally {
    s.child.kill('SIGKILL');
  }
}

async function slowReaders(): Promise<string> {
  const s = await start(join(FIXTURES, 'kernels'));
  try {
    const pages = await Promise.all(Array.from({ length: 10 }, () => page(`${s.url}/inproc/ws`)));
    await sleep(300);
    const before = rssMb(s.child.pid!);
    for (const ws of pages) {
      ws.pause();
      // 200 frames of 1 MB each: 2 GB asked for in all
      ws.send(JSON.stringify({ signal: 'flood', load: [200, 1_000_000] }));
    }
    let peak = before;
    for (let i = 0; i < 80; i++) {
      await sleep(100);
      peak = Math.max(peak, rssMb(s.child.pid!));
    }
    // a paused page does not read its close either: count the server's word for it
    const closed = s.run.stderr.split('closing a slow page').length - 1;
    for (const ws of pages) ws.terminate();
    return `ten paused readers asking 200 MB each: server RSS ${before.toFixed(0)} → peak ${peak.toFixed(0)} MB; ${closed} of 10 closed by the server-wide budget`;
  } finally {
    s.child.kill('SIGKILL');
  }
}

async function hungTeardown(): Promise<string> {
  const s = await start(join(FIXTURES, 'kernels'));
  try {
    const results: string[] = [];
    for (const name of ['inproc', 'work']) {
      const ws = await page(`${s.url}/${name}/ws`);
      ws.send(JSON.stringify({ signal: 'forever' }));
      await sleep(200);
      const mark = s.run.stderr.split('disconnected').length;
      const t0 = Date.now();
      ws.close();
      while (s.run.stderr.split('disconnected').length === mark && Date.now() - t0 < 10_000) {
        await sleep(10);
      }
      results.push(`${name}: ${Date.now() - t0} ms`);
    }
    return `page closed while its handler never returns, to disconnected: ${results.join(', ')}`;
  } finally {
    s.child.kill('SIGKILL');
  }
}

async function loopingShutdown(): Promise<string> {
  const s = await start(join(FIXTURES, 'hardening'));
  const ws = await page(`${s.url}/looper/ws`);
  ws.send(JSON.stringify({ signal: 'loop' }));
  await sleep(300);
  const t0 = Date.now();
  const exited = new Promise<number | null>((resolve) => s.child.once('exit', resolve));
  s.child.kill('SIGTERM');
  const code = await Promise.race([exited, sleep(20_000).then(() => 'timeout')]);
  if (code === 'timeout') s.child.kill('SIGKILL');
  return `SIGTERM with a handler looping on awaited writes and a raw setInterval: exit ${String(code)} after ${Date.now() - t0} ms`;
}

const only = process.argv[2];
for (const probe of [queuedInput, slowReaders, hungTeardown, loopingShutdown]) {
  if (only && probe.name !== only) continue;
  console.log(await probe());
}
