import { dirname } from 'node:path';
import { encodeValue } from '../protocol/encode.js';
import { describeError } from '../protocol/errors.js';
import {
  frameFromEncoded,
  isPlainObject,
  parseQs,
  PROTOCOL,
  type CancelTarget,
} from '../protocol/messages.js';
import { ActionRun, endLoad } from '../analysis/action-run.js';
import { actionTable } from '../analysis/actions.js';
import { setErrorReporting, type AnyAnalysis, type ErrorReporting } from '../analysis/analysis.js';
import type { Logger } from '../util/logger.js';
import { Meta } from '../analysis/meta.js';
import { ActionQueue } from '../util/queue.js';
import type { KernelSession, OpenRequest, PagePort } from './kernel.js';

/** What a kernel needs of the page: the in-process Session, or a worker's outbox. */
export type SessionPort = Pick<PagePort, 'opened' | 'frame' | 'emit' | 'change' | 'done' | 'fail'>;

/**
 * How long a closing session waits for its running handler before it runs
 * `disconnected` anyway, and how long `disconnected` itself may take before
 * everything is released regardless.
 */
export const CLOSE_GRACE_MS = 1000;

/** One call of an action, from its arrival to its end: what a cancel finds. */
interface Call {
  readonly run: ActionRun;
  readonly hasProcess: boolean;
  state: 'queued' | 'running' | 'dropped';
}

const NO_CALLS: ReadonlySet<Call> = new Set();

/** How each analysis reports errors, with and without details: one object per kind, not per page. */
const reportings = new WeakMap<Meta, { on: ErrorReporting; off: ErrorReporting }>();

function reportingOf(meta: Meta, details: boolean): ErrorReporting {
  let r = reportings.get(meta);
  if (r === undefined) {
    const root = dirname(meta.analysisPath);
    r = { on: { details: true, root }, off: { details: false, root } };
    reportings.set(meta, r);
  }
  return details ? r.on : r.off;
}

const RESOLVED: Promise<void> = Promise.resolve();

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function delay(ms: number): Promise<false> {
  return new Promise((resolve) => setTimeout(() => resolve(false), ms).unref());
}

/**
 * One page's analysis instance and its action queue: creates the instance,
 * sends the snapshots, runs `connect`, `args`, `connected`, then the page's
 * actions one after the other, and on close `disconnected`. The in-process
 * kernel and the worker threads run sessions with this same class, so an
 * analysis behaves the same on either side of the boundary.
 */
// the session is its own action queue: one object per page instead of two
export class AnalysisSession extends ActionQueue implements KernelSession {
  private analysis: AnyAnalysis | undefined;
  private closing = false;
  /**
   * Calls queued or running (what `cancel`, `latest` and the close look
   * through); created by the first action, so an idle page costs no Set.
   */
  private calls: Set<Call> | undefined;
  /**
   * Settles when `connect`, `args` and `connected` ran: `parallel` calls wait
   * for it. Undefined once they have (an idle page holds no Promise).
   */
  private started: Promise<void> | undefined;

  constructor(
    private readonly meta: Meta,
    private readonly port: SessionPort,
    request: OpenRequest,
    private readonly logger: Logger,
  ) {
    super();
    this.started = this.enqueue(() => this.start(request));
  }

  /**
   * Create the instance, send the snapshots, run `connect`, `args` and
   * `connected`. Synchronous as far as it can be: an analysis on the memory
   * backend whose lifecycle handlers do not wait starts without a Promise
   * or an await (every page runs this).
   */
  private start(request: OpenRequest): Promise<void> | undefined {
    let analysis: AnyAnalysis;
    let ready: Promise<void> | undefined;
    try {
      analysis = this.meta.instantiate({
        id: request.id,
        logger: this.logger,
        sink: this.port,
        owner: request.owner,
        backend: request.datastore,
      });
      ready = Meta.whenReady(analysis);
    } catch (error) {
      this.failedToStart(error);
      return undefined;
    }
    if (ready === undefined) return this.begin(analysis, request);
    return ready.then(
      () => this.begin(analysis, request),
      (error: unknown) => {
        analysis.dispose();
        this.failedToStart(error);
      },
    );
  }

  private failedToStart(error: unknown): void {
    this.started = undefined;
    const { message, stack } = describeError(error);
    const text = `could not start analysis "${this.meta.name}": ${message}`;
    this.logger.error(`${text}\n${stack}`);
    this.port.fail(text, 1011, 'analysis failed to start');
  }

  /** The instance is ready: the `__connect` reply, the snapshots, then the lifecycle actions. */
  private begin(analysis: AnyAnalysis, request: OpenRequest): Promise<void> | undefined {
    if (this.closing) {
      this.started = undefined;
      analysis.dispose();
      return undefined;
    }
    this.analysis = analysis;
    setErrorReporting(analysis, reportingOf(this.meta, request.errorDetails ?? true));
    this.port.opened();
    if (request.resumed) {
      const data = analysis.snapshotFrame('data');
      if (data !== undefined) void this.port.frame(data);
    }
    const classData = analysis.snapshotFrame('class_data');
    if (classData !== undefined) void this.port.frame(classData);
    return this.lifecycle(analysis, request, 0);
  }

  /** `connect`, `args`, `connected` from `step` on, one after the other; awaits only a handler that waits. */
  private lifecycle(
    analysis: AnyAnalysis,
    request: OpenRequest,
    step: number,
  ): Promise<void> | undefined {
    for (; step < 3; step++) {
      const running =
        step === 0
          ? Meta.runLifecycle(analysis, 'connect')
          : step === 1
            ? Meta.runLifecycle(analysis, 'args', {
                cli_args: request.cliArgs as string[],
                request_args: parseQs(request.requestArgs),
              })
            : Meta.runLifecycle(analysis, 'connected');
      if (running !== undefined) {
        const next = step + 1;
        return running.then(() => this.lifecycle(analysis, request, next));
      }
    }
    this.started = undefined;
    return undefined;
  }

  action(name: string, hasLoad: boolean, load: unknown): void {
    const message = hasLoad ? load : undefined;
    const hasProcess = isPlainObject(message) && PROTOCOL.processIdKey in message;
    const processId = hasProcess ? message[PROTOCOL.processIdKey] : null;
    const concurrency = actionTable(this.meta.analysisClass).concurrency.get(name) ?? 'queue';
    const call: Call = {
      run: new ActionRun(name, processId, concurrency),
      hasProcess,
      state: 'queued',
    };
    if (concurrency === 'latest') {
      // a newer value replaces the older ones: drop what waits, stop what runs
      for (const other of this.calls ?? NO_CALLS) {
        if (other.run.name !== name) continue;
        if (other.state === 'queued') this.drop(other);
        else other.run.cancel();
      }
    }
    (this.calls ??= new Set()).add(call);
    const task = async (): Promise<void> => {
      if (call.state === 'dropped') return;
      // a burst of calls (a dragged slider) arrives within one turn: only its last one runs
      if (concurrency === 'latest') await nextTurn();
      // (a newer call may have dropped this one during that turn)
      if ((call.state as Call['state']) === 'dropped') return;
      call.state = 'running';
      if (this.analysis && !this.closing) {
        await Meta.runProcess(this.analysis, name, message, call.run);
      }
    };
    const ran =
      concurrency === 'parallel' ? (this.started ?? RESOLVED).then(task) : this.enqueue(task);
    ran
      .catch((error: unknown) => this.failed(name, error))
      .finally(() => {
        this.calls?.delete(call);
        // a dropped call was accounted for when it was dropped
        if (call.state !== 'dropped') this.port.done();
      });
  }

  /** The page cancels a call by its process id, or every call of an action. */
  cancel(target: CancelTarget): void {
    for (const call of this.calls ?? NO_CALLS) {
      const hit =
        target.kind === 'process'
          ? call.hasProcess && call.run.processId === target.id
          : call.run.name === target.action;
      if (!hit) continue;
      if (call.state === 'queued') this.drop(call);
      else if (call.state === 'running') call.run.cancel();
    }
  }

  /** A queued call will not run: its button gets its end frame now. */
  private drop(call: Call): void {
    call.state = 'dropped';
    call.run.cancel();
    this.calls?.delete(call);
    if (call.hasProcess && this.analysis) {
      void this.analysis.send(PROTOCOL.processSignal, endLoad(call.run, false));
    }
    this.port.done();
  }

  /** An action failed outside its handlers (e.g. a `__process` frame that cannot be encoded). */
  private failed(action: string, error: unknown): void {
    const { message, stack } = describeError(error);
    const text = `action "${action}" failed: ${message}`;
    this.logger.error(`[${this.meta.name}] ${text}\n${stack}`);
    void this.port.frame(frameFromEncoded('error', encodeValue(text)));
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.analysis?.cancel();
    // every running action of this page sees its actionSignal abort too
    for (const call of this.calls ?? NO_CALLS) call.run.abort();
    // the handler that runs now gets a grace period; queued actions are skipped
    const drained = await Promise.race([
      this.enqueue(async () => undefined).then(() => true),
      delay(CLOSE_GRACE_MS),
    ]);
    const analysis = this.analysis;
    if (!analysis) return;
    if (!drained) {
      this.logger.warn(
        `[${this.meta.name}] a handler of a closed session still runs after ${CLOSE_GRACE_MS} ms: running disconnected anyway`,
      );
    }
    try {
      const finished = await Promise.race([
        Meta.runProcess(analysis, 'disconnected').then(() => true),
        delay(CLOSE_GRACE_MS),
      ]);
      if (!finished) {
        this.logger.warn(
          `[${this.meta.name}] disconnected did not finish within ${CLOSE_GRACE_MS} ms: releasing the session`,
        );
      }
    } finally {
      analysis.dispose();
    }
  }
}
