import { Analysis } from 'databench-ts';

/** Answers each ping at once: its round trip is what other pages feel. */
export class Echo extends Analysis {
  on_ping(n: unknown) {
    return this.emit('pong', n);
  }
}
