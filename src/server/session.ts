import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { RawData, WebSocket } from 'ws';
import type { DatastoreBackend } from '../datastore/backend.js';
import type { Change } from '../datastore/change.js';
import { encodeValue } from '../protocol/encode.js';
import {
  frameFromEncoded,
  keyFrameFromEncoded,
  parseClientMessage,
  parseQs,
  PROTOCOL,
  type ConnectMessage,
} from '../protocol/messages.js';
import type { AnyAnalysis } from './analysis.js';
import type { Logger } from './logger.js';
import { Meta } from './meta.js';
import { ActionQueue } from './queue.js';

/** Bounds of one session's outbound and inbound paths (resolved, every field set). */
export interface SessionLimits {
  /** Above this many buffered bytes a page counts as slow: datastore updates coalesce per key. */
  softBufferBytes: number;
  /** Above this many buffered + queued bytes the socket is closed (1008). */
  hardBufferBytes: number;
  /** Actions queued for one session at most; a flood past it closes the socket (1008). */
  maxQueuedActions: number;
  /** How often a congested session checks whether its socket drained. */
  drainPollMs: number;
}

/** What every session of one server shares. */
export interface SessionContext {
  readonly logger: Logger;
  readonly limits: SessionLimits;
  readonly cliArgs: string[];
  readonly backendVersion: string;
  /** Where analyses keep `data` and `classData`; undefined: the process-wide memory backend. */
  readonly datastore?: DatastoreBackend | undefined;
  /** Read at each `__connect`: changes when the analyses are reloaded. */
  analysesVersion(): string;
  /** Called once when the session has ended (socket closed and `disconnected` run). */
  onEnded(session: Session): void;
}

const TEXT = { binary: false } as const;
/** How long a closing socket may take to finish the close handshake. */
const CLOSE_GRACE_MS = 2000;
const RESOLVED: Promise<void> = Promise.resolve();
/**
 * An id a client may resume: only the form we issue (a UUID). Anything else,
 * a class name above all, would let a page open another store's domain.
 */
const RESUMABLE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Actions only the server runs: a page sending them is refused. */
const LIFECYCLE = new Set(['connect', 'args', 'connected', 'disconnected']);

/** After its page has gone, a writer still yields every write, so a loop cannot spin. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** One queued outbound frame; a datastore change keeps its key so it can coalesce. */
interface Item {
  signal: 'data' | 'class_data';
  change: Change;
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

function flushAll(): void {
  const list = dirty;
  const resolve = resolveTurn;
  dirty = [];
  for (const out of list) out.flush();
  resolve();
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
  private items: Array<string | Buffer | Item> = [];
  private coalesce: Map<string, Item> | undefined;
  private queuedBytes = 0;
  private scheduled = false;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly limits: SessionLimits,
    private readonly owner: { overflow(bytes: number): void },
  ) {}

  /** Queue an encoded frame (an emit: never dropped, never coalesced). */
  frame(bytes: string | Buffer): Promise<void> {
    if (this.closed) return nextTurn();
    // a queued update must not overtake this emit: coalescing starts again after it
    if (this.coalesce !== undefined && this.coalesce.size > 0) this.coalesce = new Map();
    this.items.push(bytes);
    return this.added(bytes.length);
  }

  /** Queue a datastore change; `shared` is the frame already encoded for every subscriber. */
  change(signal: 'data' | 'class_data', change: Change, shared: Buffer | undefined): Promise<void> {
    if (this.closed) return nextTurn();
    if (this.coalesce !== undefined) {
      const id = signal + '\0' + change.key;
      const queued = this.coalesce.get(id);
      if (queued !== undefined) {
        // latest value wins, at the position of the first one
        this.queuedBytes += (change.encoded?.length ?? 4) - (queued.change.encoded?.length ?? 4);
        queued.change = change;
        return this.schedule();
      }
      const item: Item = { signal, change };
      this.coalesce.set(id, item);
      this.items.push(item);
      return this.added(change.key.length + (change.encoded?.length ?? 4) + 32);
    }
    const bytes = shared ?? keyFrameFromEncoded(signal, change.key, change.encoded ?? 'null');
    this.items.push(bytes);
    return this.added(bytes.length);
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
      this.pollTimer ??= setTimeout(() => {
        this.pollTimer = undefined;
        if (this.items.length > 0) void this.schedule();
      }, this.limits.drainPollMs);
    } else {
      this.send();
    }
  }

  private send(): void {
    const items = this.items;
    this.items = [];
    this.coalesce = undefined;
    this.queuedBytes = 0;
    const socket =
      items.length > 1 ? (this.ws as unknown as { _socket?: Socket })._socket : undefined;
    socket?.cork();
    for (const item of items) {
      const bytes =
        typeof item === 'string' || Buffer.isBuffer(item)
          ? item
          : keyFrameFromEncoded(item.signal, item.change.key, item.change.encoded ?? 'null');
      this.ws.send(bytes, TEXT);
    }
    socket?.uncork();
  }

  private drop(): void {
    this.items = [];
    this.coalesce = undefined;
    this.queuedBytes = 0;
  }

  /** Send what is queued now (before a close frame), if the page is not slow. */
  sendNow(): void {
    if (
      !this.closed &&
      this.items.length > 0 &&
      this.ws.readyState === this.ws.OPEN &&
      this.ws.bufferedAmount <= this.limits.softBufferBytes
    ) {
      this.send();
    }
  }

  close(): void {
    this.closed = true;
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
 * One WebSocket and the analysis instance behind it: parses frames, runs the
 * session's actions one after the other, and owns the outbound path.
 */
export class Session {
  analysis: AnyAnalysis | undefined;
  /** Bytes read from the socket at the last ping (-1: none yet). */
  private lastRead = -1;
  private readonly queue = new ActionQueue();
  private readonly out: Outbound;
  private connecting = false;
  private ended = false;

  constructor(
    readonly ws: WebSocket,
    readonly meta: Meta,
    private readonly ctx: SessionContext,
  ) {
    this.out = new Outbound(ws, ctx.limits, this);
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', () => this.end());
    ws.on('error', ignoreSocketError);
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.ended) return;
    if (isBinary) {
      this.close(1003, 'binary frames are not supported: send JSON text frames');
      return;
    }
    let message;
    try {
      message = parseClientMessage((data as Buffer).toString());
    } catch (error) {
      this.ctx.logger.warn(`[${this.meta.name}] bad frame: ${(error as Error).message}`);
      void this.out.frame(frameFromEncoded('error', encodeValue((error as Error).message)));
      return;
    }
    switch (message.kind) {
      case 'connect': {
        if (this.connecting) {
          const error = `this socket is already connected (analysis ${this.analysis?.id ?? 'starting'}); a second __connect is ignored`;
          this.ctx.logger.warn(`[${this.meta.name}] ${error}`);
          void this.out.frame(frameFromEncoded('error', encodeValue(error)));
          return;
        }
        this.connecting = true;
        void this.queue.enqueue(() => this.start(message));
        return;
      }
      case 'action': {
        if (!this.connecting) {
          const warning = `action "${message.signal}" ignored: send __connect first`;
          this.ctx.logger.warn(`[${this.meta.name}] ${warning}`);
          void this.out.frame(frameFromEncoded('warn', encodeValue(warning)));
          return;
        }
        if (LIFECYCLE.has(message.signal)) {
          const warning = `action "${message.signal}" is run by the server only; ignored`;
          this.ctx.logger.warn(`[${this.meta.name}] ${warning}`);
          void this.out.frame(frameFromEncoded('warn', encodeValue(warning)));
          return;
        }
        if (this.queue.size >= this.ctx.limits.maxQueuedActions) {
          this.close(1008, `more than ${this.ctx.limits.maxQueuedActions} actions queued`);
          return;
        }
        const load = message.hasLoad ? message.load : undefined;
        this.queue
          .enqueue(async () => {
            if (this.analysis && !this.ended) {
              await Meta.runProcess(this.analysis, message.signal, load);
            }
          })
          .catch((error: unknown) => this.failed(message.signal, error));
        return;
      }
      default: {
        const never: never = message;
        throw new Error(`unhandled message ${String(never)}`);
      }
    }
  }

  private async start(message: ConnectMessage): Promise<void> {
    const resume =
      message.analysisId !== null && RESUMABLE_ID.test(message.analysisId)
        ? message.analysisId
        : undefined;
    if (message.analysisId !== null && resume === undefined) {
      void this.out.frame(
        frameFromEncoded(
          'warn',
          encodeValue('the analysis id to resume is not valid; starting a new one'),
        ),
      );
    }
    let analysis: AnyAnalysis;
    try {
      analysis = await this.meta.createAnalysis({
        id: resume,
        logger: this.ctx.logger,
        sink: this,
        backend: this.ctx.datastore,
      });
    } catch (error) {
      const text = `could not start analysis "${this.meta.name}": ${(error as Error).message}`;
      this.ctx.logger.error(`${text}\n${(error as Error).stack ?? ''}`);
      void this.out.frame(frameFromEncoded('error', encodeValue(text)));
      this.close(1011, 'analysis failed to start');
      return;
    }
    if (this.ended) {
      analysis.dispose();
      return;
    }
    this.analysis = analysis;
    const reply = {
      analysis_id: analysis.id,
      databench_backend_version: this.ctx.backendVersion,
      analyses_version: this.ctx.analysesVersion(),
    };
    void this.out.frame(frameFromEncoded(PROTOCOL.connectSignal, encodeValue(reply)));
    if (resume !== undefined) {
      const data = analysis.snapshotFrame('data');
      if (data !== undefined) void this.out.frame(data);
    }
    const classData = analysis.snapshotFrame('class_data');
    if (classData !== undefined) void this.out.frame(classData);

    await Meta.runProcess(analysis, 'connect');
    await Meta.runProcess(analysis, 'args', {
      cli_args: this.ctx.cliArgs,
      request_args: parseQs(message.requestArgs),
    });
    await Meta.runProcess(analysis, 'connected');
  }

  /** An action failed outside its handlers (e.g. a `__process` frame that cannot be encoded). */
  private failed(action: string, error: unknown): void {
    const text = `action "${action}" failed: ${(error as Error).message ?? String(error)}`;
    this.ctx.logger.error(`[${this.meta.name}] ${text}\n${(error as Error).stack ?? ''}`);
    void this.out.frame(frameFromEncoded('error', encodeValue(text)));
  }

  /**
   * Called by the server's ping loop before each ping: false when nothing at
   * all (not even the pong of the last ping) arrived since then. Counting the
   * socket's bytes spares every session a 'pong' listener.
   */
  heartbeat(): boolean {
    const socket = (this.ws as unknown as { _socket?: Socket })._socket;
    if (!socket) return true; // ws emits 'close' for a socket it no longer has
    const read = socket.bytesRead;
    const alive = read !== this.lastRead;
    this.lastRead = read;
    return alive;
  }

  /** @internal The page reads too slowly: past the hard bound, close. */
  overflow(bytes: number): void {
    this.ctx.logger.warn(
      `[${this.meta.name}] closing a session whose page reads too slowly (${bytes} bytes pending)`,
    );
    this.close(1008, 'send buffer over limit: the page reads too slowly');
  }

  /** @internal PageSink: an emit of the analysis. */
  emit(signal: string, message: unknown): Promise<void> {
    return this.out.frame(
      frameFromEncoded(signal, message === undefined ? undefined : encodeValue(message)),
    );
  }

  /** @internal PageSink: a datastore change, `class_data` encoded once for every page. */
  change(signal: 'data' | 'class_data', change: Change): Promise<void> {
    return this.out.change(
      signal,
      change,
      signal === 'class_data' ? sharedFrame(signal, change) : undefined,
    );
  }

  /** Close the socket with a code and reason; `disconnected` runs when it has closed. */
  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      // the error frame that explains the close goes out first
      this.out.sendNow();
      this.ws.close(code, reason);
      // a page that does not read will not answer the close handshake either
      setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
    }
    this.out.close();
  }

  /** The socket closed: run `disconnected` after what is queued, then release everything. */
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.out.close();
    this.analysis?.cancel();
    void this.queue
      .enqueue(async () => {
        const analysis = this.analysis;
        if (!analysis) return;
        await Meta.runProcess(analysis, 'disconnected');
        analysis.dispose();
      })
      .finally(() => this.ctx.onEnded(this));
  }
}
