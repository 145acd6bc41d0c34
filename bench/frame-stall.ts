// How much one large incoming frame stalls every other page: the
// real CLI in a child process, an observer page that echoes in a loop, and a
// sender in another process that sends large frames. Prints the observer's
// worst round trip during each kind of frame and the server's peak RSS.
// Usage: node --conditions=databench-source --import tsx bench/frame-stall.ts [--max-frame-bytes N]
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { parseClientMessage } from '../src/protocol/messages.ts';
import { databench, serving } from '../test/helpers.ts';

const ROOT = new URL('../', import.meta.url).pathname;
const flagAt = process.argv.indexOf('--max-frame-bytes');
const maxFrameBytes = flagAt > 0 ? Number(process.argv[flagAt + 1]) : undefined;

/** The real CLI on the bench analyses; the URL of the `bench` analysis's socket. */
async function startCli(): Promise<{ child: ChildProcess; url: string }> {
  const run = databench([
    '--port',
    '0',
    '--no-watch',
    '--log',
    'error',
    '--analyses',
    join(ROOT, 'bench', 'analyses'),
    ...(maxFrameBytes ? ['--max-frame-bytes', String(maxFrameBytes)] : []),
  ]);
  return { child: run.child, url: (await serving(run)).replace('http', 'ws') + '/bench/ws' };
}

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

/** The sender: its own process, so building and masking big frames costs the observer nothing. */
const SENDER = `
import WebSocket from 'ws';
const [url, kind, size, count] = process.argv.slice(1);
const n = Number(size);
let text;
if (kind === 'nested') text = '['.repeat(n / 2) + ']'.repeat(n / 2);
// an action with no handler: the cost is receiving and parsing, not a handler's work
else if (kind === 'flat') text = '{"signal":"sink","load":[[' + '1,'.repeat(Math.floor(n / 2) - 20) + '1]]}';
else text = '{"signal":"sink","load":["' + 'x'.repeat(n - 40) + '"]}';
const ws = new WebSocket(url);
ws.on('error', () => undefined);
ws.on('open', () => {
  if (kind !== 'nested') ws.send(JSON.stringify({ __connect: null }));
  for (let i = 0; i < Number(count); i++) ws.send(text);
  ws.send(JSON.stringify({ __connect: null }));
  ws.send(JSON.stringify({ signal: 'test_fn', load: ['done'] }));
});
ws.on('message', (d) => { if (String(d).includes('"done"')) { ws.close(); } });
ws.on('close', (code) => { console.log(JSON.stringify({ code, bytes: text.length })); process.exit(0); });
`;

function runSender(url: string, kind: string, size: number, count: number): Promise<string> {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', SENDER, url, kind, String(size), String(count)],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += String(d)));
  return new Promise((resolve) => child.on('exit', () => resolve(out.trim())));
}

async function observer(url: string): Promise<{ ws: WebSocket; echo: () => Promise<number> }> {
  const ws = new WebSocket(url);
  await new Promise((r) => ws.once('open', r));
  let waiting: (() => void) | undefined;
  ws.on('message', () => waiting?.());
  ws.send(JSON.stringify({ __connect: null }));
  await new Promise<void>((r) => (waiting = r));
  // let connect, args, connected settle
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((r) => {
      waiting = r;
      ws.send(JSON.stringify({ signal: 'test_fn', load: [i] }));
    });
  }
  return {
    ws,
    echo: () => {
      const t0 = performance.now();
      return new Promise<number>((r) => {
        waiting = () => r(performance.now() - t0);
        ws.send(JSON.stringify({ signal: 'test_fn', load: [0] }));
      });
    },
  };
}

// what one frame at the limit costs the event loop: parsing it, in this process
const limit = maxFrameBytes ?? 2 ** 20;
const frames: Record<string, string> = {
  nested: '['.repeat(limit / 2) + ']'.repeat(limit / 2),
  flat: '{"signal":"sink","load":[[' + '1,'.repeat(limit / 2 - 20) + '1]]}',
  objects: '{"signal":"sink","load":[' + '{"a":[1]},'.repeat(limit / 10 - 20) + '"a"]}',
  string: '{"signal":"sink","load":["' + 'x'.repeat(limit - 40) + '"]}',
};
for (const [kind, text] of Object.entries(frames)) {
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    try {
      parseClientMessage(Buffer.from(text).toString());
    } catch {
      // refused: the cost is what we measure
    }
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(
    `parseClientMessage, ${kind} frame of ${(text.length / 2 ** 20).toFixed(2)} MiB: median ${times[10]?.toFixed(2)} ms, max ${times[19]?.toFixed(2)} ms`,
  );
}

const cases: Array<[string, number, number]> = [
  ['nested', 15.6e6, 1],
  ['flat', 15 * 2 ** 20, 1],
  ['nested', 2 ** 20 - 64, 5],
  ['flat', 2 ** 20 - 64, 5],
  ['string', 2 ** 20 - 64, 5],
];
for (const [kind, size, count] of cases) {
  // a server per case: its peak RSS is this case's
  const { child, url } = await startCli();
  try {
    const page = await observer(url);
    const latencies: number[] = [];
    let done = false;
    const sending = runSender(url, kind, size, count).then((r) => {
      done = true;
      return r;
    });
    while (!done) latencies.push(await page.echo());
    const result = await sending;
    latencies.sort((a, b) => a - b);
    console.log(
      `${kind.padEnd(6)} ${(size / 2 ** 20).toFixed(2).padStart(6)} MiB ×${count}: sender ${result}; ` +
        `observer echoes ${latencies.length}, p50 ${latencies[latencies.length >> 1]?.toFixed(2)} ms, ` +
        `p99 ${latencies[Math.floor(latencies.length * 0.99)]?.toFixed(1)} ms, max ${latencies.at(-1)?.toFixed(1)} ms; server peak RSS ${peakRssMb(child.pid ?? 0).toFixed(0)} MB`,
    );
    page.ws.close();
  } finally {
    child.kill('SIGTERM');
  }
}
