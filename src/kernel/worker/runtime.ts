import type { DatastoreBackend, DetachOptions } from '../../datastore/backend.js';
import type { Change } from '../../datastore/change.js';
import { encodeValue } from '../../protocol/encode.js';
import { frameFromEncoded, keyFrameFromEncoded } from '../../protocol/messages.js';
import { deltaFrame, type StoreSignal } from '../../protocol/delta.js';
import type { Logger } from '../../util/logger.js';
import type { Batched, TurnBatcher } from '../../util/turn-batcher.js';
import type { Meta } from '../../analysis/meta.js';
import { AnalysisSession, type SessionPort } from '../analysis-session.js';
import type {
  AttachedMessage,
  ChangeMessage,
  HostMessage,
  KernelBatch,
  KernelOp,
  WriteOp,
} from '../messages.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const RESOLVED: Promise<void> = Promise.resolve();
const encoder = new TextEncoder();
/** Up to this many bytes a batch's frames are copied out rather than the whole buffer moved. */
const SMALL_BATCH = 4096;
const NOTHING: ArrayBuffer[] = [];

/**
 * The kernel's side of the boundary: everything one turn of the kernel
 * produces (frames already encoded to UTF-8, datastore ops, logs) goes to
 * the host as one batch at the next turn, through the thread's
 * {@link TurnBatcher}. A writer that loops runs in slices and then waits for
 * the batch, so its updates stream and the kernel's other sessions get their
 * turn, as on the server's own thread (which batches its pages the same way).
 */
export class Outbox implements Batched {
  private ops: KernelOp[] = [];
  /** The write op of each `domain\0key` in this batch. */
  private readonly writes = new Map<string, Mutable<WriteOp>>();
  private bytes = new Uint8Array(16 * 1024);
  private used = 0;
  /** Queued with the batcher for its next flush. */
  private scheduled = false;
  /** Counts batches: a frame shared by several sessions is encoded once per batch. */
  batchNo = 0;

  /**
   * @param send Posts a batch to the host.
   * @param batcher The thread's turn batcher (one per worker runtime).
   */
  constructor(
    private readonly send: (batch: KernelBatch, transfer: ArrayBuffer[]) => void,
    private readonly batcher: TurnBatcher,
  ) {}

  op(op: KernelOp): Promise<void> {
    this.ops.push(op);
    return this.schedule();
  }

  /** Encode `text` into this batch's bytes; returns its range. */
  encode(text: string): [number, number] {
    const need = this.used + text.length * 3;
    if (need > this.bytes.length) {
      const grown = new Uint8Array(Math.max(need, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.used));
      this.bytes = grown;
    }
    const start = this.used;
    this.used += encoder.encodeInto(text, this.bytes.subarray(start)).written;
    return [start, this.used];
  }

  /**
   * Queue a datastore write. Writes of one key within one batch coalesce:
   * the host applies only the latest (its frames to this kernel's own pages
   * still go out one by one), so a loop of writes costs the host one write
   * per key and turn.
   */
  write(id: string, domain: string, key: string, encoded: string | null, seq: number): void {
    const queued = this.writes.get(id);
    if (queued !== undefined) {
      queued.encoded = encoded;
      queued.seq = seq;
      void this.schedule();
      return;
    }
    const op: Mutable<WriteOp> = { t: 'write', domain, key, encoded, seq };
    this.writes.set(id, op);
    void this.op(op);
  }

  /** Attach and detach end a run of coalescing writes: a write must not move across them. */
  barrier(op: KernelOp): void {
    this.writes.clear();
    void this.op(op);
  }

  frame(sid: number, text: string, coalesce: string | null, domain?: string): Promise<void> {
    const [start, end] = this.encode(text);
    return this.op(
      domain === undefined
        ? { t: 'frame', sid, start, end, coalesce }
        : { t: 'frame', sid, start, end, coalesce, domain },
    );
  }

  private schedule(): Promise<void> {
    if (this.scheduled) return this.batcher.wait();
    this.scheduled = true;
    return this.batcher.add(this);
  }

  /**
   * Send the batch now, not a turn later, and let the writers waiting for
   * it go on (an attach waits for its answer, a page for an answered action).
   */
  sendNow(): void {
    this.batcher.flush();
  }

  /** @internal Called by the batcher at the turn after something was queued. */
  flush(): void {
    this.scheduled = false;
    if (this.ops.length > 0) {
      let bytes: Uint8Array;
      let transfer: ArrayBuffer[] = NOTHING;
      if (this.used <= SMALL_BATCH) {
        // a small batch (an answer, a few frames): a copy of just its bytes
        // is cloned with the message (cheaper than moving an ArrayBuffer),
        // and the buffer stays for the next batch
        bytes = this.bytes.slice(0, this.used);
      } else {
        // a large one: the buffer itself moves (no copy); the next batch gets a new one
        bytes = this.bytes.subarray(0, this.used);
        this.bytes = new Uint8Array(this.bytes.length);
        transfer = [bytes.buffer as ArrayBuffer];
      }
      const batch: KernelBatch = { t: 'batch', bytes, ops: this.ops };
      this.ops = [];
      this.writes.clear();
      this.send(batch, transfer);
      this.used = 0;
      this.batchNo++;
    }
  }
}

/**
 * The Datastore backend of a kernel: the host's backend, through the
 * boundary. The kernel's Datastores keep their local mirror (reads stay
 * synchronous); writes go to the host in order, numbered; changes made
 * elsewhere come back as `change` messages.
 */
export class KernelBackend implements DatastoreBackend {
  readonly name = 'kernel';
  private readonly listeners = new Map<
    string,
    (key: string, encoded: string | undefined) => void
  >();
  private readonly waiting = new Map<string, Array<(entries: Map<string, string>) => void>>();
  /** `domain\0key` → seq of this kernel's newest write of it that the host may not have applied yet. */
  private readonly inflight = new Map<string, number>();
  private seq = 0;

  constructor(private readonly outbox: Outbox) {}

  attach(
    domain: string,
    onRemoteChange: (key: string, encoded: string | undefined) => void,
  ): Promise<Map<string, string>> {
    this.listeners.set(domain, onRemoteChange);
    return new Promise((resolve) => {
      const list = this.waiting.get(domain);
      if (list) list.push(resolve);
      else this.waiting.set(domain, [resolve]);
      this.outbox.barrier({ t: 'attach', domain });
      this.outbox.sendNow();
    });
  }

  write(domain: string, key: string, encoded: string | undefined): void {
    const seq = ++this.seq;
    const id = domain + '\0' + key;
    this.inflight.set(id, seq);
    this.outbox.write(id, domain, key, encoded ?? null, seq);
  }

  detach(domain: string, { release, releaseAfterMs, owner }: DetachOptions): void {
    this.listeners.delete(domain);
    const prefix = domain + '\0';
    for (const k of this.inflight.keys()) if (k.startsWith(prefix)) this.inflight.delete(k);
    this.outbox.barrier({
      t: 'detach',
      domain,
      release,
      releaseAfterMs: releaseAfterMs ?? null,
      owner: owner ?? null,
    });
  }

  /** The thread ends: nothing of the host's to release, only our own bookkeeping. */
  dispose(): void {
    this.listeners.clear();
    this.waiting.clear();
    this.inflight.clear();
  }

  attached(message: AttachedMessage): void {
    const list = this.waiting.get(message.domain);
    const resolve = list?.shift();
    if (list?.length === 0) this.waiting.delete(message.domain);
    resolve?.(new Map(message.entries));
  }

  change(message: ChangeMessage): void {
    const id = message.domain + '\0' + message.key;
    const mine = this.inflight.get(id);
    if (mine !== undefined) {
      // our newer write is on its way: it wins at the host and reaches everyone
      if (mine > message.applied) return;
      this.inflight.delete(id);
    }
    this.listeners.get(message.domain)?.(message.key, message.encoded ?? undefined);
  }
}

/** A frame a change became in one batch: shared by every session of the kernel that shows it. */
interface EncodedChange {
  batchNo: number;
  signal: string;
  start: number;
  end: number;
  coalesce: string;
  /** The same change as a `__delta` frame, for the pages that take deltas. */
  delta?: { start: number; end: number } | undefined;
}

/** One page as the kernel sees it: what its analysis emits goes into the outbox. */
class KernelPort implements SessionPort {
  constructor(
    private readonly sid: number,
    private readonly outbox: Outbox,
    /** The page applies `__delta` frames. */
    private readonly deltas: boolean,
  ) {}

  opened(): void {
    void this.outbox.op({ t: 'opened', sid: this.sid });
  }

  frame(bytes: string | Buffer): Promise<void> {
    return this.outbox.frame(this.sid, typeof bytes === 'string' ? bytes : bytes.toString(), null);
  }

  emit(signal: string, message: unknown): Promise<void> {
    return this.outbox.frame(
      this.sid,
      frameFromEncoded(
        signal,
        message === undefined
          ? undefined
          : encodeValue(message, undefined, `the load of signal "${signal}"`),
      ),
      null,
    );
  }

  change(signal: StoreSignal, change: Change): Promise<void> {
    let memo = change.memo as EncodedChange | undefined;
    if (memo === undefined || memo.batchNo !== this.outbox.batchNo || memo.signal !== signal) {
      memo = {
        batchNo: this.outbox.batchNo,
        signal,
        start: -1,
        end: -1,
        coalesce: signal + '\0' + change.key,
      };
      change.memo = memo;
    }
    const delta = this.deltas ? change.delta : undefined;
    if (delta !== undefined) {
      if (memo.delta === undefined) {
        const [start, end] = this.outbox.encode(
          deltaFrame(signal, change.key, delta.kind, delta.encoded),
        );
        memo.delta = { start, end };
      }
      // the host sends the key's whole value instead when the page's updates coalesce
      return this.outbox.op({
        t: 'frame',
        sid: this.sid,
        start: memo.delta.start,
        end: memo.delta.end,
        coalesce: memo.coalesce,
        domain: change.domain,
      });
    }
    if (memo.start < 0) {
      [memo.start, memo.end] = this.outbox.encode(
        keyFrameFromEncoded(signal, change.key, change.encoded ?? 'null'),
      );
    }
    return this.outbox.op({
      t: 'frame',
      sid: this.sid,
      start: memo.start,
      end: memo.end,
      coalesce: memo.coalesce,
    });
  }

  done(): void {
    void this.outbox.op({ t: 'done', sid: this.sid });
    // an answered action is what a page waits for: send the batch now, not a turn later
    this.outbox.sendNow();
  }

  fail(message: string, code: number, reason: string): void {
    void this.outbox.op({ t: 'fail', sid: this.sid, message, code, reason });
  }
}

/** A logger whose lines go to the server's log through the boundary. */
export function createKernelLogger(outbox: Outbox): Logger {
  return {
    debug: (text) => void outbox.op({ t: 'log', level: 'debug', text }),
    info: (text) => void outbox.op({ t: 'log', level: 'info', text }),
    warn: (text) => void outbox.op({ t: 'log', level: 'warn', text }),
    error: (text) => void outbox.op({ t: 'log', level: 'error', text }),
  };
}

/**
 * A kernel: the sessions of one analysis class in this thread, driven by the
 * host's messages.
 */
export class KernelRuntime {
  private readonly sessions = new Map<number, AnalysisSession>();

  constructor(
    private readonly meta: Meta,
    private readonly outbox: Outbox,
    private readonly backend: KernelBackend,
    private readonly logger: Logger,
  ) {}

  receive(message: HostMessage): void {
    switch (message.t) {
      case 'open': {
        const port = new KernelPort(message.sid, this.outbox, message.deltas === true);
        this.sessions.set(message.sid, new AnalysisSession(this.meta, port, message, this.logger));
        return;
      }
      case 'action':
        this.sessions
          .get(message.sid)
          ?.action(message.name, message.hasLoad, message.load, message.concurrency);
        return;
      case 'cancel':
        this.sessions.get(message.sid)?.cancel(message.target);
        return;
      case 'upload': {
        this.sessions.get(message.sid)?.upload({
          action: message.action,
          files: message.files.map((f) => ({
            name: f.name,
            type: f.type,
            bytes: f.bytes ?? new Uint8Array(0),
          })),
          multiple: message.multiple,
          processId: message.processId,
        });
        return;
      }
      case 'close': {
        const session = this.sessions.get(message.sid);
        this.sessions.delete(message.sid);
        const sid = message.sid;
        void (session?.close() ?? RESOLVED).finally(() => {
          void this.outbox.op({ t: 'closed', sid });
        });
        return;
      }
      case 'attached':
        this.backend.attached(message);
        return;
      case 'change':
        this.backend.change(message);
        return;
      default: {
        const never: never = message;
        throw new Error(`unknown host message ${JSON.stringify(never)}`);
      }
    }
  }
}
