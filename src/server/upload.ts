/**
 * A page's uploads, assembled on the server: the `__upload` start is checked
 * against the limits, each binary frame's bytes are copied once into the
 * file's own buffer (of its announced size), and a complete upload is handed
 * to the kernel. Nothing touches the disk; a cancelled or failed upload's
 * buffers are dropped at once.
 */
import {
  PROTOCOL,
  UPLOAD_CHUNK_HEADER_BYTES,
  type UploadFileInfo,
  type UploadServerLoad,
  type UploadStartMessage,
} from '../protocol/messages.js';
import type { UploadDelivery } from '../kernel/kernel.js';

/** The bounds of a page's uploads (resolved; see the server options of the same names). */
export interface UploadLimits {
  /** Each file at most this many bytes. */
  maxUploadBytes: number;
  /** A page's uploads that are open (announced and not yet handed to its action) at most this many bytes together. */
  maxUploadPageBytes: number;
  /** The largest frame a page may send: every chunk's frame stays within it. */
  maxFrameBytes: number;
}

/** Data bytes of one binary frame at most (the page is told in `ready`); less when frames must be smaller. */
const CHUNK_BYTES = 512 * 1024;
/** Chunks a page may have sent and not yet seen acknowledged (in `progress` frames). */
const WINDOW_CHUNKS = 8;

/** A size for people, as the page shows a file's: `312 bytes`, `4.2 kB`, `5.0 MB`. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} bytes`;
  return n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`;
}

/** A limit as it was set: `64 MiB` (what --max-upload-mb says), else as {@link formatBytes}. */
function formatLimit(n: number): string {
  const mib = n / (1 << 20);
  return Number.isInteger(mib) ? `${mib} MiB (${formatBytes(n)})` : formatBytes(n);
}

/** `{"signal":"__upload","load":…}` */
function uploadFrame(load: UploadServerLoad): string {
  return '{"signal":"' + PROTOCOL.uploadSignal + '","load":' + JSON.stringify(load) + '}';
}

/** One upload of a page, from its start to its last byte. */
class OpenUpload {
  readonly total: number;
  /** One buffer per file, each its own ArrayBuffer (a worker gets it moved). */
  readonly buffers: Uint8Array[];
  received = 0;
  private file = 0;
  private offset = 0;

  constructor(readonly start: UploadStartMessage) {
    let total = 0;
    for (const f of start.files) total += f.size;
    this.total = total;
    // zero pages the kernel maps lazily: memory is taken as bytes arrive
    this.buffers = start.files.map((f) => new Uint8Array(f.size));
  }

  /** Copy `data[from:]` into the files' buffers; false when it is more than announced. */
  take(data: Uint8Array, from: number): boolean {
    if (this.received + data.length - from > this.total) return false;
    let pos = from;
    while (pos < data.length) {
      const buffer = this.buffers[this.file]!;
      const n = Math.min(buffer.length - this.offset, data.length - pos);
      buffer.set(data.subarray(pos, pos + n), this.offset);
      this.offset += n;
      pos += n;
      if (this.offset === buffer.length) {
        this.file++;
        this.offset = 0;
      }
    }
    // skip over empty files at the end
    while (this.file < this.buffers.length && this.buffers[this.file]!.length === 0) this.file++;
    this.received += data.length - from;
    return true;
  }

  get complete(): boolean {
    return this.received === this.total;
  }

  delivery(): UploadDelivery {
    const { start } = this;
    return {
      action: start.action,
      files: start.files.map((f: UploadFileInfo, i) => ({
        name: f.name,
        type: f.type,
        bytes: this.buffers[i]!,
      })),
      multiple: start.multiple,
      processId: start.processId,
    };
  }
}

/** What a page's binary frame came to. */
export type ChunkResult =
  | { kind: 'progress'; frame: string }
  | { kind: 'complete'; frame: string; delivery: UploadDelivery; bytes: number }
  | { kind: 'error'; frame: string; message: string }
  | { kind: 'ignored' };

/**
 * The uploads of one page. Created at its first `__upload` start; from then
 * on its binary frames are chunks (before that, a binary frame closes the
 * socket, as it always did).
 */
export class PageUploads {
  private readonly open = new Map<number, OpenUpload>();
  /** The announced bytes of the open uploads. */
  private held = 0;
  readonly chunkBytes: number;
  readonly windowBytes: number;

  constructor(private readonly limits: UploadLimits) {
    this.chunkBytes = Math.max(
      1,
      Math.min(CHUNK_BYTES, limits.maxFrameBytes - UPLOAD_CHUNK_HEADER_BYTES),
    );
    this.windowBytes = this.chunkBytes * WINDOW_CHUNKS;
  }

  /** The bytes the open uploads announced (what the server holds, at most, for them). */
  get bytes(): number {
    return this.held;
  }

  /** How many uploads are open. */
  get size(): number {
    return this.open.size;
  }

  /** An upload refused before it started, with `text` as its reason. */
  static refused(id: number, text: string): ChunkResult {
    return {
      kind: 'error',
      message: text,
      frame: uploadFrame({ op: 'error', id, message: text }),
    };
  }

  /**
   * A page starts an upload: the frame to answer with (`ready`, or `error`
   * naming the limit it breaks and how to raise it); a complete upload when
   * every file is empty.
   */
  start(message: UploadStartMessage): ChunkResult | { kind: 'ready'; frame: string } {
    const { id } = message;
    const refuse = (text: string): ChunkResult => PageUploads.refused(id, text);
    if (this.open.has(id)) return refuse(`upload ${id} is already open: use another id`);
    const { maxUploadBytes, maxUploadPageBytes } = this.limits;
    let total = 0;
    for (const file of message.files) {
      if (file.size > maxUploadBytes) {
        return refuse(
          `"${file.name}" is ${formatBytes(file.size)}; this server takes files of at most ${formatLimit(maxUploadBytes)}: the server's --max-upload-mb raises it`,
        );
      }
      total += file.size;
    }
    if (this.held + total > maxUploadPageBytes) {
      const what =
        message.files.length === 1
          ? `"${message.files[0]!.name}"`
          : `${message.files.length} files`;
      return refuse(
        `${what} (${formatBytes(total)}) would take this page's uploads to ${formatBytes(this.held + total)}; a page may upload at most ${formatLimit(maxUploadPageBytes)} at once${this.held > 0 ? ': wait for its other uploads to finish, or' : ':'} the server's --max-upload-mb raises it`,
      );
    }
    const upload = new OpenUpload(message);
    if (upload.complete) return this.finish(upload);
    this.open.set(id, upload);
    this.held += total;
    return {
      kind: 'ready',
      frame: uploadFrame({
        op: 'ready',
        id,
        chunk_bytes: this.chunkBytes,
        window_bytes: this.windowBytes,
      }),
    };
  }

  /**
   * A binary frame: 4 bytes of upload id, then bytes. A chunk of an upload
   * that is not open (cancelled while its chunks were on their way) is
   * dropped; a chunk past the announced size fails its upload.
   */
  chunk(data: Uint8Array): ChunkResult {
    if (data.length < UPLOAD_CHUNK_HEADER_BYTES) return { kind: 'ignored' };
    const id = ((data[0]! << 24) >>> 0) + ((data[1]! << 16) | (data[2]! << 8) | data[3]!);
    const upload = this.open.get(id);
    if (upload === undefined) return { kind: 'ignored' };
    if (!upload.take(data, UPLOAD_CHUNK_HEADER_BYTES)) {
      this.drop(id);
      return PageUploads.refused(
        id,
        `upload ${id} sent more bytes than its files' sizes (${upload.total}): dropped`,
      );
    }
    if (upload.complete) {
      this.drop(id);
      return this.finish(upload);
    }
    return {
      kind: 'progress',
      frame: uploadFrame({ op: 'progress', id, received: upload.received }),
    };
  }

  private finish(upload: OpenUpload): ChunkResult {
    return {
      kind: 'complete',
      frame: uploadFrame({ op: 'done', id: upload.start.id }),
      delivery: upload.delivery(),
      bytes: upload.total,
    };
  }

  /** The page cancels an upload: its buffers are dropped. Unknown ids are ignored (it may have completed). */
  cancel(id: number): void {
    this.drop(id);
  }

  private drop(id: number): void {
    const upload = this.open.get(id);
    if (upload === undefined) return;
    this.open.delete(id);
    this.held -= upload.total;
  }

  /** The page has gone: every open upload is dropped. */
  clear(): void {
    this.open.clear();
    this.held = 0;
  }
}
