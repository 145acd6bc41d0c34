import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Kernel } from '../kernel/kernel.js';
import { sessionDataDomain, type AuthUser } from '../analysis/user.js';
import type { App } from '../app/app.js';
import type { Logger } from '../util/logger.js';
import type { DatastoreBackend } from '../datastore/backend.js';
import { getDefaultBackend } from '../datastore/default-backend.js';
import { BothBudgets, OutboundBudget } from './outbound.js';
import { MAX_VIEWERS_PER_SESSION } from './share.js';
import { Session, type SessionContext } from './session.js';
import { PROTOCOL } from '../protocol/messages.js';

/**
 * The open sessions of one server: creates them, pings them, restarts the
 * ones whose analysis was reloaded, and closes them all at shutdown.
 */
export class SessionRegistry {
  readonly sessions = new Set<Session>();
  readonly budget: OutboundBudget;
  private readonly ctx: SessionContext;
  /** The open session of each analysis id: a resume closes the older socket. */
  private readonly byId = new Map<string, Session>();
  /** Sessions taken over, with who waits for their end. */
  private readonly handovers = new Map<Session, () => void>();
  private readonly emptied = new Set<() => void>();
  private readonly pinger: ReturnType<typeof setInterval>;
  /** Stops listening for resumes on other processes (a shared backend's takeovers). */
  private readonly stopTakeOvers: (() => void) | undefined;
  /**
   * The viewers of each shared session in this process: how many, and the
   * budget their slow bytes share (`sendBufferViewersBytes`: by default as
   * much as one page may hold), so that many slow viewers of one page
   * cannot hold more.
   */
  private readonly viewers = new Map<string, { count: number; budget: OutboundBudget }>();

  constructor(
    ctx: Omit<SessionContext, 'onEnded' | 'budget' | 'claim' | 'issued' | 'viewer'>,
    private readonly logger: Logger,
    pingIntervalMs: number,
  ) {
    this.budget = new OutboundBudget(ctx.limits.totalBufferBytes);
    this.ctx = {
      ...ctx,
      budget: this.budget,
      claim: (id, session) => this.claim(id, session),
      issued: (id, session) => void this.byId.set(id, session),
      viewer: (id) => this.viewer(id),
      onEnded: (session) => {
        this.sessions.delete(session);
        if (session.id !== undefined && this.byId.get(session.id) === session) {
          this.byId.delete(session.id);
        }
        const handover = this.handovers.get(session);
        if (handover) {
          this.handovers.delete(session);
          handover();
        }
        if (this.sessions.size === 0) for (const resolve of this.emptied) resolve();
      },
    };
    this.pinger = setInterval(() => this.ping(), pingIntervalMs);
    this.pinger.unref();
    // a page of another process resumed a session open here: this page closes, as for a resume here
    this.stopTakeOvers = this.backend.onTakeOver?.((domain) => this.handOver(domain));
  }

  private get backend(): DatastoreBackend {
    return this.ctx.datastore ?? getDefaultBackend();
  }

  /**
   * Close the session whose `data` domain is `domain` (if one is open here)
   * with 4001; resolves when it has ended. The domain names the session's
   * user too: another user's resume of the same id closes nothing.
   */
  private handOver(domain: string): Promise<void> {
    // the id is the domain's first 36 characters (see sessionDataDomain)
    const id = domain.slice(0, 36);
    const old = this.byId.get(id);
    if (old === undefined || sessionDataDomain(id, old.user) !== domain) return Promise.resolve();
    this.byId.delete(id);
    const ended = new Promise<void>((resolve) => this.handovers.set(old, resolve));
    old.takenOver();
    return ended;
  }

  /**
   * A page resumes `id`: an open session on it is taken over (closed, and
   * awaited until `disconnected` ran), then the id resumes if the server
   * holds its data; an id it never issued starts fresh. A session is
   * resumed only by the user who opened it (nobody, when nobody signed in):
   * anyone else starts fresh and leaves the session's page open.
   */
  private async claim(id: string, session: Session): Promise<boolean> {
    const old = this.byId.get(id);
    if (old !== undefined && old !== session && old.user?.id !== session.user?.id) return false;
    this.byId.set(id, session);
    // an id open in another session was issued here, whether its data is empty or not
    if (old !== undefined && old !== session) {
      const ended = new Promise<void>((resolve) => this.handovers.set(old, resolve));
      old.takenOver();
      await ended;
    }
    const backend = this.backend;
    // its data is bound to its user: another user's resume finds none (and takes nothing over)
    const domain = sessionDataDomain(id, session.user);
    // not open here: a process sharing the backend may have it open (it closes its page first)
    if (old === undefined && backend.takeOver !== undefined) await backend.takeOver(domain);
    const known = old !== undefined || backend.has === undefined ? true : await backend.has(domain);
    if (!known && this.byId.get(id) === session) this.byId.delete(id);
    return known;
  }

  /** A viewer of the session `id` joins (see {@link SessionContext.viewer}). */
  private viewer(id: string): ReturnType<SessionContext['viewer']> {
    let entry = this.viewers.get(id);
    if (entry === undefined) {
      entry = { count: 0, budget: new OutboundBudget(this.ctx.limits.viewersBufferBytes) };
      this.viewers.set(id, entry);
    } else if (entry.count >= MAX_VIEWERS_PER_SESSION) {
      return undefined;
    }
    entry.count++;
    const joined = entry;
    let released = false;
    return {
      budget: new BothBudgets(joined.budget, this.budget),
      release: () => {
        if (released) return;
        released = true;
        if (--joined.count > 0) return;
        joined.budget.dispose();
        if (this.viewers.get(id) === joined) this.viewers.delete(id);
      },
    };
  }

  /** A socket passed the upgrade gate; `raw` is its upgrade request's socket (`req.socket`). */
  add(ws: WebSocket, kernel: Kernel, owner: string, raw: Socket, user?: AuthUser): void {
    this.sessions.add(new Session(ws, kernel, this.ctx, owner, raw, user));
  }

  private ping(): void {
    for (const session of this.sessions) {
      if (!session.heartbeat()) {
        this.logger.debug(`[${session.kernel.name}] peer did not answer a ping: closing`);
        session.ws.terminate();
        continue;
      }
      session.ws.ping();
    }
  }

  /**
   * After a reload: pages whose kernel was replaced close with 1012 and
   * reconnect to the new one; so do pages whose analysis's `classData`
   * domain changed (another analysis with a class of the same name came or
   * went), so that all its pages share one again.
   */
  restartReplaced(next: App): number {
    let closed = 0;
    for (const session of this.sessions) {
      const entry = next.entries.get(session.kernel.name);
      if (
        entry?.kernel !== session.kernel ||
        // (a page that has not sent __connect yet opens on the new domain)
        (session.id !== undefined && entry.classDomain !== session.classDomain)
      ) {
        session.close(PROTOCOL.serviceRestartCode, 'analysis reloaded');
        closed++;
      }
    }
    return closed;
  }

  /**
   * Send an encoded frame to every open page of the analysis `name` (a load
   * error, type errors) that has had its `__connect` reply; returns how many.
   */
  broadcast(name: string, frame: string): number {
    let sent = 0;
    for (const session of this.sessions) {
      if (session.kernel.name !== name || !session.replied) continue;
      void session.frame(frame);
      sent++;
    }
    return sent;
  }

  /**
   * Close every socket with 1001; resolves when every session has ended
   * (`disconnected` ran in its kernel) or after `timeoutMs`, when the rest
   * are terminated.
   */
  async closeAll(timeoutMs: number): Promise<void> {
    clearInterval(this.pinger);
    this.stopTakeOvers?.();
    const allEnded =
      this.sessions.size === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => this.emptied.add(resolve));
    for (const session of this.sessions) session.close(1001, 'server shutting down');
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([allEnded, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    for (const session of this.sessions) session.ws.terminate();
    this.budget.dispose();
  }
}
