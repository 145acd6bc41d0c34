import { performance } from 'node:perf_hooks';

/** Something a {@link TurnBatcher} flushes: what it queued during a turn goes out in `flush`. */
export interface Batched {
  /** Send what was queued since the last flush. */
  flush(): void;
}

const RESOLVED: Promise<void> = Promise.resolve();

function noop(): void {}

/**
 * What one event-loop turn writes goes out together at the next turn: every
 * queue with something to send ({@link Batched}: a page's outbound queue, a
 * worker's outbox) is flushed by one callback, and the writers that wait for
 * it go on after it. A writer that loops runs in slices of `sliceMs`, then
 * awaits the flush, so its output streams and everything else in the thread
 * gets its turn.
 *
 * Each owner has its own (a server for its pages, a worker thread for its
 * outbox): nothing here is shared by two servers in one process.
 *
 * @example
 * const batcher = new TurnBatcher();
 * // in a queue's write path, once per turn:
 * if (!this.scheduled) { this.scheduled = true; return batcher.add(this); }
 * return batcher.wait();
 */
export class TurnBatcher {
  /**
   * The number of the current turn, as far as writers care: it moves on at
   * the turn after anything was batched or {@link markTurn} was called. A
   * queue that sends its first frame of a turn at once (see `markTurn`)
   * compares it to know whether it already did so in this turn.
   */
  turnNo = 0;
  /** The queues to flush at the next turn, in the order they queued. */
  private due: Batched[] = [];
  /** A callback for the next turn is scheduled. */
  private ticking = false;
  /** When the first queue of this batch was added: the writers' slice starts then. */
  private sliceStart = 0;
  private flushed: Promise<void> = RESOLVED;
  private resolveFlushed: () => void = noop;
  /** One function for every turn (no closure per turn). */
  private readonly tick = (): void => {
    this.ticking = false;
    this.turnNo++;
    this.flush();
  };

  /** @param sliceMs How long writers of one turn may run before they wait for the flush. Default: 2. */
  constructor(readonly sliceMs = 2) {}

  /**
   * Queue `target` for the flush at the next turn; resolves when its writer
   * may go on (at once within the slice, else at the flush). Call it once
   * per batch: the target remembers that it is queued until its `flush`
   * runs, and calls {@link wait} for later writes of the same batch.
   */
  add(target: Batched): Promise<void> {
    if (this.due.push(target) === 1) {
      this.flushed = new Promise((resolve) => (this.resolveFlushed = resolve));
      this.sliceStart = performance.now();
      if (!this.ticking) {
        this.ticking = true;
        setImmediate(this.tick);
      }
    }
    return this.wait();
  }

  /** What a writer awaits after it queued: nothing within the slice, the flush past it. */
  wait(): Promise<void> {
    return performance.now() - this.sliceStart < this.sliceMs ? RESOLVED : this.flushed;
  }

  /**
   * A queue sent a frame at once in this turn (nothing batched): the turn
   * number moves on at the next turn, so the queue may do so again then.
   * Returns the current turn's number.
   */
  markTurn(): number {
    if (!this.ticking) {
      this.ticking = true;
      setImmediate(this.tick);
    }
    return this.turnNo;
  }

  /**
   * Flush every queued target now and let their writers go on. The turn's
   * callback does this; an owner calls it early when waiting a turn would
   * only add latency (a worker's answer to its host).
   */
  flush(): void {
    const due = this.due;
    if (due.length === 0) return;
    const resolve = this.resolveFlushed;
    this.due = [];
    this.resolveFlushed = noop;
    for (const target of due) target.flush();
    resolve();
  }
}
