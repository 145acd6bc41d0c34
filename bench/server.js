// The databench server of `npm run bench`, in its own process: the package
// by name (dist/, what `npx databench` runs) on bench/analyses, in plain
// JavaScript run by plain `node`, so that no TypeScript loader sits in the
// process being measured (the bench analyses are compiled by databench's own
// loader, as a user's are). Forked with an IPC channel by bench/servers.ts:
// reports its URL and, on request, its memory. The raw baseline is
// bench/raw-server.js. argv[2]: a redis:// URL for a Redis-backed server.
import { readFileSync } from 'node:fs';
import { createLogger, createServer } from 'databench-ts';

const send = (m) => void process.send?.(m);

/** Bytes of resident memory of `pid` (0 when it is gone). */
function rssOf(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

const server = await createServer({
  port: 0,
  analyses: new URL('./analyses', import.meta.url).pathname,
  logger: createLogger('error'),
  datastore: process.argv[2],
});

process.on('message', (m) => {
  if (m.cmd === 'rss') {
    for (let i = 0; i < 3; i++) globalThis.gc?.();
    const u = process.memoryUsage();
    // a Python kernel's sessions live in its processes: the bench counts them for bench_py
    const kernel = server.app.entries.get('bench_py')?.kernel;
    const kernelRss = (kernel?.pids ?? []).reduce((sum, pid) => sum + rssOf(pid), 0);
    send({ rss: u.rss, heap: u.heapUsed + u.external, kernelRss });
  }
});

send({ base: server.url });
