// Another page's echo round trips, in a thread of its own (the probe's main
// thread receives the large frames: its pauses must not count as the
// server's). Posts the round trips, in ms, when told to stop.
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';

const port = parentPort;
const ws = new WebSocket(workerData.url, { perMessageDeflate: false });
const times = [];
let running = true;
let waiting;

function ping(id) {
  waiting = { id, t0: performance.now() };
  ws.send(JSON.stringify({ signal: 'ping', load: [id] }));
}

function finish() {
  port.postMessage({ times });
  ws.close();
}

ws.on('message', (data) => {
  const text = data.toString();
  if (text.includes('"__connect"')) {
    port.postMessage({ ready: true });
    ping(0);
  } else if (waiting && text === `{"signal":"pong","load":${waiting.id}}`) {
    times.push(performance.now() - waiting.t0);
    const next = waiting.id + 1;
    waiting = undefined;
    if (running) setTimeout(() => ping(next), 5);
    else finish();
  }
});
ws.on('open', () => ws.send('{"__connect":null}'));

port.on('message', () => {
  running = false;
  if (!waiting) finish();
});
