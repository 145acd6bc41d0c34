import type { Logger } from '../server/logger.js';
import type { ExtraRoute } from '../server/meta.js';
import { describeError } from '../protocol/errors.js';
import type { Kernel, KernelSession, OpenRequest, PagePort } from './kernel.js';
import type { RemoteLink } from './remote.js';

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
  /** End it; resolves when it has gone. */
  end(): Promise<void>;
}

/** What every pool is told. */
export interface PoolOptions {
  name: string;
  routes: ExtraRoute[];
  logger: Logger;
  /** Members at most. */
  size: number;
  /** An idle member is ended after this long. Default: 60000. */
  idleMs?: number | undefined;
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
  readonly name: string;
  readonly size: number;
  readonly idleMs: number;
  retired = false;
  protected started = false;
  protected readonly members: M[] = [];

  constructor(protected readonly pool: PoolOptions) {
    this.name = pool.name;
    this.size = Math.max(1, pool.size);
    this.idleMs = pool.idleMs ?? 60_000;
  }

  /** A new member (not yet in the list). */
  protected abstract createMember(): M;

  /** What a member is called in logs ("a worker thread", "a Python kernel process"). */
  protected abstract readonly memberName: string;

  /** Start the first member; rejects with the load error (file and line) when the module does not load. */
  protected async startFirst(): Promise<void> {
    const first = this.spawn();
    try {
      await first.ready;
    } catch (error) {
      await first.end();
      throw error;
    }
    this.started = true;
  }

  get extraRoutes(): readonly ExtraRoute[] {
    return this.pool.routes;
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
  removed(member: M): void {
    const i = this.members.indexOf(member);
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
