import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { dirname, join, sep } from 'node:path';
import { WebSocketServer } from 'ws';
import { defaultBackend, type DatastoreBackend } from '../datastore/backend.js';
import { DatabenchError } from '../protocol/errors.js';
import type { AnalysisClass } from './analysis.js';
import { findAnalysesDir, loadApp, PACKAGE_ROOT, renderMarkdown, type App } from './app.js';
import { createRequestHandler, type HttpState } from './http.js';
import { createLogger, type Logger, type LogLevel } from './logger.js';
import { Meta, type ExtraRoute } from './meta.js';
import { Pages } from './pages.js';
import { Session, type SessionContext, type SessionLimits } from './session.js';
import { watchAnalyses } from './watch.js';

/** This package's version (the `databench_backend_version` of the protocol). */
export const DATABENCH_VERSION: string = (
  JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

/** Options of {@link createServer}. Every field is optional. */
export interface ServerOptions {
  /** Interface to bind. Default: `127.0.0.1` (only this machine). */
  host?: string;
  /** Port. Default: 5000; 0 picks a free one (tests). */
  port?: number;
  /** The analyses folder or its index.yaml. Default: found from `cwd` as the CLI does. */
  analyses?: string;
  /** Where `./analyses` and `./node_modules` are looked up. Default: `process.cwd()`. */
  cwd?: string;
  /** Arguments passed to every analysis as `cliArgs`. Default: `[]`. */
  cliArgs?: string[];
  /** Log level of the default logger. Default: `info`. */
  logLevel?: LogLevel;
  /** Logger to use instead of the default one. */
  logger?: Logger;
  /** Origins allowed to open WebSockets besides the page's own host. Default: none. */
  allowOrigins?: string[];
  /** Largest frame a client may send, in bytes. Default: 16 MiB. */
  maxFrameBytes?: number;
  /** A page counts as slow above this many buffered bytes. Default: 1 MiB. */
  sendBufferSoftBytes?: number;
  /** A slow page's socket is closed above this many pending bytes. Default: 64 MiB. */
  sendBufferHardBytes?: number;
  /** Actions queued per session at most. Default: 10000. */
  maxQueuedActions?: number;
  /** Interval of keep-alive pings; a socket that misses one is closed. Default: 15000. */
  pingIntervalMs?: number;
  /** Also serve HTTPS and WSS on this port. Default: none. */
  sslPort?: number;
  /** PEM certificate for HTTPS. Default: a self-signed one generated at start. */
  sslCertFile?: string;
  /** PEM private key for HTTPS. Default: generated with the certificate. */
  sslKeyFile?: string;
  /** Reload analyses when their files change (the CLI turns it on unless --no-watch). Default: false. */
  watch?: boolean;
  /** Re-read templates on every request (on while watching). Default: same as `watch`. */
  noTemplateCache?: boolean;
  /**
   * Where analyses keep `data` and `classData`: a `redis://HOST:PORT/DB` URL
   * (many processes and hosts share it; needs the optional dependency
   * `ioredis`), or a backend object. Default: index.yaml's `datastore`, else
   * in this process's memory.
   */
  datastore?: string | DatastoreBackend;
  /** Called after every reload with the new app (tests, tools). */
  onReload?: (app: App) => void;
  /** @internal Serve a prepared app instead of loading a folder (used by {@link run}). */
  app?: App;
  /** @internal Serve this analysis at `/`. */
  single?: string;
}

/** A running server. */
export interface DatabenchServer {
  /** `http://host:port` */
  url: string;
  /** `https://host:sslPort` when SSL is on. */
  sslUrl: string | undefined;
  httpServer: Server;
  httpsServer: HttpsServer | undefined;
  /** The loaded analyses (replaced when they reload). */
  readonly app: App;
  /** Open sessions. */
  readonly sessions: ReadonlySet<Session>;
  /** The backend of the analyses' `data` and `classData`. */
  readonly datastore: DatastoreBackend;
  /** Close every socket with 1001 after `disconnected` ran for each, then stop listening. */
  close(): Promise<void>;
}

function resolveLimits(o: ServerOptions): SessionLimits {
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    const v = value ?? fallback;
    if (!Number.isFinite(v) || v <= 0) {
      throw new TypeError(`option ${name} must be a positive number, got ${String(value)}`);
    }
    return v;
  };
  return {
    softBufferBytes: positive('sendBufferSoftBytes', o.sendBufferSoftBytes, 1 << 20),
    hardBufferBytes: positive('sendBufferHardBytes', o.sendBufferHardBytes, 64 << 20),
    maxQueuedActions: positive('maxQueuedActions', o.maxQueuedActions, 10_000),
    drainPollMs: 10,
  };
}

function listen(server: Server | HttpsServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Shared (no closure per connection): a reset during an upgrade just ends the socket. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

const LOOPBACK = /^(localhost|[^.]+\.localhost|127(?:\.\d{1,3}){3}|\[::1\]|::1)$/i;

/**
 * Protection against DNS rebinding: a server bound to a loopback address
 * answers only requests whose Host names a loopback address (or a host of an
 * `allowOrigins` entry). A server bound elsewhere was opened on purpose and
 * takes any Host.
 */
function createHostCheck(bound: string, allowOrigins: Set<string>): (host?: string) => boolean {
  if (!LOOPBACK.test(bound)) return () => true;
  const allowed = new Set<string>();
  for (const origin of allowOrigins) {
    try {
      allowed.add(new URL(origin).hostname.toLowerCase());
    } catch {
      // not a URL: it can only match an Origin header verbatim
    }
  }
  return (header) => {
    if (header === undefined) return false;
    const name = header.toLowerCase().replace(/:\d+$/, '');
    return LOOPBACK.test(name) || allowed.has(name);
  };
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

async function sslCredentials(o: ServerOptions): Promise<{ cert: string; key: string }> {
  if (o.sslCertFile && o.sslKeyFile) {
    const [cert, key] = await Promise.all([
      readFile(o.sslCertFile, 'utf8'),
      readFile(o.sslKeyFile, 'utf8'),
    ]);
    return { cert, key };
  }
  if (o.sslCertFile || o.sslKeyFile) {
    throw new TypeError('options sslCertFile and sslKeyFile go together: give both or neither');
  }
  const selfsigned = await import('selfsigned');
  const pems = await selfsigned.generate([{ name: 'commonName', value: o.host ?? 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
  });
  return { cert: pems.cert, key: pems.private };
}

// --- datastore (issue 10): which backend the analyses of this server use ---

/** The resolved datastore of a server: the backend, and whether the server made it (and so disposes it). */
interface ResolvedDatastore {
  backend: DatastoreBackend | undefined;
  owned: boolean;
}

/**
 * A `redis://` URL connects a Redis backend (imported only then); `memory` or
 * nothing is the process-wide memory backend; an object is used as it is.
 */
async function resolveDatastore(
  value: string | DatastoreBackend | undefined,
): Promise<ResolvedDatastore> {
  if (value === undefined || value === 'memory') return { backend: undefined, owned: false };
  if (typeof value === 'object') return { backend: value, owned: false };
  if (/^rediss?:\/\//i.test(value)) {
    const { createRedisBackend } = await import('../datastore/redis.js');
    return { backend: await createRedisBackend(value), owned: true };
  }
  throw new DatabenchError(
    'DATASTORE_URL',
    `datastore "${value}" is not supported: give redis://HOST:PORT/DB, or leave it out to keep data in memory`,
  );
}

/** Tell the pages when the datastore goes away, comes back or gives up a write. */
function reportDatastoreEvents(
  backend: DatastoreBackend,
  sessions: ReadonlySet<Session>,
  logger: Logger,
): (() => void) | undefined {
  return backend.onEvent?.((event) => {
    switch (event.type) {
      case 'down': {
        const text = `the datastore is unreachable (${event.error.message}): changes are kept and sent when it is back`;
        logger.warn(text);
        for (const session of sessions) void session.emit('warn', text);
        return;
      }
      case 'up': {
        const text = 'the datastore is reachable again';
        logger.info(text);
        for (const session of sessions) void session.emit('log', text);
        return;
      }
      case 'write-failed': {
        const text = `the datastore could not store ${event.keys.join(', ')} of "${event.domain}" (${event.error.message}); the values were reloaded from it`;
        logger.error(text);
        for (const session of sessions) {
          const a = session.analysis;
          if (a && (a.data.domain === event.domain || a.classData.domain === event.domain)) {
            void session.emit('error', text);
          }
        }
        return;
      }
      default: {
        const never: never = event;
        throw new Error(`unknown datastore event ${String(never)}`);
      }
    }
  });
}

/**
 * Serve a folder of analyses over HTTP and WebSocket. The CLI, the tests and
 * users embedding databench all start it this way.
 *
 * @example
 * const server = await createServer({ port: 0, analyses: './analyses' });
 * console.log(server.url);
 * await server.close();
 */
export async function createServer(options: ServerOptions = {}): Promise<DatabenchServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 5000;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(
      `option port must be an integer from 0 to 65535, got ${String(options.port)}`,
    );
  }
  const maxFrameBytes = options.maxFrameBytes ?? 16 << 20;
  const limits = resolveLimits(options);
  const logger = options.logger ?? createLogger(options.logLevel ?? 'info');
  const cwd = options.cwd ?? process.cwd();
  const cliArgs = options.cliArgs ?? [];
  const allowOrigins = new Set(options.allowOrigins ?? []);
  const pingIntervalMs = options.pingIntervalMs ?? 15_000;

  let app: App;
  if (options.app) {
    app = options.app;
  } else {
    const found = await findAnalysesDir(cwd, options.analyses);
    app = await loadApp({ ...found, cliArgs, logger });
  }
  let state: HttpState = {
    app,
    pages: new Pages(app, DATABENCH_VERSION, {
      noCache: options.noTemplateCache ?? options.watch ?? false,
    }),
    single: options.single,
  };

  // before anything listens: an unreachable Redis fails the start
  const datastore = await resolveDatastore(options.datastore ?? app.info.datastore);
  const sessions = new Set<Session>();
  const stopReporting = datastore.backend
    ? reportDatastoreEvents(datastore.backend, sessions, logger)
    : undefined;
  const ended = new Set<() => void>();
  const ctx: SessionContext = {
    logger,
    limits,
    cliArgs,
    backendVersion: DATABENCH_VERSION,
    datastore: datastore.backend,
    analysesVersion: () => state.app.version,
    onEnded: (session) => {
      sessions.delete(session);
      if (sessions.size === 0) for (const resolve of ended) resolve();
    },
  };

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxFrameBytes,
    perMessageDeflate: false,
  });
  const hostAllowed = createHostCheck(host, allowOrigins);
  const pages = createRequestHandler(() => state, logger, cwd);
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (!hostAllowed(req.headers.host)) {
      // a page on another site that rebound its name to 127.0.0.1
      res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Host not allowed: open this server as localhost or 127.0.0.1, or pass --host\n');
      return;
    }
    pages(req, res);
  };

  let closing: Promise<void> | undefined;
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Node leaves upgrade sockets without an error listener: a reset must not crash us
    socket.on('error', destroyOnError);
    const refuse = (status: number, reason: string): void => {
      logger.warn(`WebSocket refused (${status} ${reason}): ${req.url ?? ''}`);
      socket.end(
        `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`,
      );
    };
    if (closing) return refuse(503, 'server shutting down');
    if (!hostAllowed(req.headers.host)) return refuse(403, 'Host not allowed');
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const match = /^\/(?:([A-Za-z_][A-Za-z0-9_]*)\/)?ws$/.exec(path);
    const name = match ? (match[1] ?? state.single) : undefined;
    const entry = name !== undefined ? state.app.entries.get(name) : undefined;
    if (!entry) return refuse(404, 'no analysis at this path');
    if (!entry.meta) return refuse(503, `analysis "${entry.name}" failed to load`);
    const origin = req.headers.origin;
    if (origin !== undefined && !allowOrigins.has(origin)) {
      let originHost: string | undefined;
      try {
        originHost = new URL(origin).host;
      } catch {
        originHost = undefined;
      }
      if (originHost === undefined || originHost !== req.headers.host?.toLowerCase()) {
        return refuse(403, 'cross-origin WebSocket refused');
      }
    }
    const meta = entry.meta;
    wss.handleUpgrade(req, socket, head, (ws) => {
      // ws listens for errors itself from here on
      socket.off('error', destroyOnError);
      sessions.add(new Session(ws, meta, ctx));
    });
  };

  // certificates first: a bad file must fail before anything listens
  const creds = options.sslPort !== undefined ? await sslCredentials(options) : undefined;
  const httpServer = createHttpServer(handler);
  httpServer.on('upgrade', onUpgrade);
  let boundPort: number;
  try {
    boundPort = await listen(httpServer, port, host);
  } catch (error) {
    stopReporting?.();
    if (datastore.owned) await datastore.backend?.dispose();
    throw error;
  }
  const url = `http://${urlHost(host)}:${boundPort}`;

  let httpsServer: HttpsServer | undefined;
  let sslUrl: string | undefined;
  if (options.sslPort !== undefined && creds) {
    httpsServer = createHttpsServer(creds, handler);
    httpsServer.on('upgrade', onUpgrade);
    try {
      const sslBound = await listen(httpsServer, options.sslPort, host);
      sslUrl = `https://${urlHost(host)}:${sslBound}`;
    } catch (error) {
      httpServer.close();
      stopReporting?.();
      if (datastore.owned) await datastore.backend?.dispose();
      const e = error as NodeJS.ErrnoException;
      if (e.code === 'EADDRINUSE') {
        throw new DatabenchError('SSL_PORT_IN_USE', `--ssl-port ${options.sslPort} is in use`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  const pinger = setInterval(() => {
    for (const session of sessions) {
      if (!session.heartbeat()) {
        logger.debug(`[${session.meta.name}] peer did not answer a ping: closing`);
        session.ws.terminate();
        continue;
      }
      session.ws.ping();
    }
  }, pingIntervalMs);
  pinger.unref();

  // autoreload: a changed analysis is imported again; its open pages close
  // with 1012 (service restart), reconnect, see the new analyses_version and reload
  let reloading: Promise<void> = Promise.resolve();
  const reload = async (files: string[]): Promise<void> => {
    const previous = state.app;
    const next = await loadApp({
      dir: previous.dir,
      packaged: previous.packaged,
      cliArgs,
      logger,
      previous,
      // a file outside every analysis folder (a `watch` glob, a shared module) may
      // be imported by any analysis: import them all again
      force: files.some(
        (file) => ![...previous.entries.values()].some((e) => file.startsWith(e.dir + sep)),
      ),
    });
    state = {
      app: next,
      pages: new Pages(next, DATABENCH_VERSION, { noCache: true }),
      single: state.single,
    };
    let closed = 0;
    for (const session of sessions) {
      if (next.entries.get(session.meta.name)?.meta !== session.meta) {
        session.close(1012, 'analysis reloaded');
        closed++;
      }
    }
    logger.info(
      `reloaded after changes to ${files.length} file(s); analyses_version ${next.version}; ${closed} session(s) restarted`,
    );
    onReload?.(next);
  };
  const onReload = options.onReload;
  const stopWatching =
    options.watch && !options.app
      ? watchAnalyses({
          dir: app.dir,
          extra: [...app.info.watch, ...[...app.entries.values()].flatMap((e) => e.watch)],
          logger,
          onChange: (files) => {
            reloading = reloading
              .then(() => reload(files))
              .catch((error: unknown) => logger.error(`reload failed: ${String(error)}`));
          },
        })
      : undefined;

  logger.info(
    `serving ${app.entries.size} analyses from ${app.dir} at ${url}${sslUrl ? ` and ${sslUrl}` : ''} (datastore: ${(datastore.backend ?? defaultBackend).name})`,
  );

  return {
    url,
    sslUrl,
    httpServer,
    httpsServer,
    get app() {
      return state.app;
    },
    sessions,
    datastore: datastore.backend ?? defaultBackend,
    close() {
      closing ??= (async () => {
        clearInterval(pinger);
        stopWatching?.();
        await reloading;
        const allEnded =
          sessions.size === 0
            ? Promise.resolve()
            : new Promise<void>((resolve) => ended.add(resolve));
        for (const session of sessions) session.close(1001, 'server shutting down');
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([allEnded, new Promise((r) => (timer = setTimeout(r, 5000)))]);
        clearTimeout(timer);
        for (const session of sessions) session.ws.terminate();
        wss.close();
        for (const server of [httpServer, httpsServer]) {
          if (!server) continue;
          server.closeAllConnections();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        }
        stopReporting?.();
        if (datastore.owned) await datastore.backend?.dispose();
      })();
      return closing;
    },
  } satisfies DatabenchServer;
}

/** Options of {@link run}. */
export interface RunOptions extends Omit<ServerOptions, 'app' | 'single' | 'analyses'> {
  /** The analysis folder (its index.html, static/, README.md). Default: `cwd`. */
  path?: string;
  /** The analysis name. Default: the class name in lower case. */
  name?: string;
  /** title, description, version of the page. */
  info?: { title?: string; description?: string; version?: string };
  /** URL regex (one capture group) → folder, like index.yaml's `static`. */
  static?: Record<string, string>;
  /** Extra routes under `/`. */
  routes?: ExtraRoute[];
}

/**
 * Serve one analysis at `/` (the original's `databench.run`).
 *
 * @example
 * await run(Dummypi, { path: import.meta.dirname });
 */
export async function run(
  analysisClass: AnalysisClass,
  options: RunOptions = {},
): Promise<DatabenchServer> {
  const cwd = options.cwd ?? process.cwd();
  const dir = options.path ?? cwd;
  const name = options.name ?? analysisClass.name.toLowerCase();
  const readme = await readFile(join(dir, 'README.md'), 'utf8').catch(() => '');
  const staticEntries: Array<[RegExp, string]> = Object.entries(options.static ?? {}).map(
    ([re, folder]) => [new RegExp(re), join(dir, folder)],
  );
  const app: App = {
    dir: dirname(dir),
    packaged: false,
    info: {
      title: options.info?.title ?? name,
      description: options.info?.description ?? '',
      author: '',
      version: options.info?.version ?? '',
      static: staticEntries,
      build: undefined,
      watch: [],
      readmeHtml: '',
      datastore: undefined,
    },
    entries: new Map([
      [
        name,
        {
          name,
          title: options.info?.title ?? name,
          description: options.info?.description ?? '',
          showInIndex: true,
          kernel: undefined,
          watch: [],
          build: undefined,
          dir,
          readmeHtml: readme ? renderMarkdown(readme) : '',
          thumbnail: undefined,
          meta: new Meta(name, analysisClass, dir, options.routes ?? [], options.cliArgs ?? []),
          error: undefined,
          version: DATABENCH_VERSION,
          stale: false,
        },
      ],
    ]),
    errors: [],
    version: DATABENCH_VERSION,
  };
  return createServer({ ...options, app, single: name });
}
