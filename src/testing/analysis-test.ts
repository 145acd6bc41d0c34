import type { Analysis, AnalysisClass, AnyAnalysis } from '../analysis/analysis.js';
import { AnalysisInstance, type PageSink } from '../analysis/instance.js';
import type { AuthUser } from '../analysis/user.js';
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named by the {@link}s of the docs below
import type { Meta } from '../analysis/meta.js';
import type { CheckedAction, EmitArgs } from '../protocol/contract.js';
import { createMemoryLogger, type LogLevel } from '../util/logger.js';

/** Options of {@link AnalysisTest}. */
export interface AnalysisTestOptions {
  /** What the `args` action passes as `cli_args`. Default: `[]`. */
  cliArgs?: string[];
  /** What the `args` action passes as `request_args`. Default: `{}`. */
  requestArgs?: Record<string, string[]>;
  /** Who opened the page: the analysis's `this.user`. Default: undefined (nobody signed in). */
  user?: AuthUser;
  /**
   * Run as the session of a page that came back (`this.resumed` is true),
   * to test what `on_connected` skips then. Default: false.
   */
  resumed?: boolean;
  /**
   * Runs every action, `connect`, `args` and `connected` included; an object
   * with `runProcess` like {@link Meta.runProcess}. Default: the instance
   * runs them as the server does.
   */
  meta?: {
    /** Run `action` with `message` on `analysis`, like {@link Meta.runProcess}. */
    runProcess(analysis: Analysis, action: string, message?: unknown): Promise<void>;
  };
}

/** One message the analysis sent to the page: `[signal]` (no load) or `[signal, message]`. */
export type EmittedMessage = [signal: string, message?: unknown];

/** A page that keeps what it is sent, decoded, in order. */
function recorder(messages: EmittedMessage[]): PageSink {
  return {
    emit(signal, message) {
      messages.push(message === undefined ? [signal] : [signal, message]);
    },
    change(signal, change) {
      messages.push([signal, { [change.key]: change.decode() }]);
    },
  };
}

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
  // the same instance (creation, wiring, lifecycle, disposal) as a served page's
  readonly #instance: AnalysisInstance<A>;
  readonly #meta: AnalysisTestOptions['meta'];
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(analysis: AnalysisClass<A> | A, options: AnalysisTestOptions = {}) {
    const logger = createMemoryLogger();
    this.logs = logger.lines;
    const meta = (this.#meta = options.meta);
    const instance = (this.#instance = new AnalysisInstance<A>(recorder(this.emittedMessages)));
    const loaded = instance.create(analysis, {
      logger,
      resumed: options.resumed,
      user: options.user,
    });
    const created = instance.analysis!;
    this.analysisInstance = created;
    const cliArgs = options.cliArgs ?? [];
    const requestArgs = options.requestArgs ?? {};
    this.ready = instance.enqueue(async () => {
      await loaded;
      if (meta === undefined) {
        await instance.lifecycle(cliArgs, requestArgs);
        return;
      }
      await meta.runProcess(created, 'connect');
      await meta.runProcess(created, 'args', { cli_args: cliArgs, request_args: requestArgs });
      await meta.runProcess(created, 'connected');
    });
  }

  /**
   * Run `action` with `message` (as the page would send it) after the setup
   * and every action triggered before; resolves when it has run. Typed as a
   * page's `Connection<A>.emit`: a name that is no action of the analysis is
   * a type error naming the nearest one, the message is checked against the
   * handler's parameters (a test of what a page may send wrongly casts:
   * `t.trigger('nope' as never)`).
   *
   * @example await t.trigger('count');
   */
  trigger<const N extends string>(
    action: CheckedAction<A, N>,
    ...message: EmitArgs<A, N>
  ): Promise<void> {
    return this.#trigger(action, message[0]);
  }

  #trigger(action: string, message: unknown): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('AnalysisTest is closed'));
    const meta = this.#meta;
    return this.#instance.enqueue(() =>
      meta === undefined
        ? this.#instance.runAction(action, message)
        : meta.runProcess(this.analysisInstance, action, message),
    );
  }

  /** Run `disconnected` and release the instance's stores and timers. */
  close(): Promise<void> {
    this.#closing ??= this.#trigger('disconnected', undefined).then(() => {
      this.#closed = true;
      this.#instance.dispose();
    });
    return this.#closing;
  }
}
