// A small real server for the client's tests: HTTP for test pages and a `ws`
// WebSocketServer that speaks docs/reference/protocol.md's handshake (`__connect` and its
// reply). What happens on actions is up to each test (`onAction`); every
// frame a client sends is recorded and can be awaited.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { parseClientMessage, type ActionMessage, type ClientMessage } from '../protocol/index.js';

/** One frame a client sent. */
export interface Received {
  readonly socket: WebSocket;
  readonly raw: string;
  readonly message: ClientMessage;
}

/** What `onAction` gets. */
export interface ActionContext {
  readonly socket: WebSocket;
  readonly message: ActionMessage;
  readonly send: (signal: string, load?: unknown) => void;
}

export interface ProtocolServerOptions {
  /** Default: 0 (a free port). */
  port?: number;
  /** Sent as `analyses_version`. Default: '1'. */
  analysesVersion?: string;
  /** Static pages: path → [content type, body]. */
  pages?: Record<string, readonly [string, string]>;
  /** Sent as `max_frame_bytes` of the reply when given. Default: none (as a 0.7 server). */
  maxFrameBytes?: number;
}

export interface ProtocolServer {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly httpUrl: string;
  /** `ws://127.0.0.1:<port><path>` */
  wsUrl(path?: string): string;
  analysesVersion: string;
  readonly sockets: ReadonlySet<WebSocket>;
  /** The request path of every WebSocket connection, in order. */
  readonly socketPaths: string[];
  readonly received: Received[];
  /** Called for every action frame (after the handshake). */
  onAction: (context: ActionContext) => void;
  /** The next recorded frame (not yet taken) that matches; rejects after `timeoutMs`. */
  take(what: string, match: (r: Received) => boolean, timeoutMs?: number): Promise<Received>;
  /** Take the next action frame with this signal. */
  takeAction(signal: string, timeoutMs?: number): Promise<Received & { message: ActionMessage }>;
  /** Take the next `__connect` frame. */
  takeConnect(
    timeoutMs?: number,
  ): Promise<Received & { message: Extract<ClientMessage, { kind: 'connect' }> }>;
  /** Send one frame to every socket. */
  broadcast(signal: string, load?: unknown): void;
  /** Send raw text to every socket. */
  broadcastRaw(text: string): void;
  /** Drop every socket (no close handshake) and stop listening. */
  close(): Promise<void>;
}

function frame(signal: string, load?: unknown): string {
  return JSON.stringify(load === undefined ? { signal } : { signal, load });
}

/** Start a server; by default on a free port. */
export async function startProtocolServer(
  options: ProtocolServerOptions = {},
): Promise<ProtocolServer> {
  const pages = options.pages ?? {};
  const http: Server = createServer((req, res) => {
    const page = pages[new URL(req.url ?? '/', 'http://x').pathname];
    if (!page) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': page[0] }).end(page[1]);
  });
  const wss = new WebSocketServer({ server: http });
  const sockets = new Set<WebSocket>();
  const socketPaths: string[] = [];
  const received: Received[] = [];
  const taken = new WeakSet<Received>();
  const waiters = new Set<{ match: (r: Received) => boolean; resolve: (r: Received) => void }>();
  let nextId = 1;

  const server: ProtocolServer = {
    port: 0,
    httpUrl: '',
    wsUrl: (path = '/ws') => `ws://127.0.0.1:${server.port}${path}`,
    analysesVersion: options.analysesVersion ?? '1',
    sockets,
    socketPaths,
    received,
    onAction: () => undefined,
    take(what, match, timeoutMs = 5000) {
      const found = received.find((r) => !taken.has(r) && match(r));
      if (found) {
        taken.add(found);
        return Promise.resolve(found);
      }
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (r: Received) => {
            clearTimeout(timer);
            resolve(r);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          const got = received.map((r) => r.raw).join('\n  ');
          reject(
            new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received:\n  ${got}`),
          );
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    takeAction(signal, timeoutMs) {
      return server.take(
        `action "${signal}"`,
        (r) => r.message.kind === 'action' && r.message.signal === signal,
        timeoutMs,
      ) as Promise<Received & { message: ActionMessage }>;
    },
    takeConnect(timeoutMs) {
      return server.take('__connect', (r) => r.message.kind === 'connect', timeoutMs) as Promise<
        Received & { message: Extract<ClientMessage, { kind: 'connect' }> }
      >;
    },
    broadcast(signal, load) {
      server.broadcastRaw(frame(signal, load));
    },
    broadcastRaw(text) {
      for (const socket of sockets) socket.send(text);
    },
    async close() {
      for (const socket of sockets) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      // idle keep-alive connections (a page's fetch) would hold close() open
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
      await closed;
    },
  };

  wss.on('connection', (socket, request) => {
    sockets.add(socket);
    socketPaths.push(request.url ?? '');
    socket.on('close', () => sockets.delete(socket));
    let connected = false;
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      const bytes = Array.isArray(data)
        ? Buffer.concat(data)
        : data instanceof ArrayBuffer
          ? Buffer.from(data)
          : data;
      const raw = bytes.toString('utf8');
      const message = parseClientMessage(raw);
      const record: Received = { socket, raw, message };
      received.push(record);
      for (const waiter of waiters) {
        if (waiter.match(record)) {
          waiters.delete(waiter);
          taken.add(record);
          waiter.resolve(record);
          break;
        }
      }
      if (message.kind === 'connect') {
        if (connected) return;
        connected = true;
        const id = message.analysisId ?? `analysis-${nextId++}`;
        socket.send(
          frame('__connect', {
            analysis_id: id,
            databench_backend_version: '0.7.0-test',
            analyses_version: server.analysesVersion,
            ...(options.maxFrameBytes !== undefined
              ? { max_frame_bytes: options.maxFrameBytes }
              : {}),
          }),
        );
        return;
      }
      if (!connected || message.kind !== 'action') return;
      server.onAction({
        socket,
        message,
        send: (signal, load) => socket.send(frame(signal, load)),
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  Object.assign(server, { port, httpUrl: `http://127.0.0.1:${port}` });
  return server;
}
