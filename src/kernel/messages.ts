/**
 * The messages that cross the kernel boundary: between the server (the host,
 * which owns the sockets and the datastore backend) and a kernel that runs
 * analysis instances in another thread or process.
 *
 * Every message is plain data (strings, numbers, booleans, null, arrays,
 * plain objects), so it crosses a worker's `postMessage` as it is and a
 * process pipe as one JSON line. Frames for the pages are encoded once, on
 * the kernel side; the host forwards their bytes. A kernel sends everything
 * it produced in one turn of its event loop as one {@link KernelBatch}, in
 * order; `bytes` holds the UTF-8 of that batch's frames (a process transport
 * sends them, and its written values, as bytes after the batch's JSON line,
 * which its ops point into: src/kernel/python/python-kernel.ts).
 *
 * Sessions are numbered by the host (`sid`), unique per kernel connection.
 */
import type { CancelTarget } from '../protocol/messages.js';
import type { AskedConcurrency } from './kernel.js';
import type { AuthUser } from '../analysis/user.js';

/** Host → kernel: a page sent `__connect`; start an instance. */
export interface OpenMessage {
  readonly t: 'open';
  readonly sid: number;
  /** The analysis id (resumed, or fresh from the server). */
  readonly id: string;
  readonly resumed: boolean;
  /** The page's query string, as sent. */
  readonly requestArgs: string;
  readonly cliArgs: readonly string[];
  /** Who the page's retained `data` counts against. */
  readonly owner: string;
  /** Send the file:line of a handler's failure to the page (absent: true). */
  readonly errorDetails?: boolean;
  /** The largest encoded value the page can receive (absent: no bound). */
  readonly maxValueBytes?: number;
  /** Who opened the page (absent: nobody signed in). */
  readonly user?: AuthUser;
  /** The page applies `__delta` frames (absent: false, whole values only). */
  readonly deltas?: boolean;
  /** The domain of the analysis's `classData` (absent: the class name). */
  readonly classDomain?: string;
  /** The domain of the page's `data` (absent: the id, bound to the user). */
  readonly dataDomain?: string;
  /** The domain of the page's `userData` (absent: made from the user and the class's domain). */
  readonly userDomain?: string;
}

/** Host → kernel: an action of a page, with its load (`__process_id` inside it, as on the wire). */
export interface ActionMessage {
  readonly t: 'action';
  readonly sid: number;
  readonly name: string;
  readonly hasLoad: boolean;
  readonly load: unknown;
  /** How the page asked the call to run (a slider: `latest`); absent: as the action declares. */
  readonly concurrency?: AskedConcurrency | undefined;
}

/**
 * Host → kernel: the page cancels a call of `sid` by its process id, or every
 * call of an action (`__cancel`). Nothing answers it: the call's end frame
 * says `cancelled: true`.
 */
export interface CancelMessage {
  readonly t: 'cancel';
  readonly sid: number;
  readonly target: CancelTarget;
}

/** One file of an {@link UploadMessage}. */
export interface UploadFileMessage {
  readonly name: string;
  readonly type: string;
  readonly size: number;
  /**
   * Its bytes, each file its own whole ArrayBuffer, moved to a worker (not
   * copied). Absent on a process pipe: there the bytes of every file follow
   * the message's line, raw, one file after the other.
   */
  readonly bytes?: Uint8Array;
}

/**
 * Host → kernel: a page's upload has arrived; run `action` with the file (a
 * list of files when `multiple`) as its one argument. Counts as one action
 * (the kernel answers with a `done` op).
 */
export interface UploadMessage {
  readonly t: 'upload';
  readonly sid: number;
  readonly action: string;
  readonly files: readonly UploadFileMessage[];
  readonly multiple: boolean;
  /** The call's `__process_id`, or null (no `__process` frames). */
  readonly processId: string | number | null;
}

/** Host → kernel: the page has gone. The kernel answers with a `closed` op. */
export interface CloseMessage {
  readonly t: 'close';
  readonly sid: number;
}

/** Host → kernel: the answer to an `attach` op: the domain's entries, still encoded. */
export interface AttachedMessage {
  readonly t: 'attached';
  readonly domain: string;
  readonly entries: ReadonlyArray<readonly [key: string, encoded: string]>;
}

/**
 * Host → kernel: a change of an attached domain made elsewhere (another
 * kernel, an in-process session, another server on the same backend).
 * `applied` is the `seq` of the last write of this kernel the host had
 * applied when the change happened: a kernel that has a newer write of the
 * same key in flight ignores the change, since its own write will win at the
 * host and reach everyone (that is how concurrent writes converge).
 */
export interface ChangeMessage {
  readonly t: 'change';
  readonly domain: string;
  readonly key: string;
  /** The new encoded value; null: deleted. */
  readonly encoded: string | null;
  readonly applied: number;
}

/** Everything the host sends to a kernel. */
export type HostMessage =
  | OpenMessage
  | ActionMessage
  | CloseMessage
  | AttachedMessage
  | ChangeMessage
  | CancelMessage
  | UploadMessage;

/** Kernel → host, once: the analysis module loaded; sessions may open. */
export interface ReadyMessage {
  readonly t: 'ready';
  /** The name of the analysis class the module exports (absent: not told). */
  readonly className?: string;
}

/** Kernel → host, instead of `ready`: the analysis module failed to load. */
export interface LoadErrorMessage {
  readonly t: 'load-error';
  /** With file and line where known. */
  readonly message: string;
}

/** Kernel → host: what one turn of the kernel produced, in order. */
export interface KernelBatch {
  readonly t: 'batch';
  /** UTF-8 of the frames; ops of kind `frame` point into it (empty when they carry `text`). */
  readonly bytes: Uint8Array;
  readonly ops: readonly KernelOp[];
}

/** The instance of `sid` exists: the host sends the `__connect` reply now. */
export interface OpenedOp {
  readonly t: 'opened';
  readonly sid: number;
}

/**
 * A frame for the page of `sid`: `bytes[start, end)` of the batch, or
 * `text` when a transport has no bytes for it (the host encodes it once).
 */
export interface FrameOp {
  readonly t: 'frame';
  readonly sid: number;
  readonly start: number;
  readonly end: number;
  /** The frame's JSON text, when the batch has no bytes for it; when set, `start` and `end` are unused. */
  readonly text?: string;
  /** A datastore change (`signal\0key`): a slow page keeps only the latest. */
  readonly coalesce: string | null;
  /**
   * Set when the frame is a `__delta`: the domain of the change, whose whole
   * value (the host has it, the kernel's write came before this frame) a
   * slow page gets instead once its updates coalesce.
   */
  readonly domain?: string;
}

/** One action of `sid` finished. */
export interface DoneOp {
  readonly t: 'done';
  readonly sid: number;
}

/** The session `sid` cannot go on (its instance failed to start): error frame, close. */
export interface FailOp {
  readonly t: 'fail';
  readonly sid: number;
  readonly message: string;
  readonly code: number;
  readonly reason: string;
}

/** `disconnected` ran for `sid` and its instance is released. */
export interface ClosedOp {
  readonly t: 'closed';
  readonly sid: number;
}

/** Open a datastore domain; the host answers with `attached`. */
export interface AttachOp {
  readonly t: 'attach';
  readonly domain: string;
}

/** A write of the kernel (its mirror already has it), numbered per kernel. */
export interface WriteOp {
  readonly t: 'write';
  readonly domain: string;
  readonly key: string;
  /** null: deleted. */
  readonly encoded: string | null;
  readonly seq: number;
}

/** The last Datastore on `domain` in the kernel closed. */
export interface DetachOp {
  readonly t: 'detach';
  readonly domain: string;
  readonly release: boolean;
  readonly releaseAfterMs: number | null;
  /** Who the retained data counts against; null: nobody in particular. */
  readonly owner: string | null;
}

/** A line for the server's log. */
export interface LogOp {
  readonly t: 'log';
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly text: string;
}

/** What a batch carries. */
export type KernelOp =
  OpenedOp | FrameOp | DoneOp | FailOp | ClosedOp | AttachOp | WriteOp | DetachOp | LogOp;

/** Everything a kernel sends to the host. */
export type KernelMessage = ReadyMessage | LoadErrorMessage | KernelBatch;
