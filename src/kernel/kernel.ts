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
import type { AuthUser } from '../analysis/user.js';

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
   * The largest encoded value the page can receive (the server's
   * `sendBufferHardBytes`): a snapshot holding a larger one fails the
   * connect with an error naming the key. Default: no bound.
   */
  readonly maxValueBytes?: number;
  /** Who opened the page (`this.user`); undefined: nobody signed in. */
  readonly user?: AuthUser | undefined;
  /**
   * The page applies `__delta` frames (it announced `__deltas`): a change
   * with a delta may be sent as one. Default: false (whole values, as 0.7).
   */
  readonly deltas?: boolean;
  /**
   * The domain of the analysis's `classData`, decided by the app for each
   * analysis of the folder (`AnalysisEntry.classDomain`). Default: the class name.
   */
  readonly classDomain?: string | undefined;
  /**
   * The domain of the page's `data`: the id, bound to the user when one
   * signed in (`id@user`: a resume by anyone else finds no data). Default:
   * as `sessionDataDomain` makes it.
   */
  readonly dataDomain?: string | undefined;
  /**
   * The domain of the page's `userData`: its user's on this analysis, or
   * the session's own when nobody signed in. Default: as `userDataDomain`
   * makes it from the class's domain.
   */
  readonly userDomain?: string | undefined;
}

/** Where the whole values of a domain's keys are (the host's copy of a kernel's domain). */
export interface WholeValues {
  /** The encoded value of `key` now; undefined when it holds none. */
  wholeOf(key: string): string | undefined;
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
   * `whole` is set when the frame is a delta: where the key's whole value
   * is, read (at once) only when the change coalesces, and sent instead.
   */
  forward(bytes: Buffer, coalesce: string | undefined, whole?: WholeValues): void;
  /** One action of this page has finished (queued-input accounting). */
  done(): void;
  /** The kernel cannot serve this page (it failed to start, or its thread died): an `error` frame, then a close. */
  fail(message: string, code: number, reason: string): void;
}

/** One file of an upload, assembled: its bytes own their whole ArrayBuffer (a worker gets it moved, not copied). */
export interface UploadedBytes {
  readonly name: string;
  readonly type: string;
  readonly bytes: Uint8Array;
}

/** A page's upload whose every byte has arrived, for its action. */
export interface UploadDelivery {
  /** The action whose handlers get the file(s). */
  readonly action: string;
  readonly files: readonly UploadedBytes[];
  /** The handlers get the list of files (an `<input multiple>`), else the one file. */
  readonly multiple: boolean;
  /** The `__process_id` of the call (its `__process` frames), or null. */
  readonly processId: string | number | null;
}

/**
 * How the page asks an action's call to run (the action frame's
 * `concurrency`: a wired slider asks for `latest`); an action that declares
 * its concurrency runs as it declares.
 */
export type AskedConcurrency = 'latest';

/** One page's analysis instance behind the boundary. */
export interface KernelSession {
  /**
   * Run an action: in the page's queue, one after the other, or beside it
   * as the action declares (see `Concurrency`), else as the page `asked`.
   */
  action(name: string, hasLoad: boolean, load: unknown, asked?: AskedConcurrency): void;
  /**
   * Queue the action of a complete upload: its handlers get the file (or
   * the list of files) as their one argument; it counts as one action (the
   * kernel's `done` for it follows).
   */
  upload(delivery: UploadDelivery): void;
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
  /**
   * The name of the analysis class it runs, once its module has loaded (the
   * app decides `classData` domains by it); undefined: not known.
   */
  readonly className?: string | undefined;
  /** HTTP routes of the analysis (`routes.ts`), served by the main thread. */
  readonly extraRoutes: readonly ExtraRoute[];
  /** Start an instance for a page. */
  open(port: PagePort, request: OpenRequest): KernelSession;
  /** Replaced by a reload: start no new sessions, end once the last session has closed. */
  retire(): void;
  /** End now (server shutdown), after the server has closed every session. */
  dispose(): Promise<void>;
}
