import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Kernel } from '../kernel/kernel.js';
import type { App } from '../app/app.js';
import type { Logger } from '../util/logger.js';
import { isLoopbackAddress, isOriginAllowed } from './net.js';

/**
 * Protection against DNS rebinding: a server bound to a loopback address
 * answers only requests whose Host names a loopback address (or a host of an
 * `allowOrigins` entry). A server bound elsewhere was opened on purpose and
 * takes any Host. "Loopback" is decided on the address, not its spelling
 * (`::ffff:127.0.0.1` is loopback too).
 */
export function createHostCheck(
  bound: string,
  allowOrigins: ReadonlySet<string>,
): (host?: string) => boolean {
  if (!isLoopbackAddress(bound)) return () => true;
  const allowed = new Set<string>();
  for (const origin of allowOrigins) {
    try {
      allowed.add(new URL(origin).hostname.toLowerCase());
    } catch {
      // not a URL: it can only match an Origin header verbatim
    }
  }
  // every request of a browser carries the same Host: the last one allowed
  // is remembered, so a connect does not parse it again
  let lastAllowed: string | undefined;
  return (header) => {
    if (header === undefined) return false;
    if (header === lastAllowed) return true;
    const name = header.toLowerCase().replace(/:\d+$/, '');
    const ok = isLoopbackAddress(name) || allowed.has(name);
    if (ok) lastAllowed = header;
    return ok;
  };
}

/** Shared (no closure per connection): a reset during an upgrade just ends the socket. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** What the gate needs to know of its server. */
export interface UpgradeGateOptions {
  wss: WebSocketServer;
  logger: Logger;
  hostAllowed: (host?: string) => boolean;
  allowOrigins: ReadonlySet<string>;
  /** True once the server shuts down: new sockets get 503. */
  closing: () => boolean;
  /** The current analyses and the one served at `/` (run()). */
  state: () => { app: App; single: string | undefined };
  /** A socket passed every check; `req` is its upgrade request. */
  accept: (ws: WebSocket, kernel: Kernel, req: IncomingMessage) => void;
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
    const refuse = (status: number, reason: string): void => {
      o.logger.warn(`WebSocket refused (${status} ${reason}): ${req.url ?? ''}`);
      socket.end(
        `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`,
      );
    };
    if (o.closing()) return refuse(503, 'server shutting down');
    if (!o.hostAllowed(req.headers.host)) return refuse(403, 'Host not allowed');
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
    if (!isOriginAllowed(req.headers.origin, req.headers.host, o.allowOrigins)) {
      return refuse(403, 'cross-origin WebSocket refused');
    }
    const kernel = entry.kernel;
    o.wss.handleUpgrade(req, socket, head, (ws) => {
      // ws listens for errors itself from here on
      socket.off('error', destroyOnError);
      o.accept(ws, kernel, req);
    });
  };
  return gate;
}
