import type { Analysis, AnalysisClass, AnyAnalysis } from '../analysis/analysis.js';
import { createMemoryLogger, type LogLevel } from '../util/logger.js';
import { Meta } from '../analysis/meta.js';
import { ActionQueue } from '../util/queue.js';

/** Options of {@link AnalysisTest}. */
export interface AnalysisTestOptions {
  /** What the `args` action passes as `cli_args`. Default: `[]`. */
  cliArgs?: string[];
  /** What the `args` action passes as `request_args`. Default: `{}`. */
  requestArgs?: Record<string, string[]>;
  /** Runs actions; an object with `runProcess` like {@link Meta.runProcess}. Default: `Meta`. */
  meta?: {
    /** Run `action` with `message` on `analysis`, like {@link Meta.runProcess}. */
    runProcess(analysis: Analysis, action: string, message?: unknown): Promise<void>;
  };
}

/** One message the analysis sent to the page: `[signal]` (no load) or `[signal, message]`. */
export type EmittedMessage = [signal: string, message?: unknown];

/**
 * A harness that runs an analysis without a server: it creates the instance,
 * runs `connect`, `args` and `connected`, and records every message sent to
 * the page in {@link emittedMessages}.
 *
 * @example
 * const test = new AnalysisTest(Parameters);
 * await test.trigger('test_data', ['light', 'red']);
 * assert.deepStrictEqual(test.emittedMessages.at(-1), ['data', { light: 'red' }]);
 */
export class AnalysisTest<A extends AnyAnalysis = AnyAnalysis> {
  /** The analysis under test (available at once; its datastores once `ready` resolves). */
  readonly analysisInstance: A;
  /** Every message sent to the page, in order. */
  readonly emittedMessages: EmittedMessage[] = [];
  /** What the analysis wrote to the server's log: `[level, line]`. */
  readonly logs: Array<[LogLevel, string]>;
  /** Resolves when `connect`, `args` and `connected` have run. */
  readonly ready: Promise<void>;
  private readonly queue = new ActionQueue();
  private readonly meta: NonNullable<AnalysisTestOptions['meta']>;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(analysis: AnalysisClass<A> | A, options: AnalysisTestOptions = {}) {
    const logger = createMemoryLogger();
    this.logs = logger.lines;
    this.meta = options.meta ?? Meta;
    const instance = typeof analysis === 'function' ? new analysis() : analysis;
    instance.logger = logger;
    instance.setEmitFn((signal, message) => {
      this.emittedMessages.push(message === undefined ? [signal] : [signal, message]);
    });
    instance.initDatastores();
    instance.wireDatastores();
    this.analysisInstance = instance;
    const cliArgs = options.cliArgs ?? [];
    const requestArgs = options.requestArgs ?? {};
    this.ready = this.queue.enqueue(async () => {
      await Promise.all([instance.data.ready, instance.classData.ready]);
      await this.meta.runProcess(instance, 'connect');
      await this.meta.runProcess(instance, 'args', {
        cli_args: cliArgs,
        request_args: requestArgs,
      });
      await this.meta.runProcess(instance, 'connected');
    });
  }

  /**
   * Run `action` with `message` (as the page would send it) after the setup
   * and every action triggered before; resolves when it has run.
   */
  trigger(action: string, message?: unknown): Promise<void> {
    if (this.closed) return Promise.reject(new Error('AnalysisTest is closed'));
    return this.queue.enqueue(() => this.meta.runProcess(this.analysisInstance, action, message));
  }

  /** Run `disconnected` and release the instance's stores and timers. */
  close(): Promise<void> {
    this.closing ??= this.trigger('disconnected').then(() => {
      this.closed = true;
      this.analysisInstance.dispose();
    });
    return this.closing;
  }
}
