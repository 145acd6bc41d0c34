// The floor under a worker kernel's round trip: a bare postMessage ping-pong
// between this thread and a worker thread, with a message shaped like the
// boundary's (an action there, a batch back). Bounded: 5000 round trips.
// Usage: node --import tsx bench/pingpong.ts
import { Worker } from 'node:worker_threads';

const worker = new Worker(
  `const { parentPort } = require('node:worker_threads');
   parentPort.on('message', () => parentPort.postMessage({ t: 'batch', ops: [{ t: 'done', sid: 1 }] }));`,
  { eval: true },
);
await new Promise((resolve) => worker.once('online', resolve));
const N = 5000;
const times: number[] = [];
for (let i = 0; i < N; i++) {
  const t0 = performance.now();
  await new Promise((resolve) => {
    worker.once('message', resolve);
    worker.postMessage({ t: 'action', sid: 1, name: 'test_fn', hasLoad: true, load: [i, 2] });
  });
  times.push((performance.now() - t0) * 1000);
}
times.sort((a, b) => a - b);
const at = (p: number): string => (times[Math.floor((p / 100) * (N - 1))] ?? NaN).toFixed(1);
console.log(`postMessage round trip to a worker thread: p50 ${at(50)} µs, p99 ${at(99)} µs`);
await worker.terminate();
