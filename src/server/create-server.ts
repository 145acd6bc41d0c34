import { readFile } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join, sep } from 'node:path';
import { WebSocketServer } from 'ws';
import type { DatastoreBackend } from '../datastore/backend.js';
import { defaultBackend } from '../datastore/default-backend.js';
import { encodeValue } from '../protocol/encode.js';
import { DatabenchError } from '../protocol/errors.js';
import { frameFromEncoded, PROTOCOL } from '../protocol/messages.js';
import { entryLoadError } from '../loader/load-error.js';
import { isAnalysisId, type AnalysisClass } from '../analysis/analysis.js';
import { findAnalysesDir, loadApp, staticPattern, type App } from '../app/app.js';
import { renderMarkdown } from '../app/readme.js';
import { createRequestHandler, type HttpState } from './http.js';
import { createLogger, withoutIds, type Logger, type LogLevel } from '../util/logger.js';
import { InProcessKernel } from '../kernel/in-process.js';
import type { Kernel } from '../kernel/kernel.js';
import { Meta } from '../analysis/meta.js';
import type { ExtraRoute } from '../analysis/routes.js';
import { importOptional } from '../util/optional.js';
import { Pages } from '../pages/pages.js';
import { PageSocket, type Session, type SessionLimits } from './session.js';
import { isLoopbackAddress, LOOPBACK_OWNER, retentionOwner } from './net.js';
import { SessionRegistry } from './session-registry.js';
import { createHostCheck, createUpgradeGate } from './upgrade-gate.js';
import { watchAnalyses } from '../app/watch.js';
import { DATABENCH_VERSION } from '../util/version.js';
import { TurnBatcher } from '../util/turn-batcher.js';

export { DATABENCH_VERSION };

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
  /** Largest frame a client may send, in bytes; a larger one closes the socket with 1009. Default: 1 MiB. */
  maxFrameBytes?: number;
  /** A page counts as slow above this many buffered bytes. Default: 1 MiB. */
  sendBufferSoftBytes?: number;
  /** A slow page's socket is closed above this many pending bytes. Default: 64 MiB. */
  sendBufferHardBytes?: number;
  /** Actions queued per session at most. Default: 10000. */
  maxQueuedActions?: number;
  /** Past this many bytes of a page's queued actions its socket is not read until they drain. Default: 4 MiB. */
  pauseQueuedBytes?: number;
  /** Past this many bytes of a page's queued actions its socket is closed (1008). Default: 64 MiB. */
  maxQueuedBytes?: number;
  /** Pending bytes of all slow pages together at most; past it the slowest pages are closed (1008). Default: 256 MiB. */
  sendBufferTotalBytes?: number;
  /** Interval of keep-alive pings; a socket that misses one is closed. Default: 15000. */
  pingIntervalMs?: number;
  /** Also serve HTTPS and WSS on this port. Default: none. */
  sslPort?: number;
  /** PEM certificate for HTTPS. Default: a self-signed one generated at start. */
  sslCertFile?: string;
  /** PEM private key for HTTPS. Default: generated with the certificate. */
  sslKeyFile?: string;
  /**
   * The Content-Security-Policy header of every HTTP response; false sends
   * none. Default: `DEFAULT_CONTENT_SECURITY_POLICY` of http.ts (inline
   * scripts and styles, scripts and styles from this server or https:,
   * sockets to this server, framing by this server only).
   */
  contentSecurityPolicy?: string | false;
  /** Reload analyses when their files change (the CLI turns it on unless --no-watch). Default: false. */
  watch?: boolean;
  /** Re-read templates on every request (on while watching). Default: same as `watch`. */
  noTemplateCache?: boolean;
  /**
   * Show a failing page template's file, line and error message on the page
   * (otherwise only in the log). Default: same as `watch` (the CLI's
   * development mode).
   */
  development?: boolean;
  /**
   * Show a handler's failure on the page with the file:line of the user's
   * code (the message alone otherwise; the full stack is always in the log).
   * Default: true when bound to a loopback address, false otherwise (the
   * CLI's `--no-error-details` turns it off).
   */
  errorDetails?: boolean;
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
    pauseQueuedBytes: positive('pauseQueuedBytes', o.pauseQueuedBytes, 4 << 20),
    maxQueuedBytes: positive('maxQueuedBytes', o.maxQueuedBytes, 64 << 20),
    totalBufferBytes: positive('sendBufferTotalBytes', o.sendBufferTotalBytes, 256 << 20),
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
  const selfsigned = await importOptional(
    () => import('selfsigned'),
    ['selfsigned'],
    '--ssl-port without --ssl-certfile',
  );
  const pems = await selfsigned.generate([{ name: 'commonName', value: o.host ?? 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
  });
  return { cert: pems.cert, key: pems.private };
}

// --- datastore: which backend the analyses of this server use ---

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
    const { createRedisBackend } = await import('../datastore/backends/redis.js');
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
        // a page's data is its id; any other domain is a class's classData: every page may show it
        const classData = !isAnalysisId(event.domain);
        for (const session of sessions) {
          if (classData || session.id === event.domain) void session.emit('error', text);
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
  // parsing a frame at this bound costs other pages a few ms, at 16 MiB hundreds
  const maxFrameBytes = options.maxFrameBytes ?? 1 << 20;
  if (!Number.isInteger(maxFrameBytes) || maxFrameBytes <= 0) {
    throw new TypeError(
      `option maxFrameBytes must be a positive integer, got ${String(options.maxFrameBytes)}`,
    );
  }
  const limits = resolveLimits(options);
  // an analysis id is a resume credential: whole ids never reach a log line, whoever writes it
  const logger = withoutIds(options.logger ?? createLogger(options.logLevel ?? 'info'));
  const cwd = options.cwd ?? process.cwd();
  const cliArgs = options.cliArgs ?? [];
  const allowOrigins = new Set(options.allowOrigins ?? []);
  const pingIntervalMs = options.pingIntervalMs ?? 15_000;
  const development = options.development ?? options.watch ?? false;
  // a loopback bind: only this machine reaches it (error details are shown there)
  const loopbackBind = isLoopbackAddress(host);
  const errorDetails = options.errorDetails ?? loopbackBind;

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
      development,
    }),
    single: options.single,
    errorDetails,
  };

  // before anything listens: an unreachable Redis fails the start
  const datastore = await resolveDatastore(options.datastore ?? app.info.datastore);
  const registry = new SessionRegistry(
    {
      logger,
      limits,
      cliArgs,
      backendVersion: DATABENCH_VERSION,
      analysesVersion: () => state.app.version,
      errorDetails,
      datastore: datastore.backend,
      // this server's own: no flush state is shared with another server in the process
      batcher: new TurnBatcher(),
    },
    logger,
    pingIntervalMs,
  );
  const stopReporting = datastore.backend
    ? reportDatastoreEvents(datastore.backend, registry.sessions, logger)
    : undefined;

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxFrameBytes,
    perMessageDeflate: false,
    // each socket carries its session (see PageSocket)
    WebSocket: PageSocket,
  });
  const hostAllowed = createHostCheck(host, allowOrigins);
  const pages = createRequestHandler(() => state, logger, cwd, {
    allowOrigins,
    ...(options.contentSecurityPolicy === undefined
      ? {}
      : { contentSecurityPolicy: options.contentSecurityPolicy }),
  });
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
  const onUpgrade = createUpgradeGate({
    wss,
    logger,
    hostAllowed,
    allowOrigins,
    closing: () => closing !== undefined,
    state: () => state,
    // on a loopback bind every page is on this machine: one owner, and no
    // peer address looked up per socket (Node caches it on the socket)
    accept: (ws, kernel, req) =>
      registry.add(
        ws,
        kernel,
        loopbackBind ? LOOPBACK_OWNER : retentionOwner(req.socket.remoteAddress ?? ''),
        // the upgrade's own socket (public), for corking a batch
        req.socket,
      ),
  });

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

  // autoreload: a changed analysis is imported again; its open pages close
  // with 1012 (service restart), reconnect, see the new analyses_version and reload
  let reloading: Promise<void> = Promise.resolve();
  const retired = new Set<Kernel>();
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
      pages: new Pages(next, DATABENCH_VERSION, { noCache: true, development }),
      single: state.single,
      errorDetails,
    };
    // kernels that were replaced take no new sessions and end with their last one
    for (const entry of previous.entries.values()) {
      const kernel = entry.kernel;
      if (kernel && next.entries.get(entry.name)?.kernel !== kernel) {
        kernel.retire();
        retired.add(kernel);
      }
    }
    const closed = registry.restartReplaced(next);
    // a save that broke an analysis: its open pages show the error at once (the
    // last good version keeps serving them); the next good save reloads them
    for (const entry of next.entries.values()) {
      const load = entryLoadError(entry, next.dir, errorDetails);
      if (load === undefined || !entry.kernel) continue;
      registry.broadcast(entry.name, frameFromEncoded(PROTOCOL.loadErrorSignal, encodeValue(load)));
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
    `serving ${app.entries.size} ${app.entries.size === 1 ? 'analysis' : 'analyses'} from ${app.dir} at ${url}${sslUrl ? ` and ${sslUrl}` : ''} (datastore: ${(datastore.backend ?? defaultBackend).name})`,
  );

  return {
    url,
    sslUrl,
    httpServer,
    httpsServer,
    get app() {
      return state.app;
    },
    sessions: registry.sessions,
    datastore: datastore.backend ?? defaultBackend,
    close() {
      closing ??= (async () => {
        stopWatching?.();
        await reloading;
        await registry.closeAll(5000);
        // every kernel ran `disconnected` for its sessions above: end their threads
        const kernels = new Set(retired);
        for (const entry of state.app.entries.values()) if (entry.kernel) kernels.add(entry.kernel);
        await Promise.all([...kernels].map((k) => k.dispose()));
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
  const logger = options.logger ?? createLogger(options.logLevel ?? 'info');
  const readme = await readFile(join(dir, 'README.md'), 'utf8').catch(() => '');
  const staticEntries: Array<[RegExp, string]> = Object.entries(options.static ?? {}).map(
    ([re, folder]) => [staticPattern(re), join(dir, folder)],
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
          kernelKind: undefined,
          threads: undefined,
          watch: [],
          build: undefined,
          dir,
          readmeHtml: readme ? await renderMarkdown(readme) : '',
          thumbnail: undefined,
          kernel: new InProcessKernel(
            new Meta(name, analysisClass, dir, options.routes ?? [], options.cliArgs ?? []),
            logger,
          ),
          error: undefined,
          version: DATABENCH_VERSION,
          stale: false,
        },
      ],
    ]),
    errors: [],
    version: DATABENCH_VERSION,
  };
  return createServer({ ...options, logger, app, single: name });
}
