// The floor under a worker kernel's round trip, measured the way W2 measures
// one (the client in another process, over a loopback socket), without any
// databench code: a server process answers each line (1) on its main thread;
// (2) from a worker thread, through postMessage both ways, with messages
// shaped like the kernel boundary's (an action there, a batch back); (3) as
// (2) with a doorbell: a byte written to a Unix socket that the other thread
// reads, before each postMessage (a socket wakes its reader with a "sync"
// wake-up, which the scheduler may run on the waker's CPU; the eventfd that
// postMessage uses does not); (4) as (2) with a worker that, after each
// message, polls for the next one for up to 100 µs before it goes back to
// its event loop. Each hop is stamped (process.hrtime, one clock for every
// process), so the table shows where a round trip's time goes. The client
// takes the four in turn, round after round, so that their ratio is taken
// over the same stretch of time. Bounded: 9 rounds of 1000 round trips each,
// after 500 to warm up. First, a bare postMessage ping-pong between two
// threads of one process.
// Usage: node --import tsx bench/pingpong.ts [--rounds=N]
import { fork } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';

const ROUND_TRIPS = 1000;
const WARM = 500;
const roundsArg = process.argv.find((a) => a.startsWith('--rounds='));
const ROUNDS = roundsArg ? Number(roundsArg.slice('--rounds='.length)) : 9;
const POLL_US = 100;

type Mode = 'main thread' | 'worker' | 'worker, doorbell' | 'worker, polling';
const MODES: Mode[] = ['main thread', 'worker', 'worker, doorbell', 'worker, polling'];

const now = (): number => Number(process.hrtime.bigint());

// The worker: answers each action with a batch; in polling mode it then
// takes the next messages off its port for up to POLL_US (a shared counter
// tells it one was posted) before it returns to its event loop.
const WORKER = `
const { parentPort, workerData, receiveMessageOnPort } = require('node:worker_threads');
let bell;
if (workerData.bell) {
  bell = require('node:net').connect({ path: workerData.bell });
  bell.on('data', () => {});
}
const ONE = Buffer.from('x');
const now = () => Number(process.hrtime.bigint());
const posted = new Int32Array(workerData.posted);
const pollNs = workerData.poll * 1000;
const text = '{"signal":"test_fn","load":[0,2]}';
const bytes = new TextEncoder().encode(text);
let received = 0;
function answer(m) {
  const t2 = now();
  bell?.write(ONE);
  parentPort.postMessage({ t: 'batch', bytes: bytes.slice(), ops: [{ t: 'frame', sid: m.sid, start: 0, end: bytes.length, coalesce: null }, { t: 'done', sid: m.sid }], t2, t3: now() });
}
function wait() {
  let end = now() + pollNs;
  while (now() < end) {
    if (((Atomics.load(posted, 0) - received) | 0) <= 0) continue;
    const next = receiveMessageOnPort(parentPort);
    if (next === undefined) continue;
    received = (received + 1) | 0;
    answer(next.message);
    end = now() + pollNs;
  }
}
parentPort.on('message', (m) => {
  received = (received + 1) | 0;
  answer(m);
  if (pollNs > 0) wait();
});`;

/** The server process: one port per mode. */
async function serve(): Promise<void> {
  const ports: Partial<Record<Mode, number>> = {};
  for (const mode of MODES) {
    let onBatch: (m: { t2: number; t3: number }, t4: number) => void = () => undefined;
    let toWorker: ((i: number) => void) | undefined;
    let worker: Worker | undefined;
    if (mode !== 'main thread') {
      const posted = new Int32Array(new SharedArrayBuffer(4));
      // the doorbell: a Unix socket the other thread also reads, written
      // before each postMessage (a socket's wake-up is a "sync" one, an
      // eventfd's, which postMessage uses, is not)
      let bell: Socket | undefined;
      let path: string | undefined;
      if (mode === 'worker, doorbell') {
        path = `\0databench-pingpong-${process.pid}`;
        const bells = createServer((socket) => {
          bell = socket;
          socket.on('data', () => undefined);
        });
        await new Promise<void>((resolve) => bells.listen({ path }, resolve));
        bells.unref();
      }
      worker = new Worker(WORKER, {
        eval: true,
        workerData: {
          posted: posted.buffer,
          poll: mode === 'worker, polling' ? POLL_US : 0,
          bell: path,
        },
      });
      worker.on('message', (m: { t2: number; t3: number }) => onBatch(m, now()));
      while (path !== undefined && bell === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const w = worker;
      const one = Buffer.from('x');
      toWorker = (i) => {
        bell?.write(one);
        w.postMessage({ t: 'action', sid: 1, name: 'test_fn', hasLoad: true, load: [i, 2] });
        Atomics.add(posted, 0, 1);
      };
    }
    const server = createServer((socket: Socket) => {
      socket.setNoDelay(true);
      let t1 = 0;
      onBatch = (m, t4) => {
        socket.write(`${t1} ${m.t2} ${m.t3} ${t4}\n`);
      };
      let buffered = '';
      socket.on('data', (data: Buffer) => {
        t1 = now();
        buffered += data.toString();
        let end: number;
        while ((end = buffered.indexOf('\n')) >= 0) {
          const i = Number(buffered.slice(0, end));
          buffered = buffered.slice(end + 1);
          if (toWorker) toWorker(i);
          else socket.write(`${t1} 0 0 0\n`);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    ports[mode] = (server.address() as { port: number }).port;
    worker?.unref();
  }
  process.send?.(ports);
  process.on('disconnect', () => process.exit(0));
}

interface Hops {
  rt: number[];
  in: number[];
  toWorker: number[];
  worker: number[];
  back: number[];
  out: number[];
}

/** Round trips on one connection; the hops of each. */
function roundTrips(socket: Socket, count: number, hops: Hops | undefined): Promise<void> {
  return new Promise((resolve) => {
    let i = 0;
    let t0 = 0;
    let buffered = '';
    const onData = (data: Buffer): void => {
      const t6 = now();
      buffered += data.toString();
      const end = buffered.indexOf('\n');
      if (end < 0) return;
      const [t1, t2, t3, t4] = buffered.slice(0, end).split(' ').map(Number) as [
        number,
        number,
        number,
        number,
      ];
      buffered = buffered.slice(end + 1);
      if (hops) {
        hops.rt.push((t6 - t0) / 1000);
        hops.in.push((t1 - t0) / 1000);
        if (t2 > 0) {
          hops.toWorker.push((t2 - t1) / 1000);
          hops.worker.push((t3 - t2) / 1000);
          hops.back.push((t4 - t3) / 1000);
          hops.out.push((t6 - t4) / 1000);
        } else hops.out.push((t6 - t1) / 1000);
      }
      if (++i === count) {
        socket.off('data', onData);
        resolve();
        return;
      }
      t0 = now();
      socket.write(`${i}\n`);
    };
    socket.on('data', onData);
    t0 = now();
    socket.write(`0\n`);
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

async function threadPingPong(): Promise<number> {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.on('message', () => parentPort.postMessage({ t: 'batch', ops: [{ t: 'done', sid: 1 }] }));`,
    { eval: true },
  );
  await new Promise((resolve) => worker.once('online', resolve));
  const times: number[] = [];
  for (let i = 0; i < 5000; i++) {
    const t0 = performance.now();
    await new Promise((resolve) => {
      worker.once('message', resolve);
      worker.postMessage({ t: 'action', sid: 1, name: 'test_fn', hasLoad: true, load: [i, 2] });
    });
    times.push((performance.now() - t0) * 1000);
  }
  await worker.terminate();
  return median(times);
}

async function main(): Promise<void> {
  const load0 = loadavg()[0]!;
  console.log(
    `postMessage round trip between two threads of one process: p50 ${(await threadPingPong()).toFixed(1)} µs`,
  );
  const child = fork(new URL(import.meta.url).pathname, ['--serve'], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ports = await new Promise<Record<Mode, number>>((resolve) =>
    child.once('message', (m) => resolve(m as Record<Mode, number>)),
  );
  const sockets = new Map<Mode, Socket>();
  for (const mode of MODES) {
    const socket = connect(ports[mode], '127.0.0.1');
    socket.setNoDelay(true);
    await new Promise((resolve) => socket.once('connect', resolve));
    await roundTrips(socket, WARM, undefined);
    sockets.set(mode, socket);
  }
  const hops = new Map<Mode, Hops>();
  const p50s = new Map<Mode, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < MODES.length; k++) {
      const mode = MODES[(k + round) % MODES.length]!;
      const h: Hops = { rt: [], in: [], toWorker: [], worker: [], back: [], out: [] };
      await roundTrips(sockets.get(mode)!, ROUND_TRIPS, h);
      const all = hops.get(mode);
      if (all) for (const key of Object.keys(h) as (keyof Hops)[]) all[key].push(...h[key]);
      else hops.set(mode, h);
      const list = p50s.get(mode) ?? [];
      list.push(median(h.rt));
      p50s.set(mode, list);
    }
  }
  for (const socket of sockets.values()) socket.destroy();
  child.disconnect();
  const f = (x: number): string => (Number.isNaN(x) ? '' : x.toFixed(1));
  console.log(
    `\nW2's path without databench: a client process, a loopback socket, a server process (load average ${load0.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}; medians, µs)\n`,
  );
  console.log(
    '| answered by | round trip p50 | client → main | main → worker | in worker | worker → main | main → client | / main thread |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  const base = p50s.get('main thread')!;
  for (const mode of MODES) {
    const h = hops.get(mode)!;
    const ratios = p50s.get(mode)!.map((p, i) => p / base[i]!);
    console.log(
      `| ${mode} | ${f(median(p50s.get(mode)!))} | ${f(median(h.in))} | ${f(median(h.toWorker))} | ${f(median(h.worker))} | ${f(median(h.back))} | ${f(median(h.out))} | ${mode === 'main thread' ? '' : `${median(ratios).toFixed(2)}×`} |`,
    );
  }
}

if (process.argv.includes('--serve')) await serve();
else await main();
