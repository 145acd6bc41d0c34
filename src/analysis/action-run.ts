import { performance } from 'node:perf_hooks';
import { DatabenchError } from '../protocol/errors.js';
import type { ProcessLoad } from '../protocol/messages.js';
import type { Concurrency } from './actions.js';

/**
 * Progress frames of one action go out at most this often (about 20 a
 * second, what a person can follow); the last one is never lost: it goes
 * out when the interval has passed, or before the action's end frame.
 */
const PROGRESS_INTERVAL_MS = 50;

const RESOLVED: Promise<void> = Promise.resolve();

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
  private sendFn: ((load: ProcessLoad) => Promise<void>) | undefined;

  constructor(
    readonly name: string,
    readonly processId: unknown,
    readonly concurrency: Concurrency = 'queue',
  ) {}

  get signal(): AbortSignal {
    return (this.controller ??= new AbortController()).signal;
  }

  /** @internal Where progress frames go (the analysis's page), set when the call starts. */
  bind(send: (load: ProcessLoad) => Promise<void>): void {
    this.sendFn = send;
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
      return this.sendFn?.(load) ?? RESOLVED;
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

  /** @internal The call ended: the last progress goes out before the end frame. */
  finish(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    return this.sendPending();
  }

  private sendPending(): Promise<void> {
    const load = this.pending;
    this.pending = undefined;
    if (load === undefined) return RESOLVED;
    this.lastSent = performance.now();
    return this.sendFn?.(load) ?? RESOLVED;
  }
}

const current = new WeakMap<object, ActionRun>();

/** @internal The call whose handler started last on `analysis` (read by `actionSignal` and `progress`). */
export function currentRun(analysis: object): ActionRun | undefined {
  return current.get(analysis);
}

/** @internal A handler of `run` starts on `analysis`. */
export function setCurrentRun(analysis: object, run: ActionRun | undefined): void {
  if (run === undefined) current.delete(analysis);
  else current.set(analysis, run);
}

/** @internal The `__process` end frame of a call. */
export function endLoad(run: ActionRun, failed: boolean): ProcessLoad {
  const load: ProcessLoad = { id: run.processId, status: 'end' };
  if (failed) load.error = true;
  if (run.cancelled) load.cancelled = true;
  return load;
}
