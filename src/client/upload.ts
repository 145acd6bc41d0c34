/**
 * The client's side of file uploads (docs/reference/protocol.md, `__upload`):
 * a `start` frame names the action and the files, the server answers
 * `ready` with the chunk size and window, and the bytes go as binary frames
 * (4 bytes of upload id, then data), at most a window ahead of the server's
 * `progress` acknowledgements.
 */
import {
  DatabenchError,
  PROTOCOL,
  UPLOAD_CHUNK_HEADER_BYTES,
  encodeValue,
  frameFromEncoded,
  type UploadServerLoad,
} from '../protocol/index.js';

/** What can be uploaded: a browser `File` (its name and type go along) or any `Blob`. */
export type UploadSource = Blob & { readonly name?: string };

/** Options of `Connection.upload`. */
export interface UploadOptions {
  /**
   * Called each time the server has acknowledged more bytes, with the bytes
   * it has and the total. Default: none.
   */
  onProgress?: (received: number, total: number) => void;
  /**
   * The action's `__process_id`: `onProcess(processId, …)` then follows the
   * handler's run (start, progress, end). Default: none (no `__process` frames).
   */
  processId?: number | string;
  /** Aborting it cancels the upload (as {@link Upload.cancel}). Default: none. */
  signal?: AbortSignal;
  /**
   * A file name for a `Blob` that has none (a `File` has its own).
   * Default: `"blob"`.
   */
  name?: string;
}

/** An upload under way. */
export interface Upload {
  /** The upload's id (unique among this connection's uploads). */
  readonly id: number;
  /** The bytes to send, every file together. */
  readonly total: number;
  /**
   * Resolves once every byte has arrived and the action has been queued
   * with the file(s). Rejects with a {@link DatabenchError}: code `UPLOAD`
   * when the server refused it (a limit: the message says which) or the
   * connection was lost, `CANCELLED` when it was cancelled.
   */
  readonly done: Promise<void>;
  /** Stop sending and let the server drop what it has of it. */
  cancel(): void;
}

/** What the uploader needs of its Connection. */
export interface UploadPort {
  /** Send a frame now; false when the connection is not open. */
  sendFrame(frame: string | Uint8Array): boolean;
}

const MAX_ID = 0xffffffff;

/** One upload of this client, from its start frame to its `done`. */
class ClientUpload implements Upload {
  readonly done: Promise<void>;
  readonly total: number;
  private resolve!: () => void;
  private reject!: (error: Error) => void;
  private chunkBytes = 0;
  private windowBytes = 0;
  /** Bytes sent (read and handed to the socket). */
  private sent = 0;
  private acked = 0;
  private file = 0;
  private offset = 0;
  private reading = false;
  private finished = false;

  constructor(
    readonly id: number,
    private readonly files: readonly Blob[],
    private readonly options: UploadOptions,
    private readonly uploader: Uploader,
  ) {
    let total = 0;
    for (const f of files) total += f.size;
    this.total = total;
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  cancel(): void {
    this.abandon(new DatabenchError('CANCELLED', 'the upload was cancelled'));
  }

  /** Stop, tell the server to drop what it has, and reject with `error`. */
  private abandon(error: Error): void {
    if (this.finished) return;
    this.uploader.port.sendFrame(
      frameFromEncoded(PROTOCOL.uploadSignal, encodeValue({ op: 'cancel', id: this.id })),
    );
    this.fail(error);
  }

  /** @internal Whether the server has answered the start (a 0.7 server never does). */
  get started(): boolean {
    return this.chunkBytes > 0;
  }

  /** @internal */
  fail(error: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.uploader.forget(this.id);
    this.reject(error);
  }

  /** @internal A frame of the server about this upload. */
  handle(load: UploadServerLoad): void {
    if (this.finished) return;
    switch (load.op) {
      case 'ready':
        this.chunkBytes = Math.max(1, load.chunk_bytes);
        this.windowBytes = Math.max(this.chunkBytes, load.window_bytes);
        this.pump();
        return;
      case 'progress':
        this.acked = load.received;
        this.progress(load.received);
        this.pump();
        return;
      case 'done':
        this.finished = true;
        this.uploader.forget(this.id);
        this.progress(this.total);
        this.resolve();
        return;
      case 'error':
        this.fail(new DatabenchError('UPLOAD', load.message));
        return;
      default: {
        const never: never = load;
        throw new Error(`unknown upload op ${JSON.stringify(never)}`);
      }
    }
  }

  private progress(received: number): void {
    const cb = this.options.onProgress;
    if (cb === undefined) return;
    try {
      cb(received, this.total);
    } catch {
      // a failing progress callback does not stop the upload
    }
  }

  /** Send chunks while the window allows; one read at a time, in order. */
  private pump(): void {
    if (this.reading || this.finished || this.chunkBytes === 0) return;
    if (this.sent >= this.total || this.sent - this.acked >= this.windowBytes) return;
    while (this.file < this.files.length && this.offset >= this.files[this.file]!.size) {
      this.file++;
      this.offset = 0;
    }
    const blob = this.files[this.file];
    if (blob === undefined) return;
    // a chunk stays within one file: the server reads the files one after the other
    const end = Math.min(blob.size, this.offset + this.chunkBytes);
    const header = new Uint8Array(UPLOAD_CHUNK_HEADER_BYTES);
    new DataView(header.buffer).setUint32(0, this.id);
    this.reading = true;
    const size = end - this.offset;
    // the header and the slice made into one buffer by the Blob, not copied here
    new Blob([header, blob.slice(this.offset, end)]).arrayBuffer().then(
      (buffer) => {
        this.reading = false;
        if (this.finished) return;
        if (!this.uploader.port.sendFrame(new Uint8Array(buffer))) {
          this.fail(new DatabenchError('UPLOAD', 'the connection was lost during the upload'));
          return;
        }
        this.offset = end;
        this.sent += size;
        this.pump();
      },
      (error: unknown) => {
        this.reading = false;
        this.abandon(
          new DatabenchError(
            'UPLOAD',
            `the file could not be read (${(error as Error).message}): choose it again`,
            { cause: error },
          ),
        );
      },
    );
  }
}

/** The uploads of one Connection. */
export class Uploader {
  private readonly uploads = new Map<number, ClientUpload>();
  private nextId = Math.floor(Math.random() * 0x10000);

  constructor(readonly port: UploadPort) {}

  /** Start uploading `files` for `action`; see `Connection.upload`. */
  start(
    action: string,
    source: UploadSource | readonly UploadSource[],
    options: UploadOptions = {},
  ): Upload {
    const multiple = Array.isArray(source);
    const files = (multiple ? source : [source]) as readonly UploadSource[];
    if (typeof action !== 'string' || action === '') {
      throw new DatabenchError(
        'INVALID_ARGUMENT',
        'upload(action): action must be a non-empty string',
      );
    }
    if (
      files.length === 0 ||
      !files.every((f) => typeof Blob !== 'undefined' && f instanceof Blob)
    ) {
      throw new DatabenchError(
        'INVALID_ARGUMENT',
        'upload(action, file): file must be a File or Blob, or a non-empty list of them',
      );
    }
    this.nextId = (this.nextId + 1) % MAX_ID;
    const id = this.nextId;
    const upload = new ClientUpload(id, files, options, this);
    const load: Record<string, unknown> = {
      op: 'start',
      id,
      action,
      files: files.map((f) => ({
        name: typeof f.name === 'string' ? f.name : (options.name ?? 'blob'),
        type: f.type,
        size: f.size,
      })),
      multiple,
    };
    if (options.processId !== undefined) load[PROTOCOL.processIdKey] = options.processId;
    if (options.signal?.aborted) {
      upload.fail(new DatabenchError('CANCELLED', 'the upload was cancelled'));
      return upload;
    }
    this.uploads.set(id, upload);
    if (!this.port.sendFrame(frameFromEncoded(PROTOCOL.uploadSignal, encodeValue(load)))) {
      upload.fail(
        new DatabenchError('UPLOAD', 'not connected: upload the file once the page is connected'),
      );
      return upload;
    }
    options.signal?.addEventListener('abort', () => upload.cancel(), { once: true });
    return upload;
  }

  /** An `__upload` frame from the server. */
  handle(load: unknown): void {
    if (typeof load !== 'object' || load === null) return;
    const id = (load as { id?: unknown }).id;
    if (typeof id !== 'number') return;
    this.uploads.get(id)?.handle(load as UploadServerLoad);
  }

  /**
   * A `warn` frame: a databench 0.7 server answers the start frame with
   * "no handler for __upload"; the uploads it never started fail.
   */
  warned(message: unknown): void {
    if (message !== `no handler for ${PROTOCOL.uploadSignal}`) return;
    for (const upload of [...this.uploads.values()]) {
      if (upload.started) continue;
      upload.fail(
        new DatabenchError('UPLOAD', 'this server does not take uploads (databench 0.7?)'),
      );
    }
  }

  /** @internal An upload ended. */
  forget(id: number): void {
    this.uploads.delete(id);
  }

  /** The socket closed: the server has dropped every upload of this page. */
  lost(): void {
    for (const upload of [...this.uploads.values()]) {
      upload.fail(new DatabenchError('UPLOAD', 'the connection was lost during the upload'));
    }
  }
}
