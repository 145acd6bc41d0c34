import { performance } from 'node:perf_hooks';

/**
 * A token bucket for log lines a page causes: `burst` lines at once, then
 * `perSecond`. What it drops is counted, so the next line that passes can say
 * how many were left out.
 *
 * @example
 * const limit = new LogRateLimit();
 * const dropped = limit.take();
 * if (dropped !== false) { if (dropped > 0) log(`${dropped} dropped`); log(line); }
 */
export class LogRateLimit {
  private tokens: number;
  private last = performance.now();
  private dropped = 0;

  /**
   * @param burst lines that may come at once. Default: 20.
   * @param perSecond lines a second after that. Default: 5.
   */
  constructor(
    readonly burst = 20,
    readonly perSecond = 5,
  ) {
    this.tokens = burst;
  }

  /**
   * Whether one more line may be written: `false` when it is dropped (and
   * counted), else how many were dropped since the last line that passed.
   */
  take(): number | false {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens < 1) {
      this.dropped++;
      return false;
    }
    this.tokens -= 1;
    const dropped = this.dropped;
    this.dropped = 0;
    return dropped;
  }

  /** Lines dropped since the last one that passed (read when the page goes away). */
  get pending(): number {
    return this.dropped;
  }
}
