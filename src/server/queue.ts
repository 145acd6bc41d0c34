/**
 * Runs the actions of one session one after the other, as the original did;
 * an awaiting action blocks only its own session.
 */
export class ActionQueue {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  /** Queue `task`; the Promise settles when it has run. */
  enqueue(task: () => Promise<void>): Promise<void> {
    this.pending++;
    const run = this.tail.then(task);
    this.tail = run.then(
      () => void this.pending--,
      () => void this.pending--,
    );
    return run;
  }

  /** Tasks queued or running. */
  get size(): number {
    return this.pending;
  }
}
