import type { Change } from '../datastore/change.js';
import type { CancelTarget } from '../protocol/messages.js';
import type { DatastoreBackend } from '../datastore/backend.js';
import { Datastore } from '../datastore/datastore.js';
import type { Logger } from '../util/logger.js';
import { withoutDetails } from '../util/error-text.js';
import { isSessionDomain } from '../analysis/user.js';
import { CLOSE_GRACE_MS } from './analysis-session.js';
import type {
  AskedConcurrency,
  KernelSession,
  OpenRequest,
  PagePort,
  UploadDelivery,
  WholeValues,
} from './kernel.js';
import type { HostMessage, KernelBatch, KernelOp, LogOp } from './messages.js';

/**
 * How long the host waits for a kernel to confirm a close before it releases
 * the session anyway (the kernel's own grace periods, plus a margin).
 */
const CLOSE_CONFIRM_MS = 2 * CLOSE_GRACE_MS + 1000;

/** The host's view of one domain a kernel has attached: a Datastore on the server's backend. */
class HostDomain implements WholeValues {
  readonly store: Datastore<Record<string, unknown>>;
  /** Set while a write of this kernel is applied: its change is not sent back. */
  applying = false;

  constructor(
    readonly name: string,
    private readonly link: RemoteLink,
  ) {
    this.store = new Datastore(name, link.backend ? { backend: link.backend } : {});
    this.store.onEncodedChange(this);
  }

  wholeOf(key: string): string | undefined {
    return this.store._encoded(key);
  }

  handleDatastoreChange(change: Change): void {
    if (this.applying) return;
    this.link.post({
      t: 'change',
      domain: this.name,
      key: change.key,
      encoded: change.encoded ?? null,
      applied: this.link.applied,
    });
  }
}

/** A page's session on a remote kernel, as the host sees it. */
class RemoteSession implements KernelSession {
  /** Actions sent and not finished. */
  pending = 0;
  private closing: Promise<void> | undefined;
  private confirmClosed: (() => void) | undefined;
  private isClosed = false;

  constructor(
    readonly sid: number,
    readonly port: PagePort,
    private readonly link: RemoteLink,
    /** Whether the page may see stack frames and paths (see OpenRequest.errorDetails). */
    readonly errorDetails: boolean,
  ) {}

  action(name: string, hasLoad: boolean, load: unknown, asked?: AskedConcurrency): void {
    this.pending++;
    // no `concurrency` key unless asked: a worker's structured clone of every action has one field less
    this.link.post(
      asked === undefined
        ? { t: 'action', sid: this.sid, name, hasLoad, load: hasLoad ? load : null }
        : {
            t: 'action',
            sid: this.sid,
            name,
            hasLoad,
            load: hasLoad ? load : null,
            concurrency: asked,
          },
    );
  }

  upload(delivery: UploadDelivery): void {
    this.pending++;
    this.link.post({
      t: 'upload',
      sid: this.sid,
      action: delivery.action,
      files: delivery.files.map((f) => ({
        name: f.name,
        type: f.type,
        size: f.bytes.byteLength,
        bytes: f.bytes,
      })),
      multiple: delivery.multiple,
      processId: delivery.processId,
    });
  }

  cancel(target: CancelTarget): void {
    this.link.post({ t: 'cancel', sid: this.sid, target });
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      if (this.isClosed) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.link.unresponsive(this);
        resolve();
      }, CLOSE_CONFIRM_MS);
      timer.unref();
      this.confirmClosed = () => {
        clearTimeout(timer);
        resolve();
      };
      this.link.post({ t: 'close', sid: this.sid });
    }).finally(() => this.link.released(this));
    return this.closing;
  }

  /** The kernel confirmed the close, or died. */
  closed(): void {
    this.isClosed = true;
    this.confirmClosed?.();
    this.confirmClosed = undefined;
  }
}

/**
 * The host side of one kernel connection (a worker thread, or a Python process):
 * routes the kernel's batches to the sessions' pages, and bridges the
 * kernel's datastore domains to the server's backend, so `data` and
 * `classData` are one truth for every kernel and in-process session.
 * Transport-agnostic: it is given a `send` function and fed what arrives.
 */
export class RemoteLink {
  readonly sessions = new Map<number, RemoteSession>();
  /** The `seq` of the last write of this kernel applied here. */
  applied = 0;
  /** True once a session's close went unconfirmed: the kernel is stuck in a handler. */
  stuck = false;
  private readonly domains = new Map<string, HostDomain>();
  private nextSid = 1;
  /** The server's datastore backend (undefined: the default, in memory). */
  backend: DatastoreBackend | undefined;
  private dead = false;

  constructor(
    private readonly send: (message: HostMessage) => void,
    private readonly logger: Logger,
    private readonly name: string,
    /** Called when a session has been released (its page closed). */
    private readonly onReleased: (link: RemoteLink) => void,
    /** Where the kernel's log lines go. Default: the logger, as they are. */
    private readonly onLog: (level: LogOp['level'], text: string) => void = (level, text) =>
      logger[level](text),
  ) {}

  post(message: HostMessage): void {
    if (!this.dead) this.send(message);
  }

  /** Sessions with actions in flight. */
  get busy(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.pending > 0) n++;
    return n;
  }

  open(port: PagePort, request: OpenRequest): KernelSession {
    // one server, one backend: the first page names it for every domain of this link
    this.backend ??= request.datastore;
    const sid = this.nextSid++;
    const session = new RemoteSession(sid, port, this, request.errorDetails !== false);
    this.sessions.set(sid, session);
    this.post({
      t: 'open',
      sid,
      id: request.id,
      resumed: request.resumed,
      requestArgs: request.requestArgs,
      cliArgs: request.cliArgs,
      owner: request.owner,
      ...(request.errorDetails === false ? { errorDetails: false } : {}),
      ...(request.maxValueBytes !== undefined ? { maxValueBytes: request.maxValueBytes } : {}),
      ...(request.user !== undefined ? { user: request.user } : {}),
      ...(request.deltas === true ? { deltas: true } : {}),
      ...(request.classDomain !== undefined ? { classDomain: request.classDomain } : {}),
      ...(request.dataDomain !== undefined ? { dataDomain: request.dataDomain } : {}),
      ...(request.userDomain !== undefined ? { userDomain: request.userDomain } : {}),
    });
    return session;
  }

  /** @internal */
  released(session: RemoteSession): void {
    if (this.sessions.get(session.sid) !== session) return;
    this.sessions.delete(session.sid);
    this.onReleased(this);
  }

  /** @internal A close was not confirmed in time: the kernel does not answer. */
  unresponsive(session: RemoteSession): void {
    this.stuck = true;
    this.logger.warn(
      `[${this.name}] a kernel did not confirm the close of a session within ${CLOSE_CONFIRM_MS} ms: it is busy in a handler (its thread or process ends once its pages have gone); released the session`,
    );
    session.closed();
  }

  /** Feed one batch that arrived from the kernel. */
  receive(batch: KernelBatch): void {
    const bytes = batch.bytes;
    for (const op of batch.ops) this.apply(op, bytes);
  }

  private apply(op: KernelOp, bytes: Uint8Array): void {
    switch (op.t) {
      case 'frame': {
        const session = this.sessions.get(op.sid);
        if (!session) return;
        const frame =
          op.text !== undefined
            ? Buffer.from(op.text)
            : Buffer.from(bytes.buffer, bytes.byteOffset + op.start, op.end - op.start);
        if (op.domain === undefined || op.coalesce === null) {
          session.port.forward(frame, op.coalesce ?? undefined);
        } else {
          // a delta: where the key's whole value is, as the host holds it
          // (the kernel's write of it came earlier in this batch or before),
          // read only when the page's queue coalesces it
          session.port.forward(frame, op.coalesce, this.domains.get(op.domain));
        }
        return;
      }
      case 'write': {
        this.applied = op.seq;
        const domain = this.domains.get(op.domain);
        if (!domain) return;
        domain.applying = true;
        try {
          domain.store._writeEncoded(op.key, op.encoded ?? undefined).catch((error: unknown) => {
            this.logger.error(`[${this.name}] a datastore subscriber failed: ${String(error)}`);
          });
        } finally {
          domain.applying = false;
        }
        return;
      }
      case 'done': {
        const session = this.sessions.get(op.sid);
        if (!session) return;
        session.pending--;
        session.port.done();
        return;
      }
      case 'opened':
        this.sessions.get(op.sid)?.port.opened();
        return;
      case 'fail':
        this.sessions.get(op.sid)?.port.fail(op.message, op.code, op.reason);
        return;
      case 'closed':
        this.sessions.get(op.sid)?.closed();
        return;
      case 'attach': {
        let domain = this.domains.get(op.domain);
        if (!domain) {
          domain = new HostDomain(op.domain, this);
          this.domains.set(op.domain, domain);
        }
        const attached = domain;
        void attached.store.ready.then(() => {
          if (this.domains.get(op.domain) !== attached) return;
          this.post({
            t: 'attached',
            domain: op.domain,
            entries: [...attached.store.encodedEntries()],
          });
        });
        return;
      }
      case 'detach': {
        const domain = this.domains.get(op.domain);
        if (!domain) return;
        this.domains.delete(op.domain);
        domain.store._closeWith(op.release, op.releaseAfterMs ?? undefined, op.owner ?? undefined);
        return;
      }
      case 'log':
        this.onLog(op.level, op.text);
        return;
      default: {
        const never: never = op;
        throw new Error(`unknown kernel op ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * The kernel has gone (its thread died or was ended): its pages get an
   * error and a close they reconnect from; its domains are released here
   * with the retention a page's data has, so a reconnecting page resumes.
   */
  died(cause: string, dataRetentionMs: number): void {
    if (this.dead) return;
    this.dead = true;
    // the cause is often a stack (an uncaught exception): the log has it whole
    let brief: string | undefined;
    for (const session of this.sessions.values()) {
      const shown = session.errorDetails ? cause : (brief ??= withoutDetails(cause));
      session.port.fail(
        `analysis "${this.name}": its kernel stopped (${shown}); reconnecting`,
        1011,
        'kernel stopped',
      );
      session.closed();
    }
    for (const domain of this.domains.values()) {
      // a page's data (its domain starts with its UUID) waits for the page to resume; classData and a user's userData stay
      domain.store._closeWith(false, isSessionDomain(domain.name) ? dataRetentionMs : undefined);
    }
    this.domains.clear();
  }
}
