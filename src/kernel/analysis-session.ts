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
import type { AnyAnalysis } from '../analysis/analysis.js';
import { AnalysisInstance, type ErrorReporting } from '../analysis/instance.js';
import type { Meta } from '../analysis/meta.js';
import type { Logger } from '../util/logger.js';
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
 * Where a session is: its instance is made and its stores load
 * (`starting`), it runs `connect`, `args`, `connected` and then the page's
 * actions (`open`), the page has gone (`closing`); `ended`: closed before it
 * opened, or it failed to start (nothing runs on it any more).
 */
type SessionState = 'starting' | 'open' | 'closing' | 'ended';

/**
 * One page's analysis instance and its action queue: creates the instance,
 * sends the snapshots, runs `connect`, `args`, `connected`, then the page's
 * actions one after the other, and on close `disconnected`. The in-process
 * kernel and the worker threads run sessions with this same class, so an
 * analysis behaves the same on either side of the boundary.
 */
// the session is its own analysis instance and action queue: one object per page instead of three
export class AnalysisSession
  extends AnalysisInstance<AnyAnalysis, SessionPort>
  implements KernelSession
{
  private state: SessionState = 'starting';
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
    port: SessionPort,
    request: OpenRequest,
    private readonly logger: Logger,
  ) {
    super(port);
    this.started = this.enqueue(() => this.start(request));
  }

  /**
   * Create the instance, send the snapshots, run `connect`, `args` and
   * `connected`. Synchronous as far as it can be: an analysis on the memory
   * backend whose lifecycle handlers do not wait starts without a Promise
   * or an await (every page runs this).
   */
  private start(request: OpenRequest): Promise<void> | undefined {
    let ready: Promise<void> | undefined;
    try {
      ready = this.create(this.meta.analysisClass, {
        id: request.id,
        logger: this.logger,
        owner: request.owner,
        backend: request.datastore,
        reporting: reportingOf(this.meta, request.errorDetails ?? true),
        user: request.user,
      });
    } catch (error) {
      // what was made before the throw (a store of initDatastores) is released
      this.dispose();
      this.failedToStart(error);
      return undefined;
    }
    if (ready === undefined) return this.begin(request);
    return ready.then(
      () => this.begin(request),
      (error: unknown) => {
        this.dispose();
        this.failedToStart(error);
      },
    );
  }

  private failedToStart(error: unknown): void {
    this.started = undefined;
    this.state = 'ended';
    const { message, stack } = describeError(error);
    const text = `could not start analysis "${this.meta.name}": ${message}`;
    this.logger.error(`${text}\n${stack}`);
    this.page.fail(text, 1011, 'analysis failed to start');
  }

  /** The instance is ready: the `__connect` reply, the snapshots, then the lifecycle actions. */
  private begin(request: OpenRequest): Promise<void> | undefined {
    if (this.state !== 'starting') {
      // closed while its stores loaded
      this.started = undefined;
      this.dispose();
      return undefined;
    }
    this.state = 'open';
    this.page.opened();
    if (request.resumed) {
      const data = this.snapshotFrame('data');
      if (data !== undefined) void this.page.frame(data);
    }
    const classData = this.snapshotFrame('class_data');
    if (classData !== undefined) void this.page.frame(classData);
    const running = this.lifecycle(request.cliArgs as string[], parseQs(request.requestArgs));
    if (running === undefined) {
      this.started = undefined;
      return undefined;
    }
    return running.then(() => {
      this.started = undefined;
    });
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
      if (this.state === 'open') await this.runAction(name, message, call.run);
    };
    const ran =
      concurrency === 'parallel' ? (this.started ?? RESOLVED).then(task) : this.enqueue(task);
    ran
      .catch((error: unknown) => this.failed(name, error))
      .finally(() => {
        this.calls?.delete(call);
        // a dropped call was accounted for when it was dropped
        if (call.state !== 'dropped') this.page.done();
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
    // (its end frame only after the `__connect` reply)
    if (call.hasProcess && (this.state === 'open' || this.state === 'closing')) {
      void this.send(PROTOCOL.processSignal, endLoad(call.run, false));
    }
    this.page.done();
  }

  /** An action failed outside its handlers (e.g. a `__process` frame that cannot be encoded). */
  private failed(action: string, error: unknown): void {
    const { message, stack } = describeError(error);
    const text = `action "${action}" failed: ${message}`;
    this.logger.error(`[${this.meta.name}] ${text}\n${stack}`);
    void this.page.frame(frameFromEncoded('error', encodeValue(text)));
  }

  async close(): Promise<void> {
    const was = this.state;
    if (was === 'closing' || was === 'ended') return;
    // a session that has not opened runs no `disconnected`: `begin` releases it
    this.state = was === 'open' ? 'closing' : 'ended';
    this.abort();
    // every running action of this page sees its actionSignal abort too
    for (const call of this.calls ?? NO_CALLS) call.run.abort();
    // the handler that runs now gets a grace period; queued actions are skipped
    const drained = await Promise.race([
      this.enqueue(async () => undefined).then(() => true),
      delay(CLOSE_GRACE_MS),
    ]);
    if (was !== 'open') return;
    if (!drained) {
      this.logger.warn(
        `[${this.meta.name}] a handler of a closed session still runs after ${CLOSE_GRACE_MS} ms: running disconnected anyway`,
      );
    }
    try {
      const finished = await Promise.race([
        this.runAction('disconnected').then(() => true),
        delay(CLOSE_GRACE_MS),
      ]);
      if (!finished) {
        this.logger.warn(
          `[${this.meta.name}] disconnected did not finish within ${CLOSE_GRACE_MS} ms: releasing the session`,
        );
      }
    } finally {
      this.dispose();
    }
  }
}
