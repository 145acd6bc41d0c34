// The raw baseline of `npm run bench`: a minimal ws server answering the
// bench's protocol with no framework, in plain JavaScript run by plain `node`
// (no TypeScript loader): the physical limit of this machine. Forked with an
// IPC channel (bench/run.ts) it listens on a free port and reports its URL
// and, on request, its memory, like bench/server.ts; the start-up rows
// (bench/startup.ts) spawn it as `node bench/raw-server.js PORT` and time
// the first answered GET /.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const send = (m) => void process.send?.(m);
process.on('message', (m) => {
  if (m.cmd === 'rss') {
    for (let i = 0; i < 3; i++) globalThis.gc?.();
    const u = process.memoryUsage();
    send({ rss: u.rss, heap: u.heapUsed + u.external, kernelRss: 0 });
  }
});

const http = createServer((req, res) => {
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end('<!doctype html><title>raw</title><p>raw ws server</p>\n');
});
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
const shared = new Set();
const frame = (signal, load) => JSON.stringify(load === undefined ? { signal } : { signal, load });
wss.on('connection', (ws) => {
  const data = new Map();
  ws.on('message', (raw) => {
    const msg = JSON.parse(raw.toString());
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
http.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const { port } = http.address();
  send({ url: `ws://127.0.0.1:${port}/ws`, base: `http://127.0.0.1:${port}` });
});
