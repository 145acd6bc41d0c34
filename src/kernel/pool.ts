import type { Logger } from '../util/logger.js';
import type { ExtraRoute } from '../analysis/routes.js';
import { DatabenchError, describeError } from '../protocol/errors.js';
import type { Kernel, KernelSession, OpenRequest, PagePort } from './kernel.js';
import type { HostMessage, KernelMessage, LogOp } from './messages.js';
import { RemoteLink } from './remote.js';

/** One member of a pool: a worker thread or a kernel process, with the host's link to it. */
export interface PoolMember {
  readonly link: RemoteLink;
  /** Resolves when the analysis module loaded; rejects with the load error. */
  readonly ready: Promise<void>;
  readonly ended: boolean;
  /** Being ended on purpose (idle, retired, shutdown). */
  readonly ending: boolean;
  /** A session is placed on it: an idle timer stops. */
  used(): void;
  /** Its module loaded at the pool's start: with no session, its idle timer starts. */
  loaded(): void;
  /** End it; resolves when it has gone. */
  end(): Promise<void>;
}

/** How long the `data` of a page whose kernel died waits for the page to resume. */
const DATA_RETENTION_MS = 60 * 60 * 1000;

/**
 * What a worker thread and a kernel process share: the host's link, the
 * `ready` of the module load, the kernel's messages, the idle timer, and
 * what happens when it has gone. A subclass starts the transport and ends it.
 */
export abstract class RemoteMember implements PoolMember {
  readonly link: RemoteLink;
  readonly ready: Promise<void>;
  ended = false;
  /** Set when we end it on purpose (idle, retired, shutdown): not a death. */
  ending = false;
  /** Why it stopped or failed to load, when known before it exits. */
  protected cause: string | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private resolveReady!: () => void;
  private rejectReady!: (error: Error) => void;

  constructor(protected readonly pool: KernelPool<RemoteMember>) {
    this.link = new RemoteLink(
      (m) => this.send(m),
      pool.logger,
      pool.name,
      () => this.released(),
      (level, text) => this.log(level, text),
    );
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // an awaited-later rejection must not count as unhandled
    this.ready.catch(() => undefined);
  }

  /** One message from the kernel. */
  protected receive(message: KernelMessage): void {
    switch (message.t) {
      case 'batch':
        this.link.receive(message);
        return;
      case 'ready':
        // the first member's module names the class (a later one loads the same file)
        this.pool.className ??= message.className;
        this.resolveReady();
        return;
      case 'load-error':
        this.cause = message.message;
        this.rejectReady(new DatabenchError('KERNEL_START', message.message));
        return;
      default: {
        const never: never = message;
        throw new Error(`unknown kernel message ${JSON.stringify(never)}`);
      }
    }
  }

  /** The kernel has gone: its pages get an error and reconnect; a death is logged. */
  protected gone(cause: string): void {
    this.ended = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const why = this.cause ?? cause;
    this.rejectReady(new DatabenchError('KERNEL_START', why));
    if (!this.ending || this.link.sessions.size > 0) {
      this.pool.logger.error(
        `[${this.pool.name}] ${this.pool.memberName} stopped: ${why}; ${this.link.sessions.size} session(s) on it end and reconnect`,
      );
    }
    this.link.died(why, this.pool.dataRetentionMs);
    this.pool.removed(this);
  }

  /** A session on it was released: end it when retired or stuck, else after being idle. */
  private released(): void {
    if (this.link.sessions.size > 0 || this.ended) return;
    if (this.pool.retired || this.link.stuck) {
      void this.end();
      return;
    }
    // a pool that keeps one member ready does not end its last
    if (this.pool.keepsOne && this.pool.live <= 1) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.link.sessions.size === 0 && !(this.pool.keepsOne && this.pool.live <= 1)) {
        void this.end();
      }
    }, this.pool.idleMs);
    this.idleTimer.unref();
  }

  /** Started for the load: with no session placed on it, it ends after being idle, like any member. */
  loaded(): void {
    this.released();
  }

  /** A session is placed on it. */
  used(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** A log line of the kernel (its `log` op). Default: to the pool's logger, as it is. */
  protected log(level: LogOp['level'], text: string): void {
    this.pool.logger[level](text);
  }

  /** Send one message to the kernel (called once the subclass has its transport). */
  protected abstract send(message: HostMessage): void;

  abstract end(): Promise<void>;
}

/** What every pool is told (the options of a worker kernel and a Python kernel share these). */
export interface PoolOptions {
  /** The analysis name. */
  name: string;
  /** Its source (analysis.ts, analysis.py): load errors are found in its folder. */
  file: string;
  /** `routes.ts` routes, served by the server. */
  routes: ExtraRoute[];
  cliArgs: string[];
  logger: Logger;
  /** An idle member is ended after this long. Default: 60000. */
  idleMs?: number;
  /** How long the `data` of a page whose member died waits for the page to resume. Default: one hour. */
  dataRetentionMs?: number;
}

/**
 * A pool of remote kernels of one analysis (worker threads, Python
 * processes): while a member is free, a new session gets one of its own;
 * past the pool size, sessions share the least busy member (fewest busy
 * sessions, then fewest sessions). Members start when sessions need them,
 * the first one at load (its load error is the analysis's). A member stuck
 * in a handler takes no new session.
 */
export abstract class KernelPool<M extends PoolMember> implements Kernel {
  abstract readonly kind: string;
  /** Whether the last idle member stays (a process pool keeps one warm). */
  readonly keepsOne: boolean = false;
  readonly name: string;
  readonly size: number;
  readonly idleMs: number;
  /** How long the `data` of a page whose member died waits for the page to resume. */
  readonly dataRetentionMs: number;
  retired = false;
  /** The analysis class's name, as its first member reported it once loaded. */
  className: string | undefined = undefined;
  protected started = false;
  protected readonly members: M[] = [];

  /** `size`: members at most. */
  constructor(
    protected readonly pool: PoolOptions,
    size: number,
  ) {
    this.name = pool.name;
    this.size = Math.max(1, size);
    this.idleMs = pool.idleMs ?? 60_000;
    this.dataRetentionMs = pool.dataRetentionMs ?? DATA_RETENTION_MS;
  }

  /** A new member (not yet in the list). */
  protected abstract createMember(): M;

  /** What a member is called in logs ("a worker thread", "a Python kernel process"). */
  abstract readonly memberName: string;

  /**
   * Start the first member; rejects with the load error (file and line)
   * when the module does not load, or when it has not loaded within
   * `timeoutMs` (then the member is ended: a load that waits forever, on
   * the network or a lock, must not hold its process).
   */
  protected async startFirst(timeoutMs?: number, timeoutMessage?: string): Promise<void> {
    const first = this.spawn();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await (timeoutMs === undefined
        ? first.ready
        : Promise.race([
            first.ready,
            new Promise<never>((_, reject) => {
              timer = setTimeout(
                () =>
                  reject(new DatabenchError('KERNEL_START', timeoutMessage ?? 'load timed out')),
                timeoutMs,
              );
            }),
          ]));
    } catch (error) {
      await first.end();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    this.started = true;
    first.loaded();
  }

  get extraRoutes(): readonly ExtraRoute[] {
    return this.pool.routes;
  }

  get logger(): Logger {
    return this.pool.logger;
  }

  /** Members not being ended. */
  get live(): number {
    return this.members.filter((m) => !m.ended && !m.ending).length;
  }

  protected spawn(): M {
    const member = this.createMember();
    this.members.push(member);
    member.ready.catch((error: unknown) => {
      // the first member's load error is the analysis's load error, reported by the loader
      if (member.ending || !this.started) return;
      // one that cannot load the module (changed on disk since): its pages get the error
      this.pool.logger.error(
        `[${this.name}] ${this.memberName} failed to start: ${describeError(error).message}`,
      );
    });
    return member;
  }

  /** @internal A member has gone. */
  removed(member: PoolMember): void {
    const i = this.members.indexOf(member as M);
    if (i >= 0) this.members.splice(i, 1);
  }

  private pick(): M {
    let best: M | undefined;
    let live = 0;
    for (const member of this.members) {
      if (member.ended || member.ending || member.link.stuck) continue;
      live++;
      if (member.link.sessions.size === 0) return member;
      if (
        !best ||
        member.link.busy < best.link.busy ||
        (member.link.busy === best.link.busy && member.link.sessions.size < best.link.sessions.size)
      ) {
        best = member;
      }
    }
    if (live < this.size || !best) return this.spawn();
    return best;
  }

  open(port: PagePort, request: OpenRequest): KernelSession {
    const member = this.pick();
    member.used();
    return member.link.open(port, request);
  }

  retire(): void {
    this.retired = true;
    for (const member of [...this.members]) {
      if (member.link.sessions.size === 0) void member.end();
    }
  }

  async dispose(): Promise<void> {
    this.retired = true;
    await Promise.all([...this.members].map((m) => m.end()));
  }
}
