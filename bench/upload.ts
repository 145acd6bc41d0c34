// The upload rows of `npm run bench`: a file uploaded from a page (this
// process, with the client library on `ws`) until the action's handler has
// it whole (it answers with the file's size), through the in-process, worker
// and Python kernels, against a plain HTTP POST of the same bytes to a raw
// Node server that reads the body whole (bench/raw-upload-server.js). MB/s of
// each repetition; the repetitions alternate between the two.
import { fork } from 'node:child_process';
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { Connection, type ConnectionOptions } from '../src/client/connection.ts';

/** An upload row: [workload, metric, ours per repetition, raw per repetition, goal]. */
export type UploadRow = [string, string, number[], number[], string];

/**
 * The page's socket: `ws`, with a zero masking key. A browser masks what
 * it sends natively, at memory speed; `ws` masks in JavaScript (without the
 * optional `bufferutil`), byte by byte, which would make this client the
 * bottleneck on a machine of two cores. The server unmasks as it always does.
 */
class PageSocket extends WebSocket {
  constructor(url: string) {
    super(url, { generateMask: (mask: Buffer) => void mask.fill(0) });
  }
}

const CLIENT: ConnectionOptions = {
  WebSocket: PageSocket,
  console: { log: () => undefined, warn: () => undefined, error: () => undefined },
};

/** Seconds of one upload through analysis `url`'s `upload` action, to its handler's answer. */
async function viaDatabench(url: string, file: File): Promise<number> {
  const d = new Connection(url, '', null, CLIENT);
  await new Promise((resolve) => d.connect(resolve));
  try {
    const t0 = performance.now();
    const answered = d.once('uploaded', { timeoutMs: 120_000 });
    await d.upload('upload', file).done;
    const size: unknown = await answered;
    if (size !== file.size)
      throw new Error(`the handler got ${String(size)} bytes of ${file.size}`);
    return (performance.now() - t0) / 1000;
  } finally {
    d.disconnect();
  }
}

/** Seconds of one POST of `bytes` to the raw server, to its answer. */
function viaPost(url: string, bytes: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(
      url,
      { method: 'POST', headers: { 'Content-Length': bytes.length }, agent: false },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += String(d)));
        res.on('end', () => {
          if (Number(text) !== bytes.length) reject(new Error(`the raw server got ${text} bytes`));
          else resolve((performance.now() - t0) / 1000);
        });
      },
    );
    req.on('error', reject);
    req.end(bytes);
  });
}

/**
 * The upload rows against the bench's databench server at `base`
 * (`http://host:port`, serving bench/analyses): `mb` megabytes, `reps`
 * repetitions each. Starts and ends its own raw HTTP server.
 */
export async function uploadRows(base: string, mb: number, reps: number): Promise<UploadRow[]> {
  const raw = fork(new URL('./raw-upload-server.js', import.meta.url).pathname, [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const rawUrl = await new Promise<string>((resolve, reject) => {
      raw.once('message', (m: { url: string }) => resolve(m.url));
      raw.once('exit', (code) => reject(new Error(`the raw upload server exited with ${code}`)));
    });
    const bytes = new Uint8Array(mb * 1e6);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i & 0xff;
    const file = new File([bytes], 'bench.bin', { type: 'application/octet-stream' });
    const ws = base.replace('http', 'ws');
    const rows: UploadRow[] = [];
    for (const [label, analysis] of [
      ['in-process', 'bench'],
      ['worker', 'bench_worker'],
      ['python', 'bench_py'],
    ] as const) {
      process.stderr.write(`U upload ${label}…\n`);
      const ours: number[] = [];
      const post: number[] = [];
      // a first upload of each warms its kernel (a worker thread starts, a process imports)
      await viaDatabench(`${ws}/${analysis}/ws`, file);
      for (let r = 0; r < reps; r++) {
        post.push(mb / (await viaPost(rawUrl, bytes)));
        ours.push(mb / (await viaDatabench(`${ws}/${analysis}/ws`, file)));
      }
      rows.push([`U upload ${mb} MB, ${label} (vs HTTP POST)`, 'MB/s', ours, post, '']);
    }
    return rows;
  } finally {
    raw.kill();
  }
}
