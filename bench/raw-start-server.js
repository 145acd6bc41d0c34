// The raw side of the start-up rows of `npm run bench`: what a minimal server
// needs (node:http and a `ws` server on the one port, a page at GET /), run
// by plain `node`, no tsx. Usage: node bench/raw-start-server.js PORT
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const http = createServer((req, res) => {
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end('<!doctype html><title>raw</title><p>raw ws server</p>\n');
});
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data)));
http.listen(Number(process.argv[2]), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
