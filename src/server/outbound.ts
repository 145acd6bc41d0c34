import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Change } from '../datastore/change.js';
import { keyFrameFromEncoded } from '../protocol/messages.js';
import { deltaFrame, type StoreSignal } from '../protocol/delta.js';
import type { WholeValues } from '../kernel/kernel.js';
import type { Batched, TurnBatcher } from '../util/turn-batcher.js';

/** The bounds of one page's outbound queue (resolved, every field set). */
export interface OutboundLimits {
  /** Above this many buffered bytes a page counts as slow: datastore updates coalesce per key. */
  softBufferBytes: number;
  /** Above this many buffered + queued bytes the socket is closed (1008). */
  hardBufferBytes: number;
  /** How often a congested queue checks whether its socket drained. */
  drainPollMs: number;
}

/** Who an outbound queue reports to when its page reads too slowly (the Session). */
export interface OutboundOwner {
  /** The page's pending bytes passed the hard bound. */
  overflow(bytes: number): void;
  /** The server-wide budget of slow pages is spent and this page is among the slowest. */
  closeOverBudget(limit: number): void;
}

const TEXT = { binary: false } as const;
const RESOLVED: Promise<void> = Promise.resolve();

/** After its page has gone, a writer still yields every write, so a loop cannot spin. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** One queued outbound frame; a datastore change keeps its key so it can coalesce. */
interface Item {
  signal: StoreSignal;
  change: Change | undefined;
  /** The frame already encoded (a kernel's change): sent as it is. */
  bytes?: Buffer | undefined;
  /** A kernel's change whose frame is a delta: its whole value, sent instead once it coalesced. */
  whole?: { key: string; encoded: string } | undefined;
}

/**
 * A queued delta of one key. Deltas of the same key and kind queued one
 * after the other become one frame (a loop that appends or patches sends one
 * frame per turn).
 */
class DeltaItem {
  constructor(
    readonly signal: StoreSignal,
    readonly key: string,
    readonly kind: 'append' | 'ops',
    /** The encoded delta; appends merged into one hold their items joined by commas. */
    public encoded: string,
  ) {}

  frame(): string {
    return deltaFrame(this.signal, this.key, this.kind, this.encoded);
  }
}

/** What a queued update holds, in bytes (its key and value, or its frame). */
function itemBytes(item: Item): number {
  if (item.whole !== undefined) return Buffer.byteLength(item.whole.encoded) + 32;
  if (item.bytes !== undefined) return item.bytes.length;
  const { key, encoded } = item.change!;
  // a deleted key is sent as `null`; 32 for the frame around key and value
  return Buffer.byteLength(key) + (encoded === undefined ? 4 : Buffer.byteLength(encoded)) + 32;
}

/** What an outbound queue reports its slowness to (an {@link OutboundBudget}, or several). */
export interface BudgetAccount {
  /** A page became slow: it counts until {@link relieved}. */
  congested(out: Outbound): void;
  /** A page caught up or closed. */
  relieved(out: Outbound): void;
}

/** Two budgets at once: a viewer of a shared page counts against its owner's and the server's. */
export class BothBudgets implements BudgetAccount {
  constructor(
    private readonly first: BudgetAccount,
    private readonly second: BudgetAccount,
  ) {}

  congested(out: Outbound): void {
    this.first.congested(out);
    this.second.congested(out);
  }

  relieved(out: Outbound): void {
    this.first.relieved(out);
    this.second.relieved(out);
  }
}

/**
 * The server-wide bound on what slow pages hold: each page is bounded on its
 * own (`hardBufferBytes`), and the sum over the slow ones is bounded too, so
 * that many paused readers cannot grow the server's memory without end. Only
 * slow pages are counted (those closed for slowness too, until they have
 * gone); past the budget the slowest (most pending) are closed first, with a
 * reason, and a closed one still holding its bytes is cut off.
 *
 * A {@link BudgetAccount} structurally (no `implements`: its methods are
 * internal and left out of the published types).
 */
export class OutboundBudget {
  private readonly slow = new Set<Outbound>();
  private timer: ReturnType<typeof setInterval> | undefined;

  /**
   * @param limit Pending bytes of all slow pages together at most.
   * @param checkMs How often the sum is checked while any page is slow. Default: 50.
   */
  constructor(
    private readonly limit: number,
    private readonly checkMs = 50,
  ) {}

  /** @internal A page became slow: it counts until {@link relieved}. */
  congested(out: Outbound): void {
    this.slow.add(out);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.check(), this.checkMs);
      this.timer.unref();
    }
  }

  /** @internal A page caught up or closed. */
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

  /** Stop checking (the server closes). */
  dispose(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.slow.clear();
  }
}

/**
 * The outbound queue of one socket. Its first frame of a turn goes out at
 * once (a lone write or emit does not wait); the frames after it in the same
 * turn go out together (corked) at the next turn, through the server's
 * {@link TurnBatcher}. The Promise a writer awaits settles then, so a handler
 * that loops and awaits its writes streams to the page and yields to other
 * sessions every slice. When the page reads slower than the analysis writes,
 * datastore updates coalesce per key (latest wins), emits are kept, and past
 * the hard bound (or the server-wide budget) the page is closed.
 */
export class Outbound implements Batched {
  /** What waits for the next flush; undefined when nothing does (an idle page holds no array). */
  private items: Array<string | Buffer | Item | DeltaItem> | undefined;
  private coalesce: Map<string, Item> | undefined;
  private queuedBytes = 0;
  /** Queued with the batcher for its next flush. */
  private scheduled = false;
  /** The page applies `__delta` frames (it announced it in `__connect`): set once, by its session. */
  deltas = false;
  /** The turn this queue last sent a frame at once in (see {@link direct}). */
  private directTurn = -1;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  /**
   * @param ws The page's WebSocket.
   * @param socket Its TCP (or TLS) socket, from the upgrade: corked around a batch.
   */
  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket | undefined,
    private readonly limits: OutboundLimits,
    private budget: BudgetAccount,
    private readonly batcher: TurnBatcher,
    private readonly owner: OutboundOwner,
  ) {}

  /** Bytes queued here and in the socket. */
  get pending(): number {
    return this.queuedBytes + this.ws.bufferedAmount;
  }

  /** @internal The server-wide budget closes this page. */
  overBudget(limit: number): void {
    this.owner.closeOverBudget(limit);
  }

  /**
   * @internal Count this page's slowness against `budget` from now on (a
   * viewer of a shared page, once it is known to be one, before it was sent
   * anything that could make it slow).
   */
  useBudget(budget: BudgetAccount): void {
    this.budget.relieved(this);
    this.budget = budget;
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
   * like {@link change}, a slow page keeps only the latest frame per `id`
   * (`signal\0key`). `whole` is where the key's whole value is when `bytes`
   * is a delta: a coalesced key is sent whole (read now), since the page may
   * not get the deltas before it.
   */
  keyed(id: string, bytes: Buffer, whole?: WholeValues): void {
    if (this.closed) return;
    if (this.coalesce === undefined) {
      void this.enqueue(bytes);
      return;
    }
    const signal: StoreSignal = id.startsWith('class_data\0')
      ? 'class_data'
      : id.startsWith('user_data\0')
        ? 'user_data'
        : 'data';
    const key = id.slice(signal.length + 1);
    const encoded = whole?.wholeOf(key);
    void this.coalesceItem(
      id,
      encoded === undefined
        ? { signal, change: undefined, bytes }
        : { signal, change: undefined, whole: { key, encoded } },
    );
  }

  /**
   * Queue a datastore change; `shared` is the frame already encoded for every
   * subscriber. With {@link deltas}, a change that has a delta is sent as
   * one, except to a slow page, whose updates coalesce: those go whole.
   */
  change(signal: StoreSignal, change: Change, shared: Buffer | undefined): Promise<void> {
    if (this.closed) return nextTurn();
    if (this.coalesce !== undefined) {
      return this.coalesceItem(signal + '\0' + change.key, { signal, change });
    }
    if (this.deltas) {
      const delta = change.delta;
      if (delta !== undefined) return this.delta(signal, change.key, delta.kind, delta.encoded);
    }
    return this.enqueue(
      shared ?? keyFrameFromEncoded(signal, change.key, change.encoded ?? 'null'),
    );
  }

  /** A delta in order: sent at once, merged into the queued delta before it, or queued. */
  private delta(
    signal: StoreSignal,
    key: string,
    kind: 'append' | 'ops',
    encoded: string,
  ): Promise<void> {
    const items = this.items;
    if (items === undefined) {
      const frame = deltaFrame(signal, key, kind, encoded);
      if (this.direct(frame.length)) {
        this.ws.send(frame, TEXT);
        this.sentDirect();
        return RESOLVED;
      }
    } else {
      const last = items[items.length - 1];
      if (
        last instanceof DeltaItem &&
        last.kind === kind &&
        last.key === key &&
        last.signal === signal
      ) {
        // appends join their items; patches their operations (`[a]` + `[b]` → `[a,b]`)
        if (kind === 'append') last.encoded += ',' + encoded;
        else last.encoded = last.encoded.slice(0, -1) + ',' + encoded.slice(1);
        return this.added(Buffer.byteLength(encoded) + 1);
      }
    }
    (this.items ??= []).push(new DeltaItem(signal, key, kind, encoded));
    return this.added(Buffer.byteLength(encoded) + key.length + 48);
  }

  /** A frame in order: sent at once when it may skip the queue (see {@link direct}), else queued. */
  private enqueue(bytes: string | Buffer): Promise<void> {
    if (this.direct(bytes.length)) {
      this.ws.send(bytes, TEXT);
      this.sentDirect();
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
    queued.whole = item.whole;
    return this.schedule();
  }

  /**
   * Whether a frame may skip the queue: the first of this queue in this
   * turn, with nothing queued before it and a page that keeps up. A writer
   * that loops sends its first frame at once and batches the rest.
   */
  private direct(length: number): boolean {
    if (
      this.directTurn === this.batcher.turnNo ||
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
    return true;
  }

  /** A frame went out at once: the next of this turn is queued (marked after the send, off its path). */
  private sentDirect(): void {
    this.directTurn = this.batcher.markTurn();
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
    if (this.scheduled) return this.batcher.wait();
    this.scheduled = true;
    return this.batcher.add(this);
  }

  /** Called once per turn by the batcher (the Batched contract). */
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
    // one write to the socket for the whole batch, not one per frame
    const socket = items.length > 1 ? this.socket : undefined;
    socket?.cork();
    for (const item of items) {
      const bytes =
        typeof item === 'string' || Buffer.isBuffer(item)
          ? item
          : item instanceof DeltaItem
            ? item.frame()
            : item.whole !== undefined
              ? keyFrameFromEncoded(item.signal, item.whole.key, item.whole.encoded)
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

  /** The page has gone (or is closing): nothing more is sent or kept. */
  close(): void {
    this.closed = true;
    this.budget.relieved(this);
    this.drop();
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }

  /**
   * Closed for reading too slowly: nothing more is sent or kept, but what
   * the socket still holds counts against the budget until {@link close}
   * (the page has gone), so many closing pages cannot exceed it either.
   */
  closedSlow(): void {
    this.close();
    if (this.ws.bufferedAmount > 0) this.budget.congested(this);
  }
}
