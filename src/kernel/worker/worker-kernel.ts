import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CompiledModule } from '../../loader/compile-analysis.js';
import { describeError } from '../../protocol/errors.js';
import { KernelPool, RemoteMember, type PoolMember, type PoolOptions } from '../pool.js';
import type { HostMessage, KernelMessage } from '../messages.js';
import type { WorkerData } from './worker-thread.js';

/** Options of {@link WorkerKernel.create}. */
export interface WorkerKernelOptions extends PoolOptions {
  /** The source compiled, which every thread imports; disposed with the kernel. */
  module: CompiledModule;
  /** Threads at most (`threads:` in index.yaml). Default: the number of cores. */
  threads?: number;
  /**
   * Heap limit of each thread (`memory_mb:`), in MiB, and the most memory
   * outside its heap (Buffers) it may hold; past either the thread is ended
   * and replaced. Default: Node's heap limit, for both.
   */
  memoryMb?: number;
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');
/** This module's sibling, as source (.ts) or built (.js). */
const THREAD_ENTRY = new URL(`./worker-thread${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url).href;
/**
 * The analysis arrives compiled to JavaScript (compile-analysis.ts): a
 * thread of the built package imports only JavaScript. Run from source (a
 * clone, the tests), the thread's own modules are TypeScript: tsx loads them.
 */
const BOOT = FROM_SOURCE
  ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(THREAD_ENTRY)}); });`
  : `import(${JSON.stringify(THREAD_ENTRY)});`;

/** One worker thread and the host's side of its boundary. */
class Thread extends RemoteMember {
  readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(pool: WorkerKernel, options: WorkerKernelOptions) {
    super(pool);
    const workerData: WorkerData = {
      name: options.name,
      file: options.file,
      url: options.module.url,
      cliArgs: options.cliArgs,
      offHeapLimitMb: options.memoryMb,
    };
    this.worker = new Worker(BOOT, {
      eval: true,
      workerData,
      ...(options.memoryMb !== undefined
        ? { resourceLimits: { maxOldGenerationSizeMb: options.memoryMb } }
        : {}),
    });
    this.worker.on('message', (message: KernelMessage) => this.receive(message));
    this.worker.on('error', (error) => {
      // an uncaught exception: its stack is the cause the exit reports
      this.cause ??= describeError(error).stack;
    });
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        this.gone(`the thread exited with code ${code}`);
        resolve();
      });
    });
  }

  protected send(message: HostMessage): void {
    if (message.t === 'upload') {
      // the files' buffers move to the thread: no copy of an upload's bytes
      const transfer: ArrayBuffer[] = [];
      for (const file of message.files) {
        if (file.bytes !== undefined) transfer.push(file.bytes.buffer as ArrayBuffer);
      }
      this.worker.postMessage(message, transfer);
      return;
    }
    this.worker.postMessage(message);
  }

  end(): Promise<void> {
    if (!this.ended) {
      this.ending = true;
      void this.worker.terminate();
    }
    return this.exited;
  }
}

/**
 * `kernel: worker`: the analysis runs in a pool of worker threads, so a
 * handler that computes for seconds blocks only its own thread, never the
 * server. While a thread is free a new session gets one of its own; past the
 * pool size, sessions share the least busy thread. Threads start when
 * sessions need them (the first one at load, to report load errors) and end
 * after being idle for a while; a thread that dies takes only its own
 * sessions with it, and is replaced by the next session that needs one.
 */
export class WorkerKernel extends KernelPool<Thread> {
  readonly kind = 'worker';
  readonly memberName = 'a worker thread';

  private constructor(private readonly options: WorkerKernelOptions) {
    super(options, options.threads ?? availableParallelism());
  }

  /** Start the pool with one thread; rejects with the load error (file and line) when the module does not load. */
  static async create(options: WorkerKernelOptions): Promise<WorkerKernel> {
    const kernel = new WorkerKernel(options);
    await kernel.startFirst();
    return kernel;
  }

  protected createMember(): Thread {
    return new Thread(this, this.options);
  }

  /** End every thread, then remove the compiled module they import. */
  override async dispose(): Promise<void> {
    await super.dispose();
    await this.options.module.dispose();
  }

  /** Replaced by a reload: once its last thread has ended, no thread imports the module again. */
  override retire(): void {
    super.retire();
    if (this.members.length === 0) void this.options.module.dispose();
  }

  /** @internal A thread has gone: a retired pool's module goes with its last one. */
  override removed(member: PoolMember): void {
    super.removed(member);
    if (this.retired && this.members.length === 0) void this.options.module.dispose();
  }

  /** The live threads (diagnostics and tests). */
  get threads(): number {
    return this.members.length;
  }

  /** @internal The workers of the live threads (tests end one to see the pool recover). */
  get workers(): Worker[] {
    return this.members.map((t) => t.worker);
  }
}
