import { Analysis } from 'databench-ts';

/** An analysis that loads at once, beside one that does not. */
export class Fine extends Analysis {
  on_ping(n: unknown) {
    return this.emit('pong', n);
  }
}
