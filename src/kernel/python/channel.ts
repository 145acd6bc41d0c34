/**
 * The host's readers of a kernel process's output: its channel (JSON lines,
 * a batch's bytes after its line) and its stdout and stderr (text lines for
 * the log). Each reads in time linear in what arrives: a chunk is scanned
 * once, and the pieces of a line or a batch are joined once, when complete.
 */

/** Joins `pieces` (of `size` bytes in all) into one Buffer, without a copy when there is one. */
function joined(pieces: Buffer[], size: number): Buffer {
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, size);
}

/**
 * Reads a kernel's channel: one JSON line per message, which `parse` turns
 * into a message and the count of bytes that follow the line (a batch's
 * frames); `onMessage` gets both. A line longer than `maxLine` bytes, a
 * count above `maxBytes`, or a line `parse` throws on breaks the protocol:
 * `onError` is called once and nothing more is read.
 */
export class ChannelReader<M> {
  private pieces: Buffer[] = [];
  private size = 0;
  /** The message waiting for its bytes, and how many; -1 while reading a line. */
  private message: M | undefined;
  private want = -1;
  /** The bytes of the batch being read (`size` of `want` arrived). */
  private blob: Buffer | undefined;
  private broken = false;

  constructor(
    private readonly maxLine: number,
    private readonly maxBytes: number,
    private readonly parse: (line: string) => [message: M, count: number],
    private readonly onMessage: (message: M, bytes: Buffer) => void,
    private readonly onError: (message: string) => void,
  ) {}

  /** Feed one chunk of the stream. */
  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && !this.broken) {
      if (this.want >= 0) {
        // copied as it arrives into the batch's own buffer: no large copy at its end
        const blob = this.blob!;
        const copied = chunk.copy(blob, this.size, offset, offset + (this.want - this.size));
        this.size += copied;
        offset += copied;
        if (this.size === this.want) {
          this.blob = undefined;
          this.size = 0;
          this.deliver(this.message as M, blob);
        }
        continue;
      }
      const nl = chunk.indexOf(10, offset);
      const end = nl < 0 ? chunk.length : nl;
      if (this.size + (end - offset) > this.maxLine) {
        this.fail(`a line of more than ${this.maxLine} bytes`);
        return;
      }
      if (nl < 0) {
        this.pieces.push(chunk.subarray(offset));
        this.size += chunk.length - offset;
        return;
      }
      const piece = chunk.subarray(offset, nl);
      offset = nl + 1;
      let line: string;
      if (this.size === 0) {
        line = piece.toString('utf8');
      } else {
        this.pieces.push(piece);
        this.size += piece.length;
        line = this.take().toString('utf8');
      }
      if (line !== '') this.line(line);
    }
  }

  /** The stream ended: an incomplete message is a broken protocol. */
  end(): void {
    if (this.broken) return;
    if (this.want >= 0) this.fail(`a batch cut short (${this.size} of ${this.want} bytes)`);
    else if (this.size > 0) this.line(this.take().toString('utf8'));
  }

  private line(line: string): void {
    let message: M;
    let count: number;
    try {
      [message, count] = this.parse(line);
    } catch (error) {
      this.fail((error as Error).message, true);
      return;
    }
    if (count > this.maxBytes) {
      this.fail(`a batch of ${count} bytes (at most ${this.maxBytes})`);
    } else if (count > 0) {
      this.message = message;
      this.want = count;
      this.blob = Buffer.allocUnsafe(count);
    } else {
      this.deliver(message, EMPTY);
    }
  }

  private take(): Buffer {
    const bytes = joined(this.pieces, this.size);
    this.pieces = [];
    this.size = 0;
    return bytes;
  }

  private deliver(message: M, bytes: Buffer): void {
    this.want = -1;
    this.message = undefined;
    this.onMessage(message, bytes);
  }

  private fail(what: string, asIs = false): void {
    this.broken = true;
    this.blob = undefined;
    this.pieces = [];
    this.size = 0;
    this.onError(asIs ? what : `it sent ${what}`);
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Reads text lines (a process's stdout or stderr) and keeps at most
 * `maxLine` bytes of each: a longer line is cut there and the rest skipped
 * (counted, not kept), so one huge `print()` costs what a short one does.
 * `onLine` gets the text kept and how many bytes were skipped.
 */
export class TextLineReader {
  private pieces: Buffer[] = [];
  private size = 0;
  private skipped = 0;

  constructor(
    private readonly maxLine: number,
    private readonly onLine: (text: string, skipped: number) => void,
  ) {}

  /** Feed one chunk of the stream. */
  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      const nl = chunk.indexOf(10, offset);
      const end = nl < 0 ? chunk.length : nl;
      this.keep(chunk, offset, end);
      if (nl < 0) return;
      offset = nl + 1;
      this.emit();
    }
  }

  /** The stream ended: a last line without a newline is still a line. */
  end(): void {
    if (this.size > 0 || this.skipped > 0) this.emit();
  }

  private keep(chunk: Buffer, start: number, end: number): void {
    const room = this.maxLine - this.size;
    const kept = Math.min(room, end - start);
    if (kept > 0) {
      this.pieces.push(chunk.subarray(start, start + kept));
      this.size += kept;
    }
    this.skipped += end - start - Math.max(kept, 0);
  }

  private emit(): void {
    let text = joined(this.pieces, this.size).toString('utf8');
    // a cut in the middle of a character leaves a replacement character: drop it
    if (this.skipped > 0 && text.endsWith('\ufffd')) text = text.slice(0, -1);
    if (text.endsWith('\r')) text = text.slice(0, -1);
    const skipped = this.skipped;
    this.pieces = [];
    this.size = 0;
    this.skipped = 0;
    this.onLine(text, skipped);
  }
}
