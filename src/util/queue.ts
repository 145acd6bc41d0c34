const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Runs the actions of one session one after the other, as the original did;
 * an awaiting action blocks only its own session.
 */
export class ActionQueue {
  // an idle queue holds one shared settled Promise, not a chain of its own
  private tail: Promise<void> = RESOLVED;
  private pending = 0;

  /** Queue `task`; the Promise settles when it has run (a task that is done at once may return nothing). */
  enqueue(task: () => Promise<void> | void): Promise<void> {
    this.pending++;
    const run = this.tail.then(task);
    const settled = (): void => {
      if (--this.pending === 0) this.tail = RESOLVED;
    };
    this.tail = run.then(settled, settled);
    return run;
  }

  /** Tasks queued or running. */
  get size(): number {
    return this.pending;
  }
}
