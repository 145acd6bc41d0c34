/**
 * The kernel boundary as the server sees it. A kernel runs the analysis
 * instances of one analysis (in this process, in worker threads, later in a
 * Python process); the server's Session knows only these interfaces and never
 * an analysis instance.
 */
import type { CancelTarget } from '../protocol/messages.js';
import type { DatastoreBackend } from '../datastore/backend.js';
import type { PageSink } from '../analysis/instance.js';
import type { ExtraRoute } from '../analysis/routes.js';

/** What a kernel is told when a page has sent `__connect`. */
export interface OpenRequest {
  /** The analysis id: the resumed one, or a fresh one the server issued. */
  readonly id: string;
  /** True when the page resumes `id` (its `data` is found again). */
  readonly resumed: boolean;
  /** The page's query string (`__request_args`), not parsed yet. */
  readonly requestArgs: string;
  /** The command-line flags the server did not know. */
  readonly cliArgs: readonly string[];
  /** Who the page's retained `data` counts against (its address): one client cannot evict everyone's. */
  readonly owner: string;
  /**
   * The server's datastore backend (`--datastore`); undefined: in memory.
   * Host side only: a remote kernel reaches it through the host's link.
   */
  readonly datastore?: DatastoreBackend | undefined;
  /**
   * Whether a handler's failure reaches the page with the file:line of the
   * user's code (`__error` frames). Default: true.
   */
  readonly errorDetails?: boolean;
  /**
   * The page applies `__delta` frames (it announced `__deltas`): a change
   * with a delta may be sent as one. Default: false (whole values, as 0.7).
   */
  readonly deltas?: boolean;
}

/**
 * One page as a kernel sees it (the server's Session implements it). The
 * `PageSink` half is the in-process fast path: emits and datastore changes
 * are encoded straight into the page's outbound queue.
 */
export interface PagePort extends PageSink {
  /** The instance exists (datastores ready): the `__connect` reply goes out now, before any frame of the kernel. */
  opened(): void;
  /** A frame already encoded (a snapshot, an error). */
  frame(bytes: string | Buffer): Promise<void>;
  /**
   * A frame encoded in another thread or process. `coalesce` is set for a
   * datastore change (`signal\0key`): a slow page keeps only the latest.
   * `whole` is set when the frame is a delta: the key's whole value, sent
   * instead when the change coalesces.
   */
  forward(bytes: Buffer, coalesce: string | undefined, whole?: string): void;
  /** One action of this page has finished (queued-input accounting). */
  done(): void;
  /** The kernel cannot serve this page (it failed to start, or its thread died): an `error` frame, then a close. */
  fail(message: string, code: number, reason: string): void;
}

/** One page's analysis instance behind the boundary. */
export interface KernelSession {
  /** Queue an action; actions of one session run one after the other. */
  action(name: string, hasLoad: boolean, load: unknown): void;
  /**
   * The page cancels a call (by `__process_id`) or every call of an action:
   * a queued call is dropped (its end frame says `cancelled: true`), a running
   * one has its `actionSignal` aborted. Optional: a kernel without it ignores
   * cancels.
   */
  cancel?(target: CancelTarget): void;
  /**
   * The page has gone: abort the session's signal, let running handlers
   * finish within a grace period, run `disconnected`, release everything.
   * Never rejects.
   */
  close(): Promise<void>;
}

/** The runner of one analysis (one entry of index.yaml). */
export interface Kernel {
  /** The analysis name. */
  readonly name: string;
  /** `in-process`, `worker`, … (logs, diagnostics). */
  readonly kind: string;
  /** HTTP routes of the analysis (`routes.ts`), served by the main thread. */
  readonly extraRoutes: readonly ExtraRoute[];
  /** Start an instance for a page. */
  open(port: PagePort, request: OpenRequest): KernelSession;
  /** Replaced by a reload: start no new sessions, end once the last session has closed. */
  retire(): void;
  /** End now (server shutdown), after the server has closed every session. */
  dispose(): Promise<void>;
}
