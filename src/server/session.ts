import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocket, type RawData } from 'ws';
import type { DatastoreBackend } from '../datastore/backend.js';
import type { Change } from '../datastore/change.js';
import { encodeValue } from '../protocol/encode.js';
import {
  frameFromEncoded,
  keyFrameFromEncoded,
  parseClientMessage,
  PROTOCOL,
  type ConnectMessage,
} from '../protocol/messages.js';
import type { Kernel, KernelSession, PagePort } from '../kernel/kernel.js';
import { isAnalysisId, newAnalysisId, shortId } from '../analysis/analysis.js';
import { describeError } from '../protocol/errors.js';
import { escapeLogText } from '../protocol/log-text.js';
import { LogRateLimit } from '../util/log-limit.js';
import type { Logger } from '../util/logger.js';

/** Bounds of one session's outbound and inbound paths (resolved, every field set). */
export interface SessionLimits {
  /** Above this many buffered bytes a page counts as slow: datastore updates coalesce per key. */
  softBufferBytes: number;
  /** Above this many buffered + queued bytes the socket is closed (1008). */
  hardBufferBytes: number;
  /** Actions queued for one session at most; a flood past it closes the socket (1008). */
  maxQueuedActions: number;
  /** Above this many bytes of queued actions the socket is not read until they drain (back-pressure). */
  pauseQueuedBytes: number;
  /** Above this many bytes of queued actions the socket is closed (1008). */
  maxQueuedBytes: number;
  /** Pending outbound bytes of all slow pages together at most; past it the slowest are closed. */
  totalBufferBytes: number;
  /** How often a congested session checks whether its socket drained. */
  drainPollMs: number;
}

/** What every session of one server shares. */
export interface SessionContext {
  readonly logger: Logger;
  readonly limits: SessionLimits;
  /** The server-wide account of slow pages' pending bytes. */
  readonly budget: OutboundBudget;
  /**
   * A page resumes `id`: the session open on it (if any) is closed first,
   * so two sockets never share one; resolves false when the server holds
   * no data for `id` (it never issued it, or it expired).
   */
  claim(id: string, session: Session): Promise<boolean>;
  /** A session got a fresh id. */
  issued(id: string, session: Session): void;
  readonly cliArgs: string[];
  readonly backendVersion: string;
  /** Where analyses keep `data` and `classData`; undefined: the process-wide memory backend. */
  readonly datastore?: DatastoreBackend | undefined;
  /** Read at each `__connect`: changes when the analyses are reloaded. */
  analysesVersion(): string;
  /** Called once when the session has ended (socket closed and `disconnected` run). */
  onEnded(session: Session): void;
  /** Handler failures reach the page with the file:line of the user's code. Default: true. */
  readonly errorDetails?: boolean;
}

const TEXT = { binary: false } as const;
/** How long a closing socket may take to finish the close handshake. */
const CLOSE_GRACE_MS = 2000;
/** A page closed for reading too slowly holds megabytes: it gets less time to answer the close. */
const SLOW_CLOSE_GRACE_MS = 250;
const RESOLVED: Promise<void> = Promise.resolve();
/** Actions only the server runs: a page sending them is refused. */
const LIFECYCLE = new Set(['connect', 'args', 'connected', 'disconnected']);

/** After its page has gone, a writer still yields every write, so a loop cannot spin. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** One queued outbound frame; a datastore change keeps its key so it can coalesce. */
interface Item {
  signal: 'data' | 'class_data';
  change: Change | undefined;
  /** The frame already encoded (a kernel's change): sent as it is. */
  bytes?: Buffer | undefined;
}

/** What a queued update holds, in bytes (its key and value, or its frame). */
function itemBytes(item: Item): number {
  if (item.bytes !== undefined) return item.bytes.length;
  const { key, encoded } = item.change!;
  // a deleted key is sent as `null`; 32 for the frame around key and value
  return Buffer.byteLength(key) + (encoded === undefined ? 4 : Buffer.byteLength(encoded)) + 32;
}

/**
 * Every session's frames of one event-loop turn are sent by one callback at
 * the next turn; writers await one shared Promise per turn.
 */
/** How long writers of one turn may run before they must wait for the flush. */
const SLICE_MS = 2;
let dirty: Outbound[] = [];
let turnStart = 0;
let turn: Promise<void> = RESOLVED;
let resolveTurn: () => void = () => undefined;

/**
 * The number of the current event-loop turn, as far as the outbound path
 * cares: a session's first frame of a turn goes out at once (a lone write or
 * emit does not wait a turn); the frames after it in the same turn are
 * batched and flushed at the next.
 */
let turnNo = 0;
let turnMarked = false;

function nextTurnNo(): void {
  turnMarked = false;
  turnNo++;
}

function flushAll(): void {
  const list = dirty;
  const resolve = resolveTurn;
  dirty = [];
  for (const out of list) out.flush();
  resolve();
}

/**
 * The server-wide bound on what slow pages hold: each page is bounded on its
 * own (`hardBufferBytes`), and the sum over the slow ones is bounded too, so
 * that many paused readers cannot grow the server's memory without end. Only
 * slow pages are counted; past the budget the slowest (most pending) are
 * closed first, with a reason.
 */
export class OutboundBudget {
  private readonly slow = new Set<Outbound>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly limit: number,
    private readonly checkMs = 50,
  ) {}

  /** @internal */
  congested(out: Outbound): void {
    this.slow.add(out);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.check(), this.checkMs);
      this.timer.unref();
    }
  }

  /** @internal */
  relieved(out: Outbound): void {
    this.slow.delete(out);
    if (this.slow.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Pending bytes of the slow pages (tests, diagnostics). */
  get pending(): number {
    let total = 0;
    for (const out of this.slow) total += out.pending;
    return total;
  }

  private check(): void {
    let total = this.pending;
    if (total <= this.limit) return;
    const slowest = [...this.slow].sort((a, b) => b.pending - a.pending);
    for (const out of slowest) {
      if (total <= this.limit) break;
      total -= out.pending;
      out.overBudget(this.limit);
    }
  }

  dispose(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.slow.clear();
  }
}

/**
 * The outbound path of one socket. Frames produced in one event-loop turn go
 * out together (corked) at the next turn; the Promise a writer awaits settles
 * then, so a handler that loops and awaits its writes streams to the page and
 * yields to other sessions every iteration. When the page reads slower than
 * the analysis writes, datastore updates coalesce per key (latest wins),
 * emits are kept, and past the hard bound the socket is closed.
 */
class Outbound {
  /** What waits for the next flush; undefined when nothing does (an idle page holds no array). */
  private items: Array<string | Buffer | Item> | undefined;
  private coalesce: Map<string, Item> | undefined;
  private queuedBytes = 0;
  private scheduled = false;
  /** The turn this session last sent a frame at once in (see {@link direct}). */
  private directTurn = -1;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly limits: SessionLimits,
    private readonly budget: OutboundBudget,
    private readonly owner: {
      overflow(bytes: number): void;
      closeOverBudget(limit: number): void;
    },
  ) {}

  /** Bytes queued here and in the socket. */
  get pending(): number {
    return this.queuedBytes + this.ws.bufferedAmount;
  }

  /** @internal The server-wide budget closes this page. */
  overBudget(limit: number): void {
    this.owner.closeOverBudget(limit);
  }

  /** Queue an encoded frame (an emit: never dropped, never coalesced). */
  frame(bytes: string | Buffer): Promise<void> {
    if (this.closed) return nextTurn();
    // a queued update must not overtake this emit: coalescing starts again after it
    if (this.coalesce !== undefined && this.coalesce.size > 0) this.coalesce = new Map();
    return this.enqueue(bytes);
  }

  /**
   * Queue a datastore change encoded elsewhere (a kernel in another thread):
   * like {@link change}, a slow page keeps only the latest frame per `id`.
   */
  keyed(id: string, bytes: Buffer): void {
    if (this.closed) return;
    void (this.coalesce !== undefined
      ? this.coalesceItem(id, { signal: 'data', change: undefined, bytes })
      : this.enqueue(bytes));
  }

  /** Queue a datastore change; `shared` is the frame already encoded for every subscriber. */
  change(signal: 'data' | 'class_data', change: Change, shared: Buffer | undefined): Promise<void> {
    if (this.closed) return nextTurn();
    if (this.coalesce !== undefined) {
      return this.coalesceItem(signal + '\0' + change.key, { signal, change });
    }
    return this.enqueue(
      shared ?? keyFrameFromEncoded(signal, change.key, change.encoded ?? 'null'),
    );
  }

  /** A frame in order: sent at once when it may skip the queue (see {@link direct}), else queued. */
  private enqueue(bytes: string | Buffer): Promise<void> {
    if (this.direct(bytes.length)) {
      this.ws.send(bytes, TEXT);
      return RESOLVED;
    }
    (this.items ??= []).push(bytes);
    // bytes, not characters: three-byte UTF-8 text must count three times
    return this.added(typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length);
  }

  /** A slow page's datastore update: the latest value per `id` wins, at the position of the first. */
  private coalesceItem(id: string, item: Item): Promise<void> {
    const coalesce = this.coalesce!;
    const queued = coalesce.get(id);
    if (queued === undefined) {
      coalesce.set(id, item);
      (this.items ??= []).push(item);
      return this.added(itemBytes(item));
    }
    this.queuedBytes += itemBytes(item) - itemBytes(queued);
    queued.change = item.change;
    queued.bytes = item.bytes;
    return this.schedule();
  }

  /**
   * Whether a frame may skip the queue: the first of this session in this
   * turn, with nothing queued before it and a page that keeps up. A writer
   * that loops sends its first frame at once and batches the rest.
   */
  private direct(length: number): boolean {
    if (
      this.directTurn === turnNo ||
      // a frame that may not fit under the hard bound takes the checked path
      // (a string's length times 3 bounds its UTF-8 bytes)
      length * 3 + this.ws.bufferedAmount > this.limits.hardBufferBytes ||
      this.items !== undefined ||
      this.coalesce !== undefined ||
      this.ws.readyState !== this.ws.OPEN ||
      this.ws.bufferedAmount > this.limits.softBufferBytes
    ) {
      return false;
    }
    this.directTurn = turnNo;
    if (!turnMarked) {
      turnMarked = true;
      setImmediate(nextTurnNo);
    }
    return true;
  }

  private added(bytes: number): Promise<void> {
    this.queuedBytes += bytes;
    const total = this.queuedBytes + this.ws.bufferedAmount;
    if (total > this.limits.hardBufferBytes) {
      this.owner.overflow(total);
      return RESOLVED;
    }
    return this.schedule();
  }

  private schedule(): Promise<void> {
    if (!this.scheduled) {
      this.scheduled = true;
      dirty.push(this);
      if (dirty.length === 1) {
        turn = new Promise((resolve) => (resolveTurn = resolve));
        turnStart = performance.now();
        setImmediate(flushAll);
      }
    }
    // a writer that loops keeps going within its time slice; past it, it
    // waits for the flush, so the page gets a batch and other sessions run
    return performance.now() - turnStart < SLICE_MS ? RESOLVED : turn;
  }

  /** Called once per turn by {@link flushAll}. */
  flush(): void {
    this.scheduled = false;
    if (this.closed || this.ws.readyState !== this.ws.OPEN) {
      this.drop();
    } else if (this.ws.bufferedAmount > this.limits.softBufferBytes) {
      // slow page: hold everything, coalesce datastore updates, look again soon
      this.coalesce ??= new Map();
      this.budget.congested(this);
      this.pollTimer ??= setTimeout(() => {
        this.pollTimer = undefined;
        if (this.items !== undefined) void this.schedule();
      }, this.limits.drainPollMs);
    } else {
      this.send();
    }
  }

  private send(): void {
    if (this.coalesce !== undefined) this.budget.relieved(this);
    const items = this.items;
    this.items = undefined;
    this.coalesce = undefined;
    this.queuedBytes = 0;
    if (items === undefined) return;
    const socket =
      items.length > 1 ? (this.ws as unknown as { _socket?: Socket })._socket : undefined;
    socket?.cork();
    for (const item of items) {
      const bytes =
        typeof item === 'string' || Buffer.isBuffer(item)
          ? item
          : (item.bytes ??
            keyFrameFromEncoded(item.signal, item.change!.key, item.change!.encoded ?? 'null'));
      this.ws.send(bytes, TEXT);
    }
    socket?.uncork();
  }

  private drop(): void {
    this.items = undefined;
    this.coalesce = undefined;
    this.queuedBytes = 0;
  }

  /** Send what is queued now (before a close frame), if the page is not slow. */
  sendNow(): void {
    if (
      !this.closed &&
      this.items !== undefined &&
      this.ws.readyState === this.ws.OPEN &&
      this.ws.bufferedAmount <= this.limits.softBufferBytes
    ) {
      this.send();
    }
  }

  close(): void {
    this.closed = true;
    this.budget.relieved(this);
    this.drop();
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }
}

/**
 * A socket error (a reset peer, a bad frame from ws's parser) is followed by
 * 'close', which ends the session: nothing else to do, and one shared
 * function instead of a closure per session.
 */
function ignoreSocketError(): void {}

/**
 * A page's socket: ws's WebSocket with a slot for its session, which the
 * shared listeners below read (a field costs a word; a WeakMap entry per
 * page costs a few, and its table grows). The server makes its sockets of
 * this class (ws's `WebSocket` option).
 */
export class PageSocket extends WebSocket {
  /** @internal The session of this socket. */
  session: Session | undefined = undefined;
}

function onSocketMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  (this as PageSocket).session?.onMessage(data, isBinary);
}

function onSocketClose(this: WebSocket): void {
  (this as PageSocket).session?.end();
}

/** The memo a change carries: its frame, encoded once for every page that has no transform. */
interface SharedFrame {
  signal: string;
  bytes: Buffer;
}

function sharedFrame(signal: 'data' | 'class_data', change: Change): Buffer {
  const memo = change.memo as SharedFrame | undefined;
  if (memo !== undefined && memo.signal === signal) return memo.bytes;
  const bytes = Buffer.from(keyFrameFromEncoded(signal, change.key, change.encoded ?? 'null'));
  change.memo = { signal, bytes } satisfies SharedFrame;
  return bytes;
}

/**
 * One WebSocket and the kernel session behind it: parses frames, hands the
 * page's actions to its kernel, and owns the outbound path. It never sees an
 * analysis instance: the kernel (in this thread, a worker thread or another
 * process) runs it.
 */
export class Session implements PagePort {
  /** The analysis id, once `__connect` arrived. */
  id: string | undefined;
  private kernelSession: KernelSession | undefined;
  /** Bytes read from the socket at the last ping (-1: none yet). */
  private lastRead = -1;
  /** Actions handed to the kernel and not finished yet, and their frames' bytes (in order). */
  private queued = 0;
  private queuedBytes = 0;
  private queuedSizes: number[] | undefined;
  private readonly out: Outbound;
  private connecting = false;
  private ended = false;
  private logLimit: LogRateLimit | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly kernel: Kernel,
    private readonly ctx: SessionContext,
    /** Who the page's retained `data` counts against (its address, grouped). */
    private readonly owner = '',
  ) {
    this.out = new Outbound(ws, ctx.limits, ctx.budget, this);
    // shared listeners (no closures per page): the socket leads to its session
    (ws as PageSocket).session = this;
    ws.on('message', onSocketMessage);
    ws.on('close', onSocketClose);
    ws.on('error', ignoreSocketError);
  }

  /** @internal A frame from the page. */
  onMessage(data: RawData, isBinary: boolean): void {
    if (this.ended) return;
    if (isBinary) {
      this.close(1003, 'binary frames are not supported: send JSON text frames');
      return;
    }
    let message;
    try {
      message = parseClientMessage((data as Buffer).toString());
    } catch (error) {
      const text = describeError(error).message;
      this.logPage(`bad frame: ${text}`);
      this.tell('error', text);
      return;
    }
    switch (message.kind) {
      case 'connect': {
        if (this.connecting) {
          const error = `this socket is already connected (analysis ${shortId(this.id)}); a second __connect is ignored`;
          this.logPage(error);
          this.tell('error', error);
          return;
        }
        this.connecting = true;
        this.start(message);
        return;
      }
      case 'action': {
        if (!this.connecting) {
          const warning = `action "${message.signal}" ignored: send __connect first`;
          this.logPage(warning);
          this.tell('warn', warning);
          return;
        }
        if (LIFECYCLE.has(message.signal)) {
          const warning = `action "${message.signal}" is run by the server only; ignored`;
          this.logPage(warning);
          this.tell('warn', warning);
          return;
        }
        if (this.queued >= this.ctx.limits.maxQueuedActions) {
          this.close(1008, `more than ${this.ctx.limits.maxQueuedActions} actions queued`);
          return;
        }
        const size = (data as Buffer).length;
        if (this.queuedBytes + size > this.ctx.limits.maxQueuedBytes) {
          this.close(1008, `more than ${this.ctx.limits.maxQueuedBytes} bytes of actions queued`);
          return;
        }
        this.queued++;
        this.queuedBytes += size;
        (this.queuedSizes ??= []).push(size);
        // back-pressure: stop reading this socket until its actions drain
        if (this.queuedBytes > this.ctx.limits.pauseQueuedBytes && !this.ws.isPaused) {
          this.ws.pause();
        }
        this.kernelSession?.action(message.signal, message.hasLoad, message.load);
        return;
      }
      case 'cancel':
        // not queued: it must reach the kernel while the action it cancels runs
        this.kernelSession?.cancel?.(message.target);
        return;
      default: {
        const never: never = message;
        throw new Error(`unhandled message ${String(never)}`);
      }
    }
  }

  /**
   * A warning a page caused (a bad frame, a refused action): one escaped,
   * bounded line, and at most a few a second per page, with a count of
   * what was left out.
   */
  private logPage(text: string): void {
    const dropped = (this.logLimit ??= new LogRateLimit()).take();
    if (dropped === false) return;
    const prefix = `[${this.kernel.name} ${shortId(this.id)}]`;
    if (dropped > 0)
      this.ctx.logger.warn(`${prefix} ${dropped} warning(s) from this page dropped (rate limit)`);
    this.ctx.logger.warn(`${prefix} ${escapeLogText(text)}`);
  }

  private start(message: ConnectMessage): void {
    const resume =
      message.analysisId !== null && isAnalysisId(message.analysisId)
        ? message.analysisId
        : undefined;
    if (message.analysisId !== null && resume === undefined) {
      this.tell('warn', 'the analysis id to resume is not valid; starting a new one');
    }
    if (resume === undefined) {
      this.open(message, undefined);
      return;
    }
    // the page that held this id (if still open) is closed first: one socket per session
    void this.ctx.claim(resume, this).then(
      (known) => {
        if (this.ended) return;
        // an expired or foreign id: a new session, as for a first visit (the reply carries the new id)
        if (!known)
          this.ctx.logger.debug(`[${this.kernel.name}] unknown id to resume: a new session`);
        this.open(message, known ? resume : undefined);
      },
      (error: unknown) => {
        this.ctx.logger.error(`[${this.kernel.name}] resume failed: ${describeError(error).stack}`);
        this.open(message, undefined);
      },
    );
  }

  /** A `warn` or `error` frame to the page (a bad frame, a refused action, a failure). */
  private tell(signal: 'warn' | 'error', text: string): void {
    void this.out.frame(frameFromEncoded(signal, encodeValue(text)));
  }

  private open(message: ConnectMessage, resume: string | undefined): void {
    this.id = resume ?? newAnalysisId();
    if (resume === undefined) this.ctx.issued(this.id, this);
    this.kernelSession = this.kernel.open(this, {
      id: this.id,
      resumed: resume !== undefined,
      requestArgs: message.requestArgs,
      cliArgs: this.ctx.cliArgs,
      owner: this.owner,
      errorDetails: this.ctx.errorDetails,
      datastore: this.ctx.datastore,
    });
  }

  /** PagePort: the instance exists; the `__connect` reply precedes every frame of the kernel. */
  opened(): void {
    const reply = {
      analysis_id: this.id,
      databench_backend_version: this.ctx.backendVersion,
      analyses_version: this.ctx.analysesVersion(),
    };
    void this.out.frame(frameFromEncoded(PROTOCOL.connectSignal, encodeValue(reply)));
  }

  /** PagePort: a frame already encoded. */
  frame(bytes: string | Buffer): Promise<void> {
    return this.out.frame(bytes);
  }

  /** PagePort: a frame encoded by a kernel in another thread or process. */
  forward(bytes: Buffer, coalesce: string | undefined): void {
    if (coalesce === undefined) void this.out.frame(bytes);
    else this.out.keyed(coalesce, bytes);
  }

  /** PagePort: an action finished. */
  done(): void {
    this.queued--;
    this.queuedBytes -= this.queuedSizes?.shift() ?? 0;
    if (this.ws.isPaused && this.queuedBytes <= this.ctx.limits.pauseQueuedBytes / 2) {
      this.ws.resume();
    }
  }

  /** PagePort: the kernel cannot serve this page. */
  fail(message: string, code: number, reason: string): void {
    this.tell('error', message);
    this.close(code, reason);
  }

  /**
   * Called by the server's ping loop before each ping: false when nothing at
   * all (not even the pong of the last ping) arrived since then. Counting the
   * socket's bytes spares every session a 'pong' listener.
   */
  heartbeat(): boolean {
    const socket = (this.ws as unknown as { _socket?: Socket })._socket;
    if (!socket) return true; // ws emits 'close' for a socket it no longer has
    // a paused socket is not read, pongs included: its page is waited for, not dead
    if (this.ws.isPaused) return true;
    const read = socket.bytesRead;
    const alive = read !== this.lastRead;
    this.lastRead = read;
    return alive;
  }

  /** @internal The page reads too slowly: past the hard bound, close. */
  overflow(bytes: number): void {
    this.ctx.logger.warn(
      `[${this.kernel.name}] closing a session whose page reads too slowly (${bytes} bytes pending)`,
    );
    this.close(1008, 'send buffer over limit: the page reads too slowly', SLOW_CLOSE_GRACE_MS);
  }

  /** @internal The server-wide outbound budget is spent: the slowest pages go first. */
  closeOverBudget(limit: number): void {
    this.ctx.logger.warn(
      `[${this.kernel.name}] closing a slow page: all slow pages together hold more than ${limit} bytes`,
    );
    this.close(1008, 'server send budget exceeded: the page reads too slowly', SLOW_CLOSE_GRACE_MS);
  }

  /** Another socket resumed this session: it takes over, this one closes. */
  takenOver(): void {
    this.ctx.logger.info(
      `[${this.kernel.name}] session ${shortId(this.id)} resumed by another page: closing the older one`,
    );
    this.close(PROTOCOL.takenOverCode, 'this session was resumed by another page');
  }

  /** PageSink: an emit of the analysis. */
  emit(signal: string, message: unknown): Promise<void> {
    return this.out.frame(
      frameFromEncoded(
        signal,
        message === undefined
          ? undefined
          : encodeValue(message, undefined, `the load of signal "${signal}"`),
      ),
    );
  }

  /** PageSink: a datastore change, `class_data` encoded once for every page. */
  change(signal: 'data' | 'class_data', change: Change): Promise<void> {
    return this.out.change(
      signal,
      change,
      signal === 'class_data' ? sharedFrame(signal, change) : undefined,
    );
  }

  /**
   * Close the socket with a code and reason; `disconnected` runs when it has
   * closed. A page that does not answer the close handshake within `graceMs`
   * is cut off (a slow page gets little: what it holds is freed sooner).
   */
  close(code: number, reason: string, graceMs = CLOSE_GRACE_MS): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      // the error frame that explains the close goes out first
      this.out.sendNow();
      this.ws.close(code, reason);
      setTimeout(() => this.ws.terminate(), graceMs).unref();
    }
    this.out.close();
  }

  /** @internal The socket closed: the kernel runs `disconnected` and releases the instance. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.out.close();
    const kernelSession = this.kernelSession;
    if (!kernelSession) {
      this.ctx.onEnded(this);
      return;
    }
    void kernelSession.close().finally(() => this.ctx.onEnded(this));
  }
}
