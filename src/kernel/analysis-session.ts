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
import { actionTable, DEFAULT_MAX_PARALLEL } from '../analysis/actions.js';
import type { AnyAnalysis } from '../analysis/analysis.js';
import { AnalysisInstance, type ErrorReporting } from '../analysis/instance.js';
import type { Meta } from '../analysis/meta.js';
import type { Logger } from '../util/logger.js';
import { PositionalCall, UploadedFile } from '../analysis/upload.js';
import type { Change } from '../datastore/change.js';
import type { Datastore } from '../datastore/datastore.js';
import type {
  AskedConcurrency,
  KernelSession,
  OpenRequest,
  PagePort,
  UploadDelivery,
} from './kernel.js';

/** What a kernel needs of the page: the in-process Session, or a worker's outbox. */
export type SessionPort = Pick<PagePort, 'opened' | 'frame' | 'emit' | 'change' | 'done' | 'fail'>;

/**
 * How long a closing session waits for its running handler before it runs
 * `disconnected` anyway, and how long `disconnected` itself may take before
 * everything is released regardless.
 */
export const CLOSE_GRACE_MS = 1000;

/**
 * One call of an action, from its arrival to its end: what a cancel finds.
 * The session links its calls into a list through `next` and `prev` (a Set
 * would hash every call and shrink its table as calls end).
 */
interface Call {
  readonly run: ActionRun;
  readonly hasProcess: boolean;
  state: 'queued' | 'running' | 'dropped';
  /** Settles when the call has ended (or was dropped); set for calls beside the queue. */
  ended: Promise<void> | undefined;
  /** In its session's list of calls. A call taken out keeps its `next`, so a walk of the list goes on past it. */
  listed: boolean;
  prev: Call | undefined;
  next: Call | undefined;
}

/** The calls of one `parallel` action of one page: how many run, and the starts of those that wait. */
interface Lane {
  running: number;
  /** Waiting starts, first at `head` (an index, so a long wait list is not shifted). */
  readonly waiting: Array<(() => void) | undefined>;
  head: number;
}

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

function noop(): void {}

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
   * Calls queued or running, oldest first (what `cancel`, `latest` and the
   * close look through): a list linked through the calls.
   */
  private firstCall: Call | undefined;
  private lastCall: Call | undefined;
  /**
   * Settles when `connect`, `args` and `connected` ran: calls beside the
   * queue wait for it. Undefined once they have (an idle page holds no Promise).
   */
  private started: Promise<void> | undefined;
  /**
   * Per `latest` action running beside the queue: settles when its last
   * call has ended (the next one starts then). Made by the first such call.
   */
  private lanes: Map<string, Promise<void>> | undefined;
  /** The `parallel` actions that have calls running or waiting; created by the first. */
  private parallelLanes: Map<string, Lane> | undefined;

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
        resumed: request.resumed,
        logger: this.logger,
        owner: request.owner,
        backend: request.datastore,
        classDomain: request.classDomain,
        dataDomain: request.dataDomain,
        userDomain: request.userDomain,
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
    // the snapshots before the reply: a value the page cannot receive fails the connect
    const max = request.maxValueBytes ?? Infinity;
    const data = request.resumed ? this.snapshotFrame('data', max) : undefined;
    const classData = this.snapshotFrame('class_data', max);
    const userData = this.snapshotFrame('user_data', max);
    const oversized =
      typeof data === 'object'
        ? { signal: 'data', ...data }
        : typeof classData === 'object'
          ? { signal: 'class_data', ...classData }
          : typeof userData === 'object'
            ? { signal: 'user_data', ...userData }
            : undefined;
    if (oversized !== undefined) {
      this.started = undefined;
      this.state = 'ended';
      this.dispose();
      const text = `could not connect to analysis "${this.meta.name}": its ${oversized.signal} key "${oversized.key}" holds ${oversized.bytes} bytes or more, more than a page can receive (${max}, the server's sendBufferHardBytes); store less under one key`;
      this.logger.error(text);
      this.page.fail(text, 1011, 'a value too large for the page');
      return undefined;
    }
    this.state = 'open';
    this.page.opened();
    if (typeof data === 'string') void this.page.frame(data);
    if (typeof classData === 'string') void this.page.frame(classData);
    if (typeof userData === 'string') void this.page.frame(userData);
    const running = this.lifecycle(request.cliArgs as string[], parseQs(request.requestArgs));
    if (running === undefined) {
      this.started = undefined;
      return undefined;
    }
    return running.then(() => {
      this.started = undefined;
    });
  }

  /**
   * A change of the page's stores. While they load (a shared datastore may
   * take long, e.g. while it is away) the page has not had its `__connect`
   * reply: nothing may precede it, and the snapshots that follow the reply
   * carry these changes.
   */
  override handleDatastoreChange(change: Change, store: Datastore<object>): unknown {
    if (this.state === 'starting') return undefined;
    return super.handleDatastoreChange(change, store);
  }

  action(name: string, hasLoad: boolean, load: unknown, asked?: AskedConcurrency): void {
    const message = hasLoad ? load : undefined;
    let hasProcess = false;
    let processId: unknown = null;
    if (isPlainObject(message)) {
      if (PROTOCOL.processIdKey in message) {
        hasProcess = true;
        processId = message[PROTOCOL.processIdKey];
      } else if (message instanceof PositionalCall) {
        hasProcess = message.processId !== null;
        processId = message.processId;
      }
    }
    const table = this.actions ?? actionTable(this.meta.analysisClass);
    // what the analysis declares wins; else what the page asks (a slider: latest)
    const concurrency = table.concurrency.get(name) ?? asked ?? 'queue';
    const queued =
      concurrency === 'queue' || (concurrency === 'latest' && table.exclusive.has(name));
    const call: Call = {
      run: new ActionRun(name, processId, concurrency, queued),
      hasProcess,
      state: 'queued',
      ended: undefined,
      listed: false,
      prev: undefined,
      next: undefined,
    };
    if (concurrency === 'latest') {
      // a newer value replaces the older ones: drop what waits, stop what runs
      for (let other = this.firstCall; other !== undefined; other = other.next) {
        if (!other.listed || other.run.name !== name) continue;
        if (other.state === 'queued') this.drop(other);
        else other.run.cancel();
      }
    }
    this.addCall(call);
    // one closure and one Promise per call (every action of every page runs this)
    const task = (): Promise<void> => this.runCall(call, message);
    if (queued) {
      void this.enqueue(task);
      return;
    }
    let ran: Promise<void>;
    if (concurrency === 'parallel') ran = this.parallel(name, task);
    else {
      // a lane per latest action: beside the queue, after this action's previous call
      const lanes = (this.lanes ??= new Map<string, Promise<void>>());
      ran = (lanes.get(name) ?? this.started ?? RESOLVED).then(task);
      const tail = ran.then(noop, noop);
      lanes.set(name, tail);
      void tail.then(() => {
        if (lanes.get(name) === tail) lanes.delete(name);
      });
    }
    // (runCall never rejects: a rejection here is of what the call waited
    // for, and the call never ran)
    call.ended = ran.catch((error: unknown) => {
      this.failed(name, error);
      this.removeCall(call);
      if (call.state !== 'dropped') this.page.done();
    });
  }

  /**
   * One call, once its turn came: run it (unless it was dropped meanwhile),
   * then take it off the page's count. Never rejects: a failure outside the
   * handlers is reported to the page.
   */
  private async runCall(call: Call, message: unknown): Promise<void> {
    const name = call.run.name;
    try {
      if (call.state === 'dropped') return;
      // a burst of calls (a dragged slider) arrives within one turn: only its last one runs
      if (call.run.concurrency === 'latest') await nextTurn();
      // (a newer call may have dropped this one during that turn)
      if ((call.state as Call['state']) === 'dropped') return;
      call.state = 'running';
      if (this.state === 'open') await this.runAction(name, message, call.run);
    } catch (error) {
      this.failed(name, error);
    } finally {
      this.removeCall(call);
      // a dropped call was accounted for when it was dropped
      if (call.state !== 'dropped') this.page.done();
    }
  }

  /**
   * A page's upload has arrived: its action runs (queued like any other)
   * with the file, or the list of files, as its one argument.
   */
  upload(delivery: UploadDelivery): void {
    const files = delivery.files.map((f) => new UploadedFile(f.name, f.type, f.bytes));
    this.action(
      delivery.action,
      true,
      new PositionalCall([delivery.multiple ? files : files[0]], delivery.processId),
    );
  }

  /**
   * Run a call of a `parallel` action once `connect`, `args` and `connected`
   * ran and fewer than the action's `maxParallel` of this page's calls run;
   * calls past it wait, in order, for one to end (a page cannot start
   * thousands of handlers at once; its input bounds bound the wait).
   */
  private parallel(name: string, task: () => Promise<void>): Promise<void> {
    const max = actionTable(this.meta.analysisClass).maxParallel.get(name) ?? DEFAULT_MAX_PARALLEL;
    const lanes = (this.parallelLanes ??= new Map<string, Lane>());
    let lane = lanes.get(name);
    if (lane === undefined) {
      lane = { running: 0, waiting: [], head: 0 };
      lanes.set(name, lane);
    }
    const own = lane;
    const run = (): Promise<void> => {
      own.running++;
      return (this.started ?? RESOLVED).then(task).finally(() => {
        own.running--;
        if (own.head < own.waiting.length) {
          const next = own.waiting[own.head];
          own.waiting[own.head++] = undefined;
          // a list that never empties under load drops its spent half now and then
          if (own.head >= 1024 && own.head * 2 >= own.waiting.length) {
            own.waiting.splice(0, own.head);
            own.head = 0;
          }
          next?.();
        } else if (own.running === 0 && lanes.get(name) === own) {
          lanes.delete(name);
        }
      });
    };
    if (own.running < max) return run();
    if (own.head === own.waiting.length) {
      own.waiting.length = 0;
      own.head = 0;
    }
    return new Promise((resolve, reject) => {
      own.waiting.push(() => {
        run().then(resolve, reject);
      });
    });
  }

  private addCall(call: Call): void {
    call.listed = true;
    call.prev = this.lastCall;
    if (this.lastCall === undefined) this.firstCall = call;
    else this.lastCall.next = call;
    this.lastCall = call;
  }

  private removeCall(call: Call): void {
    if (!call.listed) return;
    call.listed = false;
    const { prev, next } = call;
    if (prev === undefined) this.firstCall = next;
    else prev.next = next;
    if (next === undefined) this.lastCall = prev;
    else next.prev = prev;
    // (its `next` stays: a walk that stands on it goes on to the rest)
    call.prev = undefined;
  }

  /** The page cancels a call by its process id, or every call of an action. */
  cancel(target: CancelTarget): void {
    for (let call = this.firstCall; call !== undefined; call = call.next) {
      if (!call.listed) continue;
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
    this.removeCall(call);
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
    for (let call = this.firstCall; call !== undefined; call = call.next) {
      if (call.listed) call.run.abort();
    }
    // the handlers that run now get a grace period; queued actions are skipped
    const running: Array<Promise<void>> = [this.enqueue(noop)];
    for (let call = this.firstCall; call !== undefined; call = call.next) {
      if (call.listed && call.ended) running.push(call.ended);
    }
    const drained = await Promise.race([
      Promise.all(running).then(() => true),
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
