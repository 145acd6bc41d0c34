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
import { DatabenchError, describeError } from '../protocol/errors.js';
import { frameFromEncoded, PROTOCOL } from '../protocol/messages.js';
import { entryLoadError } from '../loader/load-error.js';
import type { AnalysisClass } from '../analysis/analysis.js';
import { isSessionDomain, isUserDomain } from '../analysis/user.js';
import { findAnalysesDir, loadApp, staticPattern, type App } from '../app/app.js';
import { normalizeIndexConfig, readIndexYaml, type IndexYaml } from '../app/config.js';
import { renderMarkdown } from '../app/readme.js';
import { createAccessCheck, createAuthGate } from './auth.js';
import { createRequestHandler, type HttpState } from './http.js';
import type { Logger } from '../util/logger.js';
import { InProcessKernel } from '../kernel/in-process.js';
import type { Kernel } from '../kernel/kernel.js';
import { Meta } from '../analysis/meta.js';
import type { ExtraRoute } from '../analysis/routes.js';
import { importOptional } from '../util/optional.js';
import { Pages } from '../pages/pages.js';
import { PageSocket, type Session } from './session.js';
import { forwardedClient, LOOPBACK_OWNER, retentionOwner } from './net.js';
import {
  resolveLocation,
  resolveServerOptions,
  type ResolvedServerOptions,
  type ServerOptions,
  type TypecheckMode,
} from './options.js';
import { SessionRegistry } from './session-registry.js';
import { ShareLinks } from './share.js';
import {
  createHostCheck,
  createUpgradeGate,
  hostRefusal,
  hostRefusedLine,
} from './upgrade-gate.js';
import { LogRateLimit } from '../util/log-limit.js';
import { DATABENCH_VERSION } from '../util/version.js';
import { TurnBatcher } from '../util/turn-batcher.js';
import { escapeLogText } from '../protocol/log-text.js';

export { DATABENCH_VERSION };

export type { ServerOptions };

/** What a server runs with: production defaults or an author's, as resolved from its options. */
export interface ServerMode {
  /** Production defaults (several workers, or a bind others reach): see {@link ServerOptions.production}. */
  readonly production: boolean;
  /** Analyses reload when their files change. */
  readonly watch: boolean;
  /** What the CLI's background type check does (`off`, `warn`, `error`). */
  readonly typecheck: TypecheckMode;
  /** A handler's failure reaches the page with the file:line of the code. */
  readonly errorDetails: boolean;
}

/** A running server. */
export interface DatabenchServer {
  /** `http://host:port` */
  url: string;
  /** `https://host:sslPort` when SSL is on. */
  sslUrl: string | undefined;
  /**
   * The token pages must present (open `url + '/?token=' + token` once), or
   * undefined when none is required. A generated one is shown nowhere else:
   * the CLI prints it with the URL; it never reaches the log.
   */
  readonly token: string | undefined;
  httpServer: Server;
  httpsServer: HttpsServer | undefined;
  /** The loaded analyses (replaced when they reload). */
  readonly app: App;
  /** Open sessions. */
  readonly sessions: ReadonlySet<Session>;
  /** The backend of the analyses' `data` and `classData`. */
  readonly datastore: DatastoreBackend;
  /** Production defaults or an author's, as resolved from the options. */
  readonly mode: ServerMode;
  /** Close every socket with 1001 after `disconnected` ran for each, then stop listening. */
  close(): Promise<void>;
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

/** A port that cannot be listened on, as a DatabenchError naming it (other errors as they are). */
function listenError(error: unknown, port: number, option: 'port' | 'sslPort'): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE') {
    return option === 'port'
      ? new DatabenchError('PORT_IN_USE', `port ${port} is in use: pick another with --port`, {
          cause: error,
        })
      : new DatabenchError('SSL_PORT_IN_USE', `--ssl-port ${port} is in use`, { cause: error });
  }
  if (code === 'EACCES') {
    return new DatabenchError(
      'PORT_NOT_ALLOWED',
      `not allowed to listen on port ${port}: pick one above 1023, or 0 for a free one`,
      { cause: error },
    );
  }
  return error;
}

/** After this long, the start says which kernels it still waits for. */
const LOADING_NOTE_MS = 2000;

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** A PEM file of the SSL options, read; an unreadable one is named. */
async function readPem(path: string, option: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new DatabenchError(
      'SSL_FILE',
      `cannot read ${path} (${option}): ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      { cause: error },
    );
  }
}

async function sslCredentials(
  ssl: NonNullable<ResolvedServerOptions['ssl']>,
  host: string,
): Promise<{ cert: string; key: string }> {
  if (ssl.certFile !== undefined && ssl.keyFile !== undefined) {
    const [cert, key] = await Promise.all([
      readPem(ssl.certFile, 'sslCertFile'),
      readPem(ssl.keyFile, 'sslKeyFile'),
    ]);
    return { cert, key };
  }
  const selfsigned = await importOptional(
    () => import('selfsigned'),
    ['selfsigned'],
    '--ssl-port without --ssl-certfile',
  );
  const pems = await selfsigned.generate([{ name: 'commonName', value: host }], {
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
 * A `redis://` URL connects a Redis backend (imported only then); `memory`
 * is the process-wide memory backend; an object is used as it is.
 */
async function connectDatastore(
  value: ResolvedServerOptions['datastore'],
): Promise<ResolvedDatastore> {
  if (value === 'memory') return { backend: undefined, owned: false };
  if (typeof value === 'object') return { backend: value, owned: false };
  const { createRedisBackend } = await import('../datastore/backends/redis.js');
  return { backend: await createRedisBackend(value), owned: true };
}

/**
 * Tell the pages when the datastore goes away, comes back or gives up a
 * write (pages whose `__connect` reply has gone out: nothing precedes it).
 */

function reportDatastoreEvents(
  backend: DatastoreBackend,
  sessions: ReadonlySet<Session>,
  logger: Logger,
): (() => void) | undefined {
  const storageLines = new LogRateLimit();
  return backend.onEvent?.((event) => {
    switch (event.type) {
      case 'down': {
        const text = `the datastore is unreachable (${event.error.message}): changes are kept and sent when it is back`;
        logger.warn(text);
        for (const session of sessions) if (session.replied) void session.emit('warn', text);
        return;
      }
      case 'up': {
        const text = 'the datastore is reachable again';
        logger.info(text);
        for (const session of sessions) if (session.replied) void session.emit('log', text);
        return;
      }
      case 'write-failed': {
        const text = `the datastore could not store ${event.keys.join(', ')} of "${event.domain}" (${event.error.message}); the values were reloaded from it`;
        logger.error(text);
        // a page's data (and its own userData) is its alone, a user's userData that user's
        // pages'; any other domain is a class's classData: every page may show it
        const shared = !isSessionDomain(event.domain) && !isUserDomain(event.domain);
        for (const session of sessions) {
          if (!session.replied) continue;
          if (
            shared ||
            session.dataDomain === event.domain ||
            session.userDomain === event.domain
          ) {
            void session.emit('error', text);
          }
        }
        return;
      }
      case 'reset':
      case 'dropped': {
        // one per domain (a flush of many), or a flood of what storage hands back: a few lines a second
        const left = storageLines.take();
        if (left === false) return;
        if (left > 0) logger.warn(`${left} more line(s) about the datastore's data left out`);
        const domain = escapeLogText(event.domain, 200);
        logger.warn(
          event.type === 'reset'
            ? `the datastore lost "${domain}" (${event.reason}): reloaded from it`
            : `dropped datastore data of "${domain}": ${escapeLogText(event.reason)}`,
        );
        return;
      }
      default: {
        const never: never = event;
        throw new Error(`unknown datastore event ${String(never)}`);
      }
    }
  });
}

/** The analyses folder of `options` and its index.yaml. */
async function locateAnalyses(options: ServerOptions): Promise<{
  app?: undefined;
  found: { dir: string; packaged: boolean };
  index: IndexYaml;
}> {
  const { cwd, analyses } = resolveLocation(options);
  const found = await findAnalysesDir(cwd, analyses);
  return { found, index: await readIndexYaml(found.dir) };
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
  // index.yaml is a source of options (after the options and the environment): read it first
  const source = options.app ? { app: options.app } : await locateAnalyses(options);
  const o = resolveServerOptions(
    options,
    options.env,
    source.app ? source.app.config.analyses : source.index.config.analyses,
  );
  const { host, port, logger, limits, cwd, cliArgs, allowOrigins, pingIntervalMs } = o;
  const { maxFrameBytes, development, errorDetails } = o;
  const loopbackBind = o.loopback;

  // before the analyses load (worker threads, Python processes) and before anything
  // listens: an unreachable or refusing Redis fails the start with nothing to stop
  const datastore = await connectDatastore(o.datastore);
  let app: App;
  try {
    app =
      source.app ??
      (await loadApp({
        ...source.found,
        index: source.index,
        cliArgs,
        logger,
        cwd,
        // Python kernels load in the background: the server listens meanwhile
        // (an analysis.py that waits at import holds only its own page)
        awaitKernels: false,
      }));
  } catch (error) {
    if (datastore.owned) await datastore.backend?.dispose();
    throw error;
  }
  let state: HttpState = {
    app,
    pages: new Pages(app, DATABENCH_VERSION, {
      noCache: o.noTemplateCache,
      development,
      errorDetails,
      logger,
    }),
    single: o.single,
    errorDetails,
  };

  const registry = new SessionRegistry(
    {
      logger,
      limits,
      cliArgs,
      backendVersion: DATABENCH_VERSION,
      analysesVersion: () => state.app.version,
      entry: (name) => state.app.entries.get(name),
      maxFrameBytes,
      errorDetails,
      datastore: datastore.backend,
      // this server's own: no flush state is shared with another server in the process
      batcher: new TurnBatcher(),
      shares: new ShareLinks(datastore.backend, o.shareExpiresMs),
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
  // anyone can send a foreign Host: its log lines are rate-limited
  const hostLog = new LogRateLimit();
  const hostRefused = (what: string, header: string | undefined): string => {
    const dropped = hostLog.take();
    if (dropped !== false) {
      logger.warn(
        hostRefusedLine(what, header) +
          (dropped > 0 ? ` (${dropped} refusals before it not logged)` : ''),
      );
    }
    return hostRefusal(loopbackBind);
  };
  let serverUrl = '';
  // the OpenID login's module (and openid-client) only when a login is configured
  const login =
    o.auth.oidc === undefined || o.auth.secret === undefined
      ? undefined
      : (await import('./oidc.js')).createOidcLogin({
          oidc: o.auth.oidc,
          secret: o.auth.secret,
          serverUrl: () => serverUrl,
          allowOrigins,
          logger,
        });
  const gate = createAuthGate({ auth: o.auth, logger, allowOrigins, login });
  const canOpen = createAccessCheck(o.auth.authorize);
  const pages = createRequestHandler(() => state, logger, cwd, {
    allowOrigins,
    contentSecurityPolicy: o.contentSecurityPolicy,
    canOpen,
  });
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (!hostAllowed(req.headers.host)) {
      // a page on another site that rebound its name to this server's address
      const text = hostRefused(`${req.method ?? 'GET'} request`, req.headers.host);
      res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`${text}\n`);
      return;
    }
    if (gate === undefined) return pages(req, res);
    gate.request(req, res).then(
      (access) => {
        if (access !== undefined) pages(req, res, access.user);
      },
      (error: unknown) => {
        logger.error(`authentication failed: ${describeError(error).stack}`);
        if (res.headersSent) res.destroy();
        else res.writeHead(500, { 'Content-Type': 'text/plain' }).end('authentication failed\n');
      },
    );
  };

  /** Whose share of retained data a page uses: its client's address. */
  const ownerOf = (req: IncomingMessage): string => {
    // behind a proxy the socket is the proxy's: the client is in X-Forwarded-For
    const forwarded = o.trustProxy ? forwardedClient(req.headers['x-forwarded-for']) : undefined;
    if (forwarded !== undefined) return retentionOwner(forwarded);
    // on a loopback bind every page is on this machine: one owner, and no
    // peer address looked up per socket (Node caches it on the socket)
    return loopbackBind ? LOOPBACK_OWNER : retentionOwner(req.socket.remoteAddress ?? '');
  };

  let closing: Promise<void> | undefined;
  const onUpgrade = createUpgradeGate({
    wss,
    logger,
    hostAllowed,
    hostRefused: (header) => hostRefused('WebSocket', header),
    allowOrigins,
    closing: () => closing !== undefined,
    state: () => state,
    gate,
    canOpen,
    accept: (ws, kernel, req, access) =>
      registry.add(
        ws,
        kernel,
        ownerOf(req),
        // the upgrade's own socket (public), for corking a batch
        req.socket,
        access.user,
      ),
  });

  // a start that fails from here on ends what it started: the kernels of the
  // analyses it loaded (worker threads, Python processes) and the datastore's
  // connections would keep the process alive
  const abandon = async (): Promise<void> => {
    stopReporting?.();
    if (!source.app) {
      const kernels = [...app.entries.values()].flatMap((e) => (e.kernel ? [e.kernel] : []));
      await Promise.all(kernels.map((k) => k.dispose()));
    }
    if (datastore.owned) await datastore.backend?.dispose();
  };

  // certificates first: a bad file must fail before anything listens
  let creds: { cert: string; key: string } | undefined;
  try {
    creds = o.ssl ? await sslCredentials(o.ssl, loopbackBind ? 'localhost' : host) : undefined;
  } catch (error) {
    await abandon();
    throw error;
  }
  const httpServer = createHttpServer(handler);
  httpServer.on('upgrade', onUpgrade);
  let boundPort: number;
  try {
    boundPort = await listen(httpServer, port, host);
  } catch (error) {
    await abandon();
    throw listenError(error, port, 'port');
  }
  const url = `http://${urlHost(host)}:${boundPort}`;
  serverUrl = url;

  let httpsServer: HttpsServer | undefined;
  let sslUrl: string | undefined;
  if (o.ssl && creds) {
    httpsServer = createHttpsServer(creds, handler);
    httpsServer.on('upgrade', onUpgrade);
    try {
      const sslBound = await listen(httpsServer, o.ssl.port, host);
      sslUrl = `https://${urlHost(host)}:${sslBound}`;
    } catch (error) {
      httpServer.close();
      await abandon();
      throw listenError(error, o.ssl.port, 'sslPort');
    }
  }

  // the server answers while kernels load; it is ready once they have (or failed)
  const loading = [...app.entries.values()].filter((e) => e.loading !== undefined);
  if (loading.length > 0) {
    const note = setTimeout(() => {
      const still = loading.filter((e) => e.loading !== undefined).map((e) => e.name);
      logger.info(
        `listening at ${url}; still loading ${still.join(', ')} (a load that takes longer than its load_timeout fails)`,
      );
    }, LOADING_NOTE_MS);
    await app.loaded;
    clearTimeout(note);
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
      cwd,
      previous,
      // a file outside every analysis folder (a `watch` glob, a shared module) may
      // be imported by any analysis: import them all again
      force: files.some(
        (file) => ![...previous.entries.values()].some((e) => file.startsWith(e.dir + sep)),
      ),
    });
    state = {
      app: next,
      pages: new Pages(next, DATABENCH_VERSION, {
        noCache: true,
        development,
        errorDetails,
        logger,
      }),
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
    const loginOf = (a: App): string =>
      JSON.stringify([a.config.analyses.oidc, a.config.analyses.secret]);
    if (loginOf(next) !== loginOf(previous)) {
      // the login is resolved with the server's options, once: say so rather than seem to apply it
      logger.warn(
        "index.yaml's oidc or secret changed: the login keeps the settings it started with until the server restarts",
      );
    }
    onReload?.(next);
  };
  const onReload = o.onReload;
  const stopWatching =
    o.watch && !o.app
      ? (await import('../app/watch.js')).watchAnalyses({
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

  if (o.production) {
    const off: Array<[what: string, flag: string]> = [];
    if (!o.watch) off.push(['no file watching', '--watch']);
    if (o.typecheck === 'off') off.push(['no type check', '--typecheck warn']);
    if (!errorDetails) off.push(['no error details on pages', '--error-details']);
    if (off.length > 0) {
      const why =
        o.workers > 1 ? `${o.workers} workers` : o.loopback ? 'asked for' : `bound to ${host}`;
      logger.info(
        `production defaults (${why}): ${off.map(([what]) => what).join(', ')}; ` +
          `turn them on with ${off.map(([, flag]) => flag).join(', ')}`,
      );
    }
  }
  const ruled = [...app.entries.values()].filter((e) => e.allow !== undefined);
  if (ruled.length > 0 && o.auth.authenticate === undefined && o.auth.oidc === undefined) {
    logger.warn(
      `${ruled.map((e) => `"${e.name}"`).join(', ')} ${ruled.length === 1 ? 'has an allow rule' : 'have allow rules'} in index.yaml, but the server has no login (authenticate): nobody may open ${ruled.length === 1 ? 'it' : 'them'}`,
    );
  }
  for (const warning of o.auth.warnings) logger.warn(warning);
  if (o.auth.disabled) {
    logger.warn(
      `authentication is off (--no-auth) on ${host}: anyone who reaches ${url} can open and act in every analysis`,
    );
  } else if (o.auth.token !== undefined) {
    logger.info(
      o.auth.tokenGenerated
        ? 'pages need a token, generated at start: open the URL printed with it (DatabenchServer.token)'
        : 'pages need the token given with --token or DATABENCH_TOKEN',
    );
  }
  logger.info(
    `serving ${app.entries.size} ${app.entries.size === 1 ? 'analysis' : 'analyses'} from ${app.dir} at ${url}${sslUrl ? ` and ${sslUrl}` : ''} (datastore: ${(datastore.backend ?? defaultBackend).name})`,
  );

  return {
    url,
    sslUrl,
    token: o.auth.token,
    httpServer,
    httpsServer,
    get app() {
      return state.app;
    },
    sessions: registry.sessions,
    datastore: datastore.backend ?? defaultBackend,
    mode: { production: o.production, watch: o.watch, typecheck: o.typecheck, errorDetails },
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

/** Options of {@link run}: those of {@link createServer} and the analysis's own. */
export interface RunOptions extends Omit<ServerOptions, 'app' | 'single' | 'analyses'> {
  /**
   * The analysis folder (its index.html, static/, README.md).
   * @default `cwd`
   */
  path?: string;
  /**
   * The analysis name.
   * @default the class name in lower case
   */
  name?: string;
  /**
   * title, description, version of the page.
   * @default the name as title, the rest empty
   */
  info?: { title?: string; description?: string; version?: string };
  /**
   * URL regex (one capture group) → folder, like index.yaml's `static`.
   * @default none
   */
  static?: Record<string, string>;
  /**
   * Extra routes under `/`.
   * @default none
   */
  routes?: ExtraRoute[];
  /**
   * A page loaded again (refreshed, or reloaded by a change) resumes its
   * session and gets its `data` back (index.yaml's `resume_on_reload`).
   * @default true
   */
  resumeOnReload?: boolean;
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
  const { cwd, logger, cliArgs } = resolveServerOptions(options, options.env);
  const dir = options.path ?? cwd;
  const name = options.name ?? analysisClass.name.toLowerCase();
  const resumeOnReload = options.resumeOnReload ?? true;
  if (typeof resumeOnReload !== 'boolean') {
    throw new DatabenchError(
      'INVALID_OPTION',
      `option resumeOnReload must be true or false, got ${String(resumeOnReload)}`,
    );
  }
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
    },
    entries: new Map([
      [
        name,
        {
          name,
          title: options.info?.title ?? name,
          description: options.info?.description ?? '',
          showInIndex: true,
          resumeOnReload,
          allow: undefined,
          kernelKind: undefined,
          threads: undefined,
          watch: [],
          build: undefined,
          dir,
          readmeHtml: readme ? await renderMarkdown(readme) : '',
          thumbnail: undefined,
          kernel: new InProcessKernel(
            new Meta(name, analysisClass, dir, options.routes ?? [], cliArgs),
            logger,
          ),
          // the only analysis: its class name, as in databench 0.7
          classDomain: analysisClass.name,
          error: undefined,
          version: DATABENCH_VERSION,
          stale: false,
        },
      ],
    ]),
    // no index.yaml: its defaults
    config: normalizeIndexConfig(undefined),
    errors: [],
    version: DATABENCH_VERSION,
    loaded: Promise.resolve(),
  };
  return createServer({ ...options, logger, app, single: name });
}
