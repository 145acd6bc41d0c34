import { performance } from 'node:perf_hooks';
import { DatabenchError } from '../protocol/errors.js';
import { PROTOCOL, type ProcessLoad } from '../protocol/messages.js';
import type { Concurrency } from './actions.js';

/**
 * Progress frames of one action go out at most this often (about 20 a
 * second, what a person can follow); the last one is never lost: it goes
 * out when the interval has passed, or before the action's end frame.
 */
const PROGRESS_INTERVAL_MS = 50;

const RESOLVED: Promise<void> = Promise.resolve();

/** @internal Where a call's progress frames go: the analysis's page (its instance). */
export interface ProgressSink {
  send(signal: string, message: unknown): Promise<void>;
}

/** What a handler can see of the action it runs for (`this.currentAction`). */
export interface ActionHandle {
  /** The action's name. */
  readonly name: string;
  /** Its `__process_id`, or null when the page sent none. */
  readonly processId: unknown;
  /** Aborted when this call is cancelled (`d.cancel`), replaced (`latest`), or its page goes away. */
  readonly signal: AbortSignal;
  /** Send progress for this call; see `Analysis.progress`. */
  progress(fraction: number | null, message?: string): Promise<void>;
}

/**
 * One call of an action: its abort controller, its process id and its
 * throttled progress. The kernel's session makes one per call (so that a
 * `__cancel` can find it); `runAction` makes one when called alone. Not
 * exported by the package (what a handler sees of it is {@link ActionHandle}).
 */
export class ActionRun implements ActionHandle {
  // made on first use: most calls never read their signal, and a call costs less without it
  private controller: AbortController | undefined;
  /** True when aborted by a cancel or a newer `latest` call (not by the page leaving). */
  cancelled = false;
  private lastSent = -Infinity;
  private pending: ProcessLoad | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private sink: ProgressSink | undefined;

  constructor(
    readonly name: string,
    readonly processId: unknown,
    readonly concurrency: Concurrency = 'queue',
    /** Runs in the page's queue (one at a time), not beside it (`latest` and `parallel` calls). */
    readonly queued: boolean = concurrency === 'queue',
  ) {}

  get signal(): AbortSignal {
    return (this.controller ??= new AbortController()).signal;
  }

  /** @internal Where progress frames go (the analysis's page), set when the call starts. */
  bind(sink: ProgressSink | undefined): void {
    this.sink = sink;
  }

  /** Cancel this call: its signal aborts, its end frame says `cancelled: true`. */
  cancel(): void {
    if (this.signal.aborted) return;
    this.cancelled = true;
    this.controller?.abort(
      new DatabenchError('CANCELLED', `the action "${this.name}" was cancelled`),
    );
  }

  /** The page has gone: abort without calling it a cancel. */
  abort(): void {
    if (!this.signal.aborted) {
      this.controller?.abort(new DatabenchError('CLOSED', 'the page has gone'));
    }
  }

  progress(fraction: number | null, message?: string): Promise<void> {
    if (fraction !== null && (typeof fraction !== 'number' || Number.isNaN(fraction))) {
      throw new DatabenchError(
        'INVALID_ARGUMENT',
        `progress(fraction): fraction must be a number from 0 to 1 or null, got ${String(fraction)}`,
      );
    }
    if (message !== undefined && typeof message !== 'string') {
      throw new DatabenchError(
        'INVALID_ARGUMENT',
        `progress(fraction, message): message must be a string, got ${typeof message}`,
      );
    }
    const load: ProcessLoad = {
      id: this.processId,
      status: 'progress',
      action: this.name,
      fraction: fraction === null ? null : Math.min(1, Math.max(0, fraction)),
      ...(message !== undefined ? { message } : {}),
    };
    const now = performance.now();
    const wait = this.lastSent + PROGRESS_INTERVAL_MS - now;
    if (wait <= 0 && this.timer === undefined) {
      this.lastSent = now;
      return this.sink?.send(PROTOCOL.processSignal, load) ?? RESOLVED;
    }
    // throttled: keep only the newest, send it when the interval has passed
    this.pending = load;
    this.timer ??= setTimeout(
      () => {
        this.timer = undefined;
        void this.sendPending();
      },
      Math.max(0, wait),
    );
    return RESOLVED;
  }

  /**
   * @internal The call ended: the last progress goes out before the end
   * frame. Undefined when there is none to send (most calls: nothing to await).
   */
  finish(): Promise<void> | undefined {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    return this.pending === undefined ? undefined : this.sendPending();
  }

  private sendPending(): Promise<void> {
    const load = this.pending;
    this.pending = undefined;
    if (load === undefined) return RESOLVED;
    this.lastSent = performance.now();
    return this.sink?.send(PROTOCOL.processSignal, load) ?? RESOLVED;
  }
}

/**
 * The calls running on one analysis, and the one its `actionSignal`,
 * `currentAction` and `progress` name. Without a per-call context (Node 20's
 * AsyncLocalStorage would slow every Promise of the process), a handler is
 * known to run for its call only until its first `await`; after that they
 * name the page's queued call that runs, else the newest call running beside
 * the queue: a long queued run keeps its progress and Stop while sliders
 * answer beside it.
 */
export interface Running {
  current: ActionRun | undefined;
  /** The page's queued call that runs now. */
  queued: ActionRun | undefined;
  /** `latest` and `parallel` calls running beside the queue, oldest first. */
  beside: ActionRun[] | undefined;
}

const running = new WeakMap<object, Running>();

/** @internal What `actionSignal`, `currentAction` and `progress` of `analysis` name now. */
export function currentRun(analysis: object): ActionRun | undefined {
  return running.get(analysis)?.current;
}

/** The call named between handlers' first steps: the queued one, else the newest beside it. */
function resting(r: Running): ActionRun | undefined {
  return r.queued ?? r.beside?.at(-1);
}

/**
 * @internal The calls of `analysis` (made by its first). {@link enterRun},
 * {@link handlerStarts}, {@link handlerWaits} and {@link leaveRun} take it:
 * one lookup per call, not one per step.
 */
export function runningOf(analysis: object): Running {
  let r = running.get(analysis);
  if (r === undefined) {
    r = { current: undefined, queued: undefined, beside: undefined };
    running.set(analysis, r);
  }
  return r;
}

/**
 * @internal `run` starts (`r`: its analysis's {@link runningOf}). Returns the
 * queued call it replaces for its duration (a handler that runs another
 * action itself), for {@link leaveRun}.
 */
export function enterRun(r: Running, run: ActionRun): ActionRun | undefined {
  const outer = r.queued;
  if (run.queued) r.queued = run;
  else (r.beside ??= []).push(run);
  return outer;
}

/** @internal A handler of `run` starts: until its first `await`, it runs for `run`. */
export function handlerStarts(r: Running, run: ActionRun): void {
  r.current = run;
}

/** @internal The handler that started has reached its first `await` (or returned). */
export function handlerWaits(r: Running): void {
  r.current = resting(r);
}

/** @internal `run` has ended; `outer` is what {@link enterRun} returned. */
export function leaveRun(r: Running, run: ActionRun, outer: ActionRun | undefined): void {
  if (run.queued) {
    if (r.queued === run) r.queued = outer;
  } else if (r.beside !== undefined) {
    const i = r.beside.indexOf(run);
    if (i >= 0) r.beside.splice(i, 1);
    if (r.beside.length === 0) r.beside = undefined;
  }
  r.current = resting(r);
}

/** @internal The `__process` end frame of a call. */
export function endLoad(run: ActionRun, failed: boolean): ProcessLoad {
  const load: ProcessLoad = { id: run.processId, status: 'end' };
  if (failed) load.error = true;
  if (run.cancelled) load.cancelled = true;
  return load;
}
