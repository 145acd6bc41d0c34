// A benchmark server in its own process: `ours` (databench) or `raw` (a
// minimal ws server answering the same protocol with no framework: the
// physical limit of this machine). Reports its URL and, on request, its RSS.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { PythonKernel } from '../src/kernel/python-kernel.ts';
import { createServer } from '../src/server/create-server.ts';
import { createLogger } from '../src/server/logger.ts';

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
  const http = createHttpServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  const shared = new Set<WebSocket>();
  const frame = (signal: string, load?: unknown): string =>
    JSON.stringify(load === undefined ? { signal } : { signal, load });
  wss.on('connection', (ws) => {
    const data = new Map<string, unknown>();
    ws.on('message', (raw) => {
      const msg = JSON.parse((raw as Buffer).toString()) as {
        __connect?: unknown;
        signal?: string;
        load?: unknown[];
      };
      if ('__connect' in msg) {
        shared.add(ws);
        ws.send(
          frame('__connect', {
            analysis_id: randomUUID(),
            databench_backend_version: 'raw',
            analyses_version: 'raw',
          }),
        );
        return;
      }
      const load = msg.load ?? [];
      switch (msg.signal) {
        case 'test_fn':
          ws.send(frame('test_fn', [load[0], load[1] ?? 100]));
          break;
        case 'test_state':
          data.set(String(load[0]), load[1]);
          ws.send(frame('data', { [String(load[0])]: load[1] }));
          break;
        case 'stream': {
          const n = Number(load[0]);
          for (let i = 0; i < n; i++) ws.send(frame('data', { count: i }));
          ws.send(frame('stream_done'));
          break;
        }
        case 'set_shared': {
          const bytes = Buffer.from(frame('class_data', { [String(load[0])]: load[1] }));
          for (const peer of shared) peer.send(bytes, { binary: false });
          break;
        }
      }
    });
    ws.on('close', () => shared.delete(ws));
  });
  http.listen(0, '127.0.0.1', () => {
    const port = (http.address() as AddressInfo).port;
    send({ url: `ws://127.0.0.1:${port}/ws`, base: `http://127.0.0.1:${port}` });
  });
}
