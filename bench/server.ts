// The databench server of `npm run bench`, in its own process. It imports the
// package by name: `npm run bench` runs it without the "databench-source"
// condition, so the server is dist/ (what `npx databench` runs) and only this
// file and the bench analyses go through tsx. Reports its URL and, on
// request, its memory. The raw baseline is bench/raw-server.js.
import { readFileSync } from 'node:fs';
import { createLogger, createServer } from 'databench-ts';
import type { PythonKernel } from '../src/kernel/python/python-kernel.ts';

const kind = process.argv[2];
const send = (m: unknown): void => void process.send?.(m);

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'rss') {
    for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    send({ rss: m.rss, heap: m.heapUsed + m.external, kernelRss: kernelRss() });
  }
  if (m.cmd === 'snapshot') {
    void import('node:v8').then((v8) =>
      send({ snapshot: v8.writeHeapSnapshot('/tmp/bench-server.heapsnapshot') }),
    );
  }
});

/** The RSS of the Python kernel processes of the server (bytes; 0 when there are none). */
let kernelRss = (): number => 0;

if (kind === 'ours') {
  // argv[3]: a redis:// URL for the Redis-backed runs (W9 and the redis rows)
  const server = await createServer({
    port: 0,
    analyses: new URL('./analyses', import.meta.url).pathname,
    logger: createLogger('error'),
    datastore: process.argv[3],
  });
  kernelRss = () => {
    const kernel = server.app.entries.get('bench_py')?.kernel as PythonKernel | undefined;
    let total = 0;
    for (const pid of kernel?.pids ?? []) {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      total += Number(m?.[1] ?? 0) * 1024;
    }
    return total;
  };
  send({ url: server.url.replace('http', 'ws') + '/bench/ws', base: server.url });
} else {
  throw new Error(
    `bench/server.ts serves databench ("ours"); the raw baseline is bench/raw-server.js, got ${kind}`,
  );
}
