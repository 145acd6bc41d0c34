import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Kernel } from '../kernel/kernel.js';
import type { App } from '../app/app.js';
import type { Logger } from '../util/logger.js';
import { escapeLogText } from '../protocol/log-text.js';
import type { AuthUser } from '../analysis/user.js';
import type { Access, AuthGate } from './auth.js';
import { isLoopbackAddress, isOriginAllowed } from './net.js';

/** The names this machine answers to: its host name, that name's first label, and `<label>.local` (mDNS). */
function machineNames(): string[] {
  const name = hostname().toLowerCase().replace(/\.$/, '');
  if (name === '') return [];
  const label = name.split('.')[0] ?? name;
  return [name, label, `${label}.local`];
}

/** A Host header's name: lower case, without its port, brackets or trailing dot. */
function hostName(header: string): string {
  return header
    .toLowerCase()
    .replace(/:\d*$/, '')
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

/**
 * Protection against DNS rebinding: a page on another site whose name
 * resolves to this server must not be answered. Bound to a loopback address
 * the server answers only requests whose Host names a loopback address (or a
 * host of an `allowOrigins` entry). Bound elsewhere it also answers the
 * machine's own names (`os.hostname()`), the name it was bound to, and any IP
 * literal (an address cannot be rebound; the machine's addresses of
 * `os.networkInterfaces()` are among them). "Loopback" is decided on the
 * address, not its spelling (`::ffff:127.0.0.1` is loopback too).
 */
export function createHostCheck(
  bound: string,
  allowOrigins: ReadonlySet<string>,
): (host?: string) => boolean {
  const loopback = isLoopbackAddress(bound);
  const allowed = new Set<string>();
  for (const origin of allowOrigins) {
    try {
      allowed.add(new URL(origin).hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1'));
    } catch {
      // not a URL: it can only match an Origin header verbatim
    }
  }
  if (!loopback) {
    // bound to a name (`--host box.example`): that name is the server's too
    if (isIP(bound.replace(/^\[(.*)\]$/, '$1')) === 0) allowed.add(hostName(bound));
    for (const name of machineNames()) allowed.add(name);
  }
  // every request of a browser carries the same Host: the last one allowed
  // is remembered, so a connect does not parse it again
  let lastAllowed: string | undefined;
  return (header) => {
    if (header === undefined) return false;
    if (header === lastAllowed) return true;
    const name = hostName(header);
    let ok = isLoopbackAddress(name) || allowed.has(name) || (!loopback && isIP(name) !== 0);
    if (!ok && !loopback) {
      // the machine may have been renamed since the start: only a refusal pays for a look
      const now = machineNames();
      ok = now.includes(name);
      if (ok) for (const n of now) allowed.add(n);
    }
    if (ok) lastAllowed = header;
    return ok;
  };
}

/**
 * What a refused Host is told (the response's text), by the kind of bind:
 * how to open the server instead.
 */
export function hostRefusal(loopback: boolean): string {
  return loopback
    ? 'Host not allowed: open this server as localhost or 127.0.0.1, or pass --host'
    : "Host not allowed: open this server by the machine's name or an address, or pass --allow-origin with the origin of this name";
}

/**
 * A log line for a refused Host: which Host, and the flag that allows it.
 * The header is quoted (escaped) and cut, as it comes from anyone.
 */
export function hostRefusedLine(what: string, host: string | undefined): string {
  const shown = host === undefined ? 'no Host' : `Host ${JSON.stringify(host.slice(0, 200))}`;
  const example = host === undefined ? 'https://NAME' : `https://${host.slice(0, 200)}`;
  return `${what} refused (403): ${shown} is not a name or address of this server (DNS rebinding?); to serve it under that name, pass --allow-origin ${example}`;
}

const ANONYMOUS: Access = Object.freeze({ user: undefined });

/** Shared (no closure per connection): a reset during an upgrade just ends the socket. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** What the gate needs to know of its server. */
export interface UpgradeGateOptions {
  wss: WebSocketServer;
  logger: Logger;
  hostAllowed: (host?: string) => boolean;
  /** A request's Host was refused: logs it (rate-limited); returns what the response says. */
  hostRefused: (host: string | undefined) => string;
  allowOrigins: ReadonlySet<string>;
  /** True once the server shuts down: new sockets get 503. */
  closing: () => boolean;
  /** The current analyses and the one served at `/` (run()). */
  state: () => { app: App; single: string | undefined };
  /** The token and login checks; undefined: none (every socket is anonymous). */
  gate?: AuthGate | undefined;
  /** Whether a user may open an analysis (its `allow` rule, `authorize`). Default: everyone. */
  canOpen?: (
    user: AuthUser | undefined,
    analysis: { name: string; allow: string[] | undefined },
  ) => boolean | Promise<boolean>;
  /** A socket passed every check; `req` is its upgrade request, `access` who sent it. */
  accept: (ws: WebSocket, kernel: Kernel, req: IncomingMessage, access: Access) => void;
}

/**
 * The `upgrade` handler: every check a WebSocket passes before it is
 * accepted (shutdown, Host, path, a loaded analysis, same origin), with a
 * plain HTTP answer for each refusal.
 */
export function createUpgradeGate(
  o: UpgradeGateOptions,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const gate = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Node leaves upgrade sockets without an error listener: a reset must not crash us
    if (!socket.listeners('error').includes(destroyOnError)) socket.on('error', destroyOnError);
    const refuse = (status: number, reason: string, log = true): void => {
      // the path alone: a query may hold a token
      if (log) {
        o.logger.warn(`WebSocket refused (${status} ${reason}): ${(req.url ?? '').split('?')[0]}`);
      }
      socket.end(
        `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`,
      );
    };
    if (o.closing()) return refuse(503, 'server shutting down');
    if (!o.hostAllowed(req.headers.host)) {
      // logged there (rate-limited: anyone can send a foreign Host)
      o.hostRefused(req.headers.host);
      return refuse(403, 'Host not allowed', false);
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const match = /^\/(?:([A-Za-z_][A-Za-z0-9_]*)\/)?ws$/.exec(path);
    const { app, single } = o.state();
    const name = match ? (match[1] ?? single) : undefined;
    const entry = name !== undefined ? app.entries.get(name) : undefined;
    if (!entry) return refuse(404, 'no analysis at this path');
    if (!entry.kernel && entry.loading) {
      // its kernel loads (the server listens meanwhile): this socket waits for it
      const again = (): void => {
        if (!socket.destroyed) gate(req, socket, head);
      };
      void entry.loading.then(again, again);
      return;
    }
    if (!entry.kernel) return refuse(503, `analysis "${entry.name}" failed to load`);
    const origin = req.headers.origin;
    if (!isOriginAllowed(origin, req.headers.host, o.allowOrigins)) {
      // what to do about it goes to the log: the browser shows the page nothing
      const shown = escapeLogText(origin ?? '');
      o.logger.warn(
        `WebSocket from origin "${shown}" refused for ${escapeLogText(req.url ?? '')}: it is not this server's own (Host ${escapeLogText(req.headers.host ?? 'none')}); if pages there may use this server, start it with --allow-origin ${shown} (allowOrigins)`,
      );
      return refuse(403, 'cross-origin WebSocket refused', false);
    }
    const kernel = entry.kernel;
    const upgrade = (access: Access): void => {
      o.wss.handleUpgrade(req, socket, head, (ws) => {
        // ws listens for errors itself from here on
        socket.off('error', destroyOnError);
        o.accept(ws, kernel, req, access);
      });
    };
    const canOpen = o.canOpen;
    // an open server: nothing to ask, no Promise per socket
    if (o.gate === undefined && (canOpen === undefined || canOpen(undefined, entry) === true)) {
      return upgrade(ANONYMOUS);
    }
    // before any analysis code runs: nothing is accepted until the gate says so
    const check = async (): Promise<void> => {
      let access = ANONYMOUS;
      if (o.gate !== undefined) {
        const result = await o.gate.upgrade(req);
        if ('status' in result) return refuse(result.status, result.reason);
        access = result;
      }
      if (canOpen !== undefined && !(await canOpen(access.user, entry))) {
        return refuse(403, `not allowed to open analysis "${entry.name}"`);
      }
      if (o.closing()) return refuse(503, 'server shutting down');
      upgrade(access);
    };
    check().catch((error: unknown) => {
      o.logger.error(`authentication of a WebSocket failed: ${String(error)}`);
      refuse(500, 'authentication failed');
    });
  };
  return gate;
}
