/**
 * The entry of a worker thread of a `kernel: worker` analysis: loads the
 * analysis module, points this thread's default Datastore backend at the
 * server's (through the boundary), and runs sessions as the host asks.
 */
import { dirname } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { setDefaultBackend } from '../../datastore/default-backend.js';
import { setDefaultLogger } from '../../util/logger.js';
import { describeError } from '../../protocol/errors.js';
import { describeLoadError, importAnalysis } from '../../loader/load-analysis.js';
import { Meta } from '../../analysis/meta.js';
import type { HostMessage, KernelMessage } from '../messages.js';
import { TurnBatcher } from '../../util/turn-batcher.js';
import { createKernelLogger, KernelBackend, KernelRuntime, Outbox } from './runtime.js';

/** What the pool hands a new thread. */
export interface WorkerData {
  name: string;
  /** The analysis source (analysis.ts). */
  file: string;
  /** The analysis compiled to JavaScript, to import. */
  url: string;
  cliArgs: string[];
  /**
   * MiB of memory outside the heap (Buffers, ArrayBuffers) the thread may
   * hold (`memory_mb:`). Default: its heap limit.
   */
  offHeapLimitMb: number | undefined;
}

/** How often the thread's memory outside the heap is looked at. */
const OFF_HEAP_CHECK_MS = 200;

const port = parentPort;
if (!port) throw new Error('worker-thread.ts runs in a worker thread of a kernel: worker analysis');
const data = workerData as WorkerData;
const post = (message: KernelMessage, transfer?: ArrayBuffer[]): void => {
  if (transfer === undefined || transfer.length === 0) port.postMessage(message);
  else port.postMessage(message, transfer);
};

// this thread's batching of one turn's output (the server has its own)
const outbox = new Outbox((batch, transfer) => post(batch, transfer), new TurnBatcher());
const backend = new KernelBackend(outbox);
const logger = createKernelLogger(outbox);
setDefaultBackend(backend);
setDefaultLogger(logger);
// as on the server's own thread: an unhandled rejection is logged, not fatal
process.on('unhandledRejection', (reason) => {
  logger.error(`[${data.name}] unhandled rejection: ${describeError(reason).stack}`);
});

// Buffers live outside the heap, which is all resourceLimits bound: past the
// limit the thread ends as an out-of-memory one does (the host logs the
// cause and its pages reconnect to a new thread)
const offHeapLimit =
  data.offHeapLimitMb === undefined
    ? getHeapStatistics().heap_size_limit
    : data.offHeapLimitMb * 2 ** 20;
const offHeapWatch = setInterval(() => {
  const held = process.memoryUsage().arrayBuffers;
  if (held <= offHeapLimit) return;
  clearInterval(offHeapWatch);
  const message = `the thread held ${Math.round(held / 2 ** 20)} MiB outside its heap (Buffers), past its limit of ${Math.round(offHeapLimit / 2 ** 20)} MiB (memory_mb of index.yaml): it is ended as an out-of-memory thread`;
  const error = new Error(message);
  error.stack = `Error: ${message}`;
  // uncaught: the thread ends, the host reports this as its cause
  throw error;
}, OFF_HEAP_CHECK_MS);
offHeapWatch.unref();

let meta: Meta | undefined;
try {
  // stack traces name the .ts source, through the compiled module's inline source map
  process.setSourceMapsEnabled(true);
  const cls = await importAnalysis(data.url, data.file);
  meta = new Meta(data.name, cls, dirname(data.file), [], data.cliArgs);
} catch (error) {
  post({ t: 'load-error', message: describeLoadError(error, dirname(data.file)) });
}
if (meta) {
  const runtime = new KernelRuntime(meta, outbox, backend, logger);
  port.on('message', (message: HostMessage) => runtime.receive(message));
  post({ t: 'ready', className: meta.analysisClass.name });
}
