import type { Socket } from 'node:net';
import { WebSocket, type RawData } from 'ws';
import type { DatastoreBackend } from '../datastore/backend.js';
import type { Change } from '../datastore/change.js';
import { sessionDataDomain, userDataDomain, type AuthUser } from '../analysis/user.js';
import type { StoreSignal } from '../protocol/delta.js';
import { encodeLoad, encodeValue } from '../protocol/encode.js';
import {
  frameFromEncoded,
  keyFrameFromEncoded,
  parseClientMessage,
  PROTOCOL,
  type ConnectMessage,
  type ConnectReply,
  type ShareMessage,
  type ShareServerLoad,
  type TypeErrorsLoad,
} from '../protocol/messages.js';
import type { Kernel, KernelSession, PagePort, WholeValues } from '../kernel/kernel.js';
import { isAnalysisId, newAnalysisId, shortId } from '../analysis/analysis.js';
import { describeError } from '../protocol/errors.js';
import { escapeLogText } from '../protocol/log-text.js';
import { LogRateLimit } from '../util/log-limit.js';
import type { Logger } from '../util/logger.js';
import type { TurnBatcher } from '../util/turn-batcher.js';
import {
  Outbound,
  type BudgetAccount,
  type OutboundBudget,
  type OutboundLimits,
} from './outbound.js';
import {
  closeShareStore,
  MAX_SHARES_PER_PAGE,
  ShareView,
  UNKNOWN_SHARE,
  type ShareLinks,
} from './share.js';
import type { AnalysisEntry } from '../app/app.js';
import { PageUploads, type ChunkResult, type UploadLimits } from './upload.js';

/** Bounds of one session's outbound and inbound paths (resolved, every field set). */
export interface SessionLimits extends OutboundLimits, UploadLimits {
  /** Actions queued for one session at most; a flood past it closes the socket (1008). */
  maxQueuedActions: number;
  /** Above this many bytes of queued actions the socket is not read until they drain (back-pressure). */
  pauseQueuedBytes: number;
  /** Above this many bytes of queued actions the socket is closed (1008). */
  maxQueuedBytes: number;
  /** Pending outbound bytes of all slow pages together at most; past it the slowest are closed. */
  totalBufferBytes: number;
  /** Pending outbound bytes of all slow viewers of one shared session together at most. */
  viewersBufferBytes: number;
}

/** What every session of one server shares. */
export interface SessionContext {
  readonly logger: Logger;
  readonly limits: SessionLimits;
  /** The server-wide account of slow pages' pending bytes. */
  readonly budget: OutboundBudget;
  /** The server's turn batcher: every page's frames of one turn go out together at the next. */
  readonly batcher: TurnBatcher;
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
  /**
   * The analysis `name` as it is now (it changes when the analyses reload),
   * read once per `__connect`: whether its pages resume across loads, and
   * its type errors.
   */
  entry(
    name: string,
  ): Pick<AnalysisEntry, 'resumeOnReload' | 'typeErrors' | 'classDomain'> | undefined;
  /** The largest frame a page may send (`maxFrameBytes`): the `__connect` reply tells the page. */
  readonly maxFrameBytes: number;
  /** Called once when the session has ended (socket closed and `disconnected` run). */
  onEnded(session: Session): void;
  /** Handler failures reach the page with the file:line of the user's code. Default: true. */
  readonly errorDetails?: boolean;
  /** The server's share links. */
  readonly shares: ShareLinks;
  /**
   * A viewer of the session `id` joins in this process: the budget its slow
   * bytes count against (the owner's, shared by every viewer of `id`, and
   * the server's) and what to call when it has gone; undefined when `id`
   * has as many viewers here as it may.
   */
  viewer(id: string): { budget: BudgetAccount; release(): void } | undefined;
}

/**
 * How long a closing socket may take to finish the close handshake. A page
 * closed for reading too slowly gets as long: its close frame waits behind
 * what its socket already holds (megabytes, in the kernel's buffers too), and
 * a page that reads should learn why it was closed however busy the machine
 * is; what it holds meanwhile still counts against the outbound budget.
 */
const CLOSE_GRACE_MS = 2000;
/** Actions only the server runs: a page sending them is refused. */
function isLifecycle(signal: string): boolean {
  // (compared, not looked up: the signal of every action frame is a new string to hash)
  return (
    signal === 'connect' || signal === 'args' || signal === 'connected' || signal === 'disconnected'
  );
}

/**
 * A socket error (a reset peer, a bad frame from ws's parser) is followed by
 * 'close', which ends the session: nothing else to do but log a frame over
 * the size limit (its sender learns only the close code). One shared
 * function instead of a closure per session.
 */
function onSocketError(this: WebSocket, error: Error): void {
  if ((error as NodeJS.ErrnoException).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    (this as PageSocket).session?.tooBig();
  }
}

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

function onSocketPong(this: WebSocket): void {
  (this as PageSocket).session?.answered();
}

function onSocketClose(this: WebSocket): void {
  (this as PageSocket).session?.end();
}

/** A name the page sent, as a warning quotes it back: at most 100 characters. */
function shortName(name: string): string {
  return name.length > 100 ? name.slice(0, 100) + '…' : name;
}

/** The memo a change carries: its frame, encoded once for every page that has no transform. */
interface SharedFrame {
  signal: string;
  bytes: Buffer;
}

/** What a change that is not sent returns. */
const RESOLVED: Promise<void> = Promise.resolve();

function sharedFrame(signal: StoreSignal, change: Change): Buffer {
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
 * process) runs it. It is also a `ViewerPage` (structurally: no
 * `implements`, since those methods are internal and left out of the
 * published types).
 */
export class Session implements PagePort {
  /** The analysis id, once `__connect` arrived. */
  id: string | undefined;
  /** The `__connect` reply went out: frames of the server's own (a load error, type errors) may follow. */
  replied = false;
  private kernelSession: KernelSession | undefined;
  /** The `classData` domain the kernel session was opened with (undefined: the class name). */
  classDomain: string | undefined;
  /** The domain of the page's `data` (its id, bound to its user), once `__connect` arrived. */
  dataDomain: string | undefined;
  /** The domain of the page's `userData` (its user's, or its own), once `__connect` arrived. */
  userDomain: string | undefined;
  /** The page answered (a pong or any frame) since the last ping; true until the first. */
  private alive = true;
  /** Actions handed to the kernel and not finished yet, and their frames' bytes (in order). */
  private queued = 0;
  private queuedBytes = 0;
  private queuedSizes: number[] | undefined;
  /** Bytes of `__cancel` frames among `queuedBytes`: released when no action is queued. */
  private cancelBytes = 0;
  private readonly out: Outbound;
  private connecting = false;
  private ended = false;
  /** Closed for reading too slowly (see {@link closeSlow}). */
  private closedSlow = false;
  private logLimit: LogRateLimit | undefined;
  /** The page's uploads; made by its first `__upload` start (from then on binary frames are chunks). */
  private uploads: PageUploads | undefined;
  /** The page applies `__delta` frames (it announced `__deltas` in `__connect`). */
  private deltas = false;
  /** The page opened a share link: it views another page's session and cannot act. */
  private viewing = false;
  /** A viewer's feed of the owner's data, once its link resolved. */
  private view: ShareView | undefined;
  private releaseViewer: (() => void) | undefined;
  /** Share links this page made and has not revoked, those being made among them (bounded per page). */
  private sharesPending = 0;
  /** The links this page made, so that revoking one frees its place. */
  private madeLinks: Set<string> | undefined;

  /**
   * @param ws The page's WebSocket (a {@link PageSocket}).
   * @param owner Who the page's retained `data` counts against (its address, grouped).
   * @param raw The TCP (or TLS) socket of the upgrade request (`req.socket`,
   *   public, where ws keeps it private): its outbound queue corks it around a batch.
   * @param user Who opened the page (the server's login); undefined: nobody signed in.
   */
  constructor(
    readonly ws: WebSocket,
    readonly kernel: Kernel,
    private readonly ctx: SessionContext,
    private readonly owner: string,
    raw: Socket | undefined,
    readonly user?: AuthUser,
  ) {
    this.out = new Outbound(ws, raw, ctx.limits, ctx.budget, ctx.batcher, this);
    // shared listeners (no closures per page): the socket leads to its session
    (ws as PageSocket).session = this;
    ws.on('message', onSocketMessage);
    ws.on('pong', onSocketPong);
    ws.on('close', onSocketClose);
    ws.on('error', onSocketError);
  }

  /** @internal A frame from the page. */
  onMessage(data: RawData, isBinary: boolean): void {
    if (this.ended) return;
    this.alive = true;
    if (isBinary) {
      if (this.uploads === undefined) {
        this.close(1003, 'binary frames are not supported: send JSON text frames');
        return;
      }
      this.uploaded(this.uploads.chunk(data as Buffer));
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
        this.deltas = message.deltas;
        this.out.deltas = message.deltas;
        if (message.share !== undefined) this.startView(message.share);
        else this.start(message);
        return;
      }
      case 'action': {
        if (!this.connecting) {
          const warning = `action "${message.signal}" ignored: send __connect first`;
          this.logPage(warning);
          this.tell('warn', warning);
          return;
        }
        if (this.viewing) {
          this.readOnly(`action "${shortName(message.signal)}"`);
          return;
        }
        if (isLifecycle(message.signal)) {
          const warning = `action "${message.signal}" is run by the server only; ignored`;
          this.logPage(warning);
          this.tell('warn', warning);
          return;
        }
        const limits = this.ctx.limits;
        if (this.queued >= limits.maxQueuedActions) {
          this.close(1008, `more than ${limits.maxQueuedActions} actions queued`);
          return;
        }
        const size = (data as Buffer).length;
        if (!this.admit(size)) return;
        this.queued++;
        (this.queuedSizes ??= []).push(size);
        this.kernelSession?.action(
          message.signal,
          message.hasLoad,
          message.load,
          message.concurrency,
        );
        return;
      }
      case 'cancel': {
        if (this.viewing) {
          this.readOnly(PROTOCOL.cancelSignal);
          return;
        }
        // nothing runs or waits: nothing to cancel
        if (this.queued === 0 || !this.kernelSession) return;
        // not queued (it must reach the kernel while the action it cancels
        // runs), but its bytes count against the page's input bounds until
        // the page's queued actions have drained
        const size = (data as Buffer).length;
        if (!this.admit(size)) return;
        this.cancelBytes += size;
        this.kernelSession.cancel?.(message.target);
        return;
      }
      case 'upload-start': {
        if (this.viewing) {
          this.readOnly(`upload to "${shortName(message.action)}"`);
          this.uploaded(PageUploads.refused(message.id, 'this page is a read-only view'));
          return;
        }
        if (this.kernelSession === undefined) {
          this.uploaded(
            PageUploads.refused(message.id, 'send __connect and wait for its reply first'),
          );
          return;
        }
        const result = (this.uploads ??= new PageUploads(this.ctx.limits)).start(message);
        if (result.kind === 'ready') void this.out.frame(result.frame);
        else this.uploaded(result);
        return;
      }
      case 'upload-cancel':
        this.uploads?.cancel(message.id);
        return;
      case 'share-create':
      case 'share-revoke':
        this.share(message);
        return;
      default: {
        const never: never = message;
        throw new Error(`unhandled message ${String(never)}`);
      }
    }
  }

  /**
   * Count `size` bytes of an action or cancel frame against the page's
   * input bounds: past `maxQueuedBytes` the page is closed (false), past
   * `pauseQueuedBytes` its socket is not read until its actions drain.
   */
  private admit(size: number): boolean {
    const limits = this.ctx.limits;
    const queuedBytes = this.queuedBytes + size;
    if (queuedBytes > limits.maxQueuedBytes) {
      this.close(1008, `more than ${limits.maxQueuedBytes} bytes of actions queued`);
      return false;
    }
    this.queuedBytes = queuedBytes;
    // back-pressure: stop reading this socket until its actions drain
    if (queuedBytes > limits.pauseQueuedBytes && !this.ws.isPaused) this.ws.pause();
    return true;
  }

  /**
   * What a chunk (or a start) came to: a progress frame for the page, an
   * error (a limit, too many bytes), or a complete upload, which is handed
   * to the kernel as one queued action of its size: while it waits and runs
   * its bytes count against the page's queued input (above
   * `pauseQueuedBytes` the socket is not read until it is done).
   */
  private uploaded(result: ChunkResult): void {
    switch (result.kind) {
      case 'ignored':
        return;
      case 'progress':
        void this.out.frame(result.frame);
        return;
      case 'error':
        this.logPage(`upload refused: ${result.message}`);
        void this.out.frame(result.frame);
        return;
      case 'complete': {
        void this.out.frame(result.frame);
        const kernelSession = this.kernelSession!;
        // admitted by the upload limits: counted, never a reason to close
        this.queued++;
        this.queuedBytes += result.bytes;
        (this.queuedSizes ??= []).push(result.bytes);
        if (this.queuedBytes > this.ctx.limits.pauseQueuedBytes && !this.ws.isPaused) {
          this.ws.pause();
        }
        kernelSession.upload(result.delivery);
        return;
      }
      default: {
        const never: never = result;
        throw new Error(`unhandled upload result ${String(never)}`);
      }
    }
  }

  /** @internal The bytes this page's open uploads announced (tests: nothing is kept of a cancelled one). */
  get uploadBytes(): number {
    return this.uploads?.bytes ?? 0;
  }

  /** @internal How many uploads of this page are open. */
  get openUploads(): number {
    return this.uploads?.size ?? 0;
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

  /** A viewer tried to act: refused with a `warn`; nothing reaches the analysis. */
  private readOnly(what: string): void {
    const warning = `${what} refused: this page is a read-only view of a shared session`;
    this.logPage(warning);
    this.tell('warn', warning);
  }

  /** The page asks for a share link of its session, or revokes one. */
  private share(message: ShareMessage): void {
    const reply = (load: ShareServerLoad): void =>
      void this.out.frame(frameFromEncoded(PROTOCOL.shareSignal, encodeValue(load)));
    const id = this.id;
    // the domain of the session's data (bound to its user with a login): what a link shows
    const domain = this.dataDomain ?? id;
    const of = message.kind === 'share-create' ? 'create' : 'revoke';
    if (
      this.viewing ||
      id === undefined ||
      domain === undefined ||
      this.kernelSession === undefined
    ) {
      reply({
        op: 'error',
        of,
        message: this.viewing
          ? 'a read-only view cannot share or revoke links'
          : 'send __connect and wait for its reply first',
      });
      return;
    }
    const failed = (error: unknown): void => {
      this.ctx.logger.error(
        `[${this.kernel.name} ${shortId(id)}] share link: ${describeError(error).stack}`,
      );
      reply({ op: 'error', of, message: 'the share link could not be stored; see the server log' });
    };
    if (message.kind === 'share-revoke') {
      this.ctx.shares.revoke(message.share, domain).then((revoked) => {
        if (revoked) this.madeLinks?.delete(message.share);
        reply(
          revoked
            ? { op: 'revoked', share: message.share }
            : {
                op: 'error',
                of,
                message: `no share link of this session to revoke: ${UNKNOWN_SHARE}`,
              },
        );
      }, failed);
      return;
    }
    if (this.sharesPending + (this.madeLinks?.size ?? 0) >= MAX_SHARES_PER_PAGE) {
      reply({
        op: 'error',
        of,
        message: `a page makes at most ${MAX_SHARES_PER_PAGE} share links; reuse or revoke one`,
      });
      return;
    }
    this.sharesPending++;
    const target = {
      analysis: this.kernel.name,
      id: domain,
      classDomain: this.classDomain ?? this.kernel.className ?? this.kernel.name,
    };
    this.ctx.shares.create(target, message.expiresMs, this.owner).then(
      ({ share, expires }) => {
        this.ctx.logger.info(
          `[${this.kernel.name} ${shortId(id)}] made a read-only share link (expires ${new Date(expires).toISOString()})`,
        );
        this.sharesPending--;
        (this.madeLinks ??= new Set()).add(share);
        reply({ op: 'created', share, expires });
      },
      (error: unknown) => {
        this.sharesPending--;
        failed(error);
      },
    );
  }

  /** The page opened a share link: once it resolves, the owner's data, then its changes. */
  private startView(share: string): void {
    this.viewing = true;
    this.openView(share).catch((error: unknown) => {
      this.ctx.logger.error(
        `[${this.kernel.name}] reading a share link failed: ${describeError(error).stack}`,
      );
      // the storage failed, not the link: the page tries again (1011 reconnects)
      if (!this.ended) this.fail('the share link could not be read; retrying', 1011, 'share link');
    });
  }

  private async openView(share: string): Promise<void> {
    const found = await this.ctx.shares.open(share, this.kernel.name);
    if (found === undefined) {
      this.refuseView(UNKNOWN_SHARE);
      return;
    }
    const account = this.ended ? undefined : this.ctx.viewer(found.target.id);
    if (account === undefined) {
      closeShareStore(found.store);
      if (!this.ended) {
        // 1013 (try again later): the page reconnects with backoff
        this.fail(
          'this shared page has as many viewers as it may; retrying',
          1013,
          'too many viewers',
        );
      }
      return;
    }
    this.releaseViewer = () => account.release();
    this.out.useBudget(account.budget);
    const view = new ShareView(
      found.target,
      found.expires,
      found.store,
      this.ctx.datastore,
      this.owner,
    );
    this.view = view;
    await view.ready;
    if (this.ended) return;
    const reply: ConnectReply = {
      // a viewer never learns the owner's id (it would resume, and act in, the session)
      analysis_id: '',
      databench_backend_version: this.ctx.backendVersion,
      analyses_version: this.ctx.analysesVersion(),
      max_frame_bytes: this.ctx.maxFrameBytes,
      view: true,
    };
    void this.out.frame(frameFromEncoded(PROTOCOL.connectSignal, encodeValue(reply)));
    this.replied = true;
    for (const frame of view.start(this)) {
      if (frame.length > this.ctx.limits.hardBufferBytes) {
        this.fail(
          "the shared page holds more than this page can receive at once (the server's sendBufferHardBytes)",
          1011,
          'a value too large for the page',
        );
        return;
      }
      void this.out.frame(frame);
    }
    this.ctx.logger.info(`[${this.kernel.name}] a page opened a read-only share link`);
  }

  /** A viewer's link does not open (or no longer does): an `error`, then a close it does not reconnect after. */
  private refuseView(reason: string): void {
    if (this.ended) return;
    this.tell('error', reason);
    this.close(PROTOCOL.shareEndedCode, reason);
  }

  /** @internal ViewerPage: a change of the owner's `data` or `classData`, encoded once for every viewer. */
  viewChange(signal: 'data' | 'class_data', change: Change): void {
    void this.change(signal, change, true);
  }

  /** @internal ViewerPage: the link was revoked or expired. */
  viewEnded(reason: string): void {
    this.ctx.logger.info(`[${this.kernel.name}] closing a read-only view: ${reason}`);
    this.refuseView(reason);
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
    this.classDomain = this.ctx.entry(this.kernel.name)?.classDomain;
    this.dataDomain = sessionDataDomain(this.id, this.user);
    this.userDomain = userDataDomain(this.user, this.kernel.name, this.dataDomain);
    this.kernelSession = this.kernel.open(this, {
      id: this.id,
      resumed: resume !== undefined,
      requestArgs: message.requestArgs,
      cliArgs: this.ctx.cliArgs,
      owner: this.owner,
      errorDetails: this.ctx.errorDetails,
      // a frame past this bound closes the page (outbound): a larger value can never reach it
      maxValueBytes: this.ctx.limits.hardBufferBytes,
      datastore: this.ctx.datastore,
      user: this.user,
      deltas: message.deltas,
      classDomain: this.classDomain,
      dataDomain: this.dataDomain,
      userDomain: this.userDomain,
    });
  }

  /**
   * PagePort: the instance exists; the `__connect` reply precedes every
   * frame of the kernel. The analysis's type errors, if any, follow it.
   */
  opened(): void {
    const entry = this.ctx.entry(this.kernel.name);
    const reply: ConnectReply = {
      analysis_id: this.id ?? '',
      databench_backend_version: this.ctx.backendVersion,
      analyses_version: this.ctx.analysesVersion(),
      max_frame_bytes: this.ctx.maxFrameBytes,
    };
    if (entry?.resumeOnReload === false) reply.resume_on_reload = false;
    void this.out.frame(frameFromEncoded(PROTOCOL.connectSignal, encodeValue(reply)));
    this.replied = true;
    if (entry?.typeErrors !== undefined) {
      const load: TypeErrorsLoad = { analysis: this.kernel.name, text: entry.typeErrors };
      void this.out.frame(frameFromEncoded(PROTOCOL.typeErrorsSignal, encodeValue(load)));
    }
  }

  /** PagePort: a frame already encoded. */
  frame(bytes: string | Buffer): Promise<void> {
    return this.out.frame(bytes);
  }

  /** PagePort: a frame encoded by a kernel in another thread or process. */
  forward(bytes: Buffer, coalesce: string | undefined, whole?: WholeValues): void {
    if (coalesce === undefined) void this.out.frame(bytes);
    else if (bytes.length > this.ctx.limits.hardBufferBytes) {
      // a datastore change: `signal\0key`
      const cut = coalesce.indexOf('\0');
      this.tooLarge(coalesce.slice(0, cut), coalesce.slice(cut + 1), bytes.length);
    } else this.out.keyed(coalesce, bytes, whole);
  }

  /**
   * A datastore value larger than the page can receive: it never gets it,
   * and is told which key (rather than closed later as a page that reads
   * too slowly). It reconnects; its connect fails the same way until the
   * value is smaller.
   */
  private tooLarge(signal: string, key: string, bytes: number): void {
    // told once: a page that is closing gets nothing more
    if (this.ws.readyState !== this.ws.OPEN) return;
    const text = `analysis "${this.kernel.name}": its ${signal} key "${key}" now holds ${bytes} bytes or more, more than a page can receive (${this.ctx.limits.hardBufferBytes}, the server's sendBufferHardBytes); store less under one key`;
    this.ctx.logger.error(`[${this.kernel.name} ${shortId(this.id)}] ${text}`);
    this.fail(text, 1011, 'a value too large for the page');
  }

  /** PagePort: an action finished. */
  done(): void {
    this.queued--;
    this.queuedBytes -= this.queuedSizes?.shift() ?? 0;
    if (this.queued === 0) {
      this.queuedBytes -= this.cancelBytes;
      this.cancelBytes = 0;
    }
    if (this.ws.isPaused && this.queuedBytes <= this.ctx.limits.pauseQueuedBytes / 2) {
      this.ws.resume();
    }
  }

  /** PagePort: the kernel cannot serve this page. */
  fail(message: string, code: number, reason: string): void {
    this.tell('error', message);
    this.close(code, reason);
  }

  /** @internal The page answered a ping (ws's 'pong' event). */
  answered(): void {
    this.alive = true;
  }

  /**
   * Called by the server's ping loop before each ping: false when the page
   * neither answered the last ping nor sent a frame since then.
   */
  heartbeat(): boolean {
    // a paused socket is not read, pongs included: its page is waited for, not dead
    if (this.ws.isPaused) return true;
    const alive = this.alive;
    this.alive = false;
    return alive;
  }

  /** @internal The page reads too slowly: past the hard bound, close. */
  overflow(bytes: number): void {
    this.ctx.logger.warn(
      `[${this.kernel.name} ${shortId(this.id)}] closing a session whose page reads too slowly (${bytes} bytes pending)`,
    );
    this.closeSlow('send buffer over limit: the page reads too slowly');
  }

  /** @internal The server-wide outbound budget is spent: the slowest pages go first. */
  closeOverBudget(limit: number): void {
    if (this.closedSlow) {
      // told already, and its socket still holds that much: the budget needs it back now
      this.ctx.logger.debug(
        `[${this.kernel.name} ${shortId(this.id)}] cutting off a slow page that has not read its close frame`,
      );
      this.ws.terminate();
      return;
    }
    this.ctx.logger.warn(
      `[${this.kernel.name} ${shortId(this.id)}] closing a slow page: all slow pages together hold more than ${limit} bytes`,
    );
    this.closeSlow('server send budget exceeded: the page reads too slowly');
  }

  /**
   * Close a page that reads too slowly (1008): what is queued for it is
   * dropped, and what its socket already holds keeps counting against the
   * server-wide budget until the page has gone (the budget cuts it off if it
   * needs those bytes back before the page read its close frame).
   */
  private closeSlow(reason: string): void {
    this.close(1008, reason);
    if (this.closedSlow || this.ended) return;
    this.closedSlow = true;
    this.out.closedSlow();
  }

  /**
   * @internal The page sent a frame larger than `maxFrameBytes`: ws closes
   * the socket with 1009 (the page's client names the limit); the log says
   * it here, where the limit can be raised.
   */
  tooBig(): void {
    this.logPage(
      `a frame from the page is larger than the ${this.ctx.maxFrameBytes} bytes the server reads: closed its socket (1009); raise the limit with --max-frame-bytes (maxFrameBytes), or send less at once`,
    );
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
      frameFromEncoded(signal, message === undefined ? undefined : encodeLoad(signal, message)),
    );
  }

  /**
   * PageSink: a datastore change, `class_data` and `user_data` encoded once for
   * every page (`shared`: also `data`, for the viewers of a share link).
   */
  change(signal: StoreSignal, change: Change, shared = signal !== 'data'): Promise<void> {
    // what goes out, a delta or the whole value (its length in characters: a
    // lower bound of its bytes); a delta's value is not encoded here, so that
    // many patches of a large value to a page that takes deltas encode it
    // once, not once a patch (a coalesced whole value is checked when it goes)
    const sent = (this.deltas ? change.delta?.encoded : undefined) ?? change.encoded;
    if (sent !== undefined && sent.length > this.ctx.limits.hardBufferBytes) {
      this.tooLarge(signal, change.key, sent.length);
      return RESOLVED;
    }
    return this.out.change(signal, change, shared ? sharedFrame(signal, change) : undefined);
  }

  /**
   * Close the socket with a code and reason; `disconnected` runs when it has
   * closed. A page that does not answer the close handshake within 2 s is
   * cut off.
   */
  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      // the error frame that explains the close goes out first
      this.out.sendNow();
      this.ws.close(code, reason);
      setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
    }
    this.out.close();
  }

  /** @internal The socket closed: the kernel runs `disconnected` and releases the instance. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.out.close();
    // a failed upload: nothing of it is kept
    this.uploads?.clear();
    this.view?.close();
    this.releaseViewer?.();
    const kernelSession = this.kernelSession;
    if (!kernelSession) {
      this.ctx.onEnded(this);
      return;
    }
    void kernelSession.close().finally(() => this.ctx.onEnded(this));
  }
}
