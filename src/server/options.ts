/**
 * The options of a server, resolved once: every default is here, and so is
 * the order in which a setting is looked up: an option given (the CLI's
 * flag) > the environment > index.yaml > the default. Every value is checked
 * here, and a bad one is refused with an error that names the option, the
 * value and what was expected; nothing downstream reads a raw option.
 */
import type { App } from '../app/app.js';
import type { AnalysesConfig } from '../app/config.js';
import type { DatastoreBackend } from '../datastore/backend.js';
import { DatabenchError } from '../protocol/errors.js';
import {
  createLogger,
  isLogLevel,
  withoutIds,
  type Logger,
  type LogLevel,
} from '../util/logger.js';
import { resolveAuth, type Authenticate, type Authorize, type ResolvedAuth } from './auth.js';
import type { OidcOptions } from './oidc.js';
import { isLoopbackAddress } from './net.js';
import type { SessionLimits } from './session.js';

/** Options of {@link createServer}. Every field is optional. */
export interface ServerOptions {
  /**
   * Interface to bind; `0.0.0.0` or `::` for every interface.
   * @default the environment's `HOST`, else `127.0.0.1` (only this machine)
   */
  host?: string;
  /**
   * Port; 0 picks a free one (tests).
   * @default the environment's `PORT`, else 5000
   */
  port?: number;
  /**
   * The analyses folder or its index.yaml.
   * @default `./analyses/index.yaml`, else `./index.yaml` (from `cwd`), else the packaged analyses
   */
  analyses?: string;
  /**
   * Where `./analyses` and `./node_modules` are looked up.
   * @default `process.cwd()`
   */
  cwd?: string;
  /**
   * Arguments passed to every analysis as `cliArgs`.
   * @default `[]`
   */
  cliArgs?: string[];
  /**
   * Log level of the default logger (not used when `logger` is given).
   * @default `info`
   */
  logLevel?: LogLevel;
  /**
   * Logger to use instead of the default one.
   * @default a logger to stderr at `logLevel`
   */
  logger?: Logger;
  /**
   * Origins allowed to open WebSockets besides the page's own host; their
   * hosts pass the Host check (the DNS-rebinding guard) too.
   * @default none
   */
  allowOrigins?: string[];
  /**
   * Largest frame a client may send, in bytes; a larger one closes the socket with 1009.
   * @default 1048576 (1 MiB)
   */
  maxFrameBytes?: number;
  /**
   * Largest file a page may upload, in bytes; a larger one is refused before
   * any of it is sent (the page is told the limit).
   * @default 67108864 (64 MiB)
   */
  maxUploadBytes?: number;
  /**
   * Bytes a page may upload at once: its uploads in flight together (each is
   * held in memory until its action gets it); past it a new upload is refused.
   * @default the value of `maxUploadBytes`
   */
  maxUploadPageBytes?: number;
  /**
   * A page counts as slow above this many buffered bytes.
   * @default 1048576 (1 MiB)
   */
  sendBufferSoftBytes?: number;
  /**
   * A slow page's socket is closed above this many pending bytes.
   * @default 67108864 (64 MiB)
   */
  sendBufferHardBytes?: number;
  /**
   * Actions queued per session at most.
   * @default 10000
   */
  maxQueuedActions?: number;
  /**
   * Past this many bytes of a page's queued actions its socket is not read until they drain.
   * @default 4194304 (4 MiB)
   */
  pauseQueuedBytes?: number;
  /**
   * Past this many bytes of a page's queued actions its socket is closed (1008).
   * @default 67108864 (64 MiB)
   */
  maxQueuedBytes?: number;
  /**
   * Pending bytes of all slow pages together at most; past it the slowest pages are closed (1008).
   * @default 268435456 (256 MiB)
   */
  sendBufferTotalBytes?: number;
  /**
   * Pending bytes of all slow viewers of one shared session (its share
   * links' pages, in this process) together at most; past it the slowest
   * viewers are closed (1008).
   * @default sendBufferHardBytes (what one page may hold)
   */
  sendBufferViewersBytes?: number;
  /**
   * Interval of keep-alive pings, in milliseconds; a socket that misses one is closed.
   * @default 15000
   */
  pingIntervalMs?: number;
  /**
   * How long a share link (`d.share()`) works, in milliseconds, at most: a
   * page may ask for a shorter life, never a longer one. At most 2^31 - 1
   * (about 24.8 days).
   * @default 86400000 (24 h)
   */
  shareExpiresMs?: number;
  /**
   * Also serve HTTPS and WSS on this port.
   * @default none (no HTTPS)
   */
  sslPort?: number;
  /**
   * PEM certificate for HTTPS (with `sslKeyFile` and `sslPort`).
   * @default a self-signed one generated at start
   */
  sslCertFile?: string;
  /**
   * PEM private key for HTTPS (with `sslCertFile` and `sslPort`).
   * @default generated with the certificate
   */
  sslKeyFile?: string;
  /**
   * The Content-Security-Policy header of every HTTP response; false sends none.
   * @default by page: a page whose inline scripts all carry its nonce
   * (`<script nonce="{{ csp_nonce }}">`: the package's pages and analyses)
   * runs scripts only from this server or with that nonce
   * (`strictContentSecurityPolicy` of server/options.ts); a page with other
   * inline scripts (a databench 0.7 page) and every other response allow
   * inline scripts and styles, scripts, styles, fonts and images from this
   * server or https:, sockets to this server, framing by this server only
   * (`DEFAULT_CONTENT_SECURITY_POLICY`)
   */
  contentSecurityPolicy?: string | false;
  /**
   * How many server processes share this port (the CLI's `--workers`). More
   * than one means production defaults (see `production`).
   * @default 1
   */
  workers?: number;
  /**
   * Production defaults: no file watching, no type check and no error
   * details on pages, unless each is turned on by its own option (`watch`,
   * `typecheck`, `errorDetails`; the CLI's `--watch`, `--typecheck warn`,
   * `--error-details`). The CLI's `--production` sets it.
   * @default true with `workers` > 1 or a `host` that is not a loopback address
   */
  production?: boolean;
  /**
   * Reload analyses when their files change. `'auto'`, what the CLI passes
   * unless `--watch` or `--no-watch` is given: on, except in production.
   * @default false
   */
  watch?: boolean | 'auto';
  /**
   * Whether the CLI checks the analyses' TypeScript in the background and
   * reports type errors: `off`, `warn`, or `error` (which also refuses to
   * start with type errors). The CLI runs the check (`--typecheck`); the
   * server only resolves this default.
   * @default `warn` while watching, else `off`
   */
  typecheck?: TypecheckMode;
  /**
   * Re-read templates on every request.
   * @default the value of `watch`
   */
  noTemplateCache?: boolean;
  /**
   * Show a failing page template's file, line and error message on the page
   * (otherwise only in the log).
   * @default the value of `watch` (the CLI's development mode)
   */
  development?: boolean;
  /**
   * Show a handler's failure on the page with the file:line of the user's
   * code (the message alone otherwise; the full stack is always in the log).
   * Off, load errors and a dead kernel's error show no stack, source line or
   * absolute path either. The CLI's `--no-error-details` turns it off,
   * `--error-details` on.
   * @default false in production (see `production`), true otherwise
   */
  errorDetails?: boolean;
  /**
   * Behind a reverse proxy: the client of a page is the last address of its
   * `X-Forwarded-For` (the one the proxy added), so retained `data` is
   * counted per client and not for the proxy as one. Only for a proxy that
   * sets the header: without one in front, a client could pick its own.
   * @default false (the address of the socket; one owner on a loopback bind)
   */
  trustProxy?: boolean;
  /**
   * Where analyses keep `data` and `classData`: `memory` (this process), a
   * `redis://HOST:PORT/DB` URL (many processes and hosts share it; needs the
   * optional dependency `ioredis`), or a backend object.
   * @default the environment's `DATABENCH_DATASTORE`, else index.yaml's `datastore`, else `memory`
   */
  datastore?: string | DatastoreBackend;
  /**
   * Environment variables to take `host` (`HOST`), `port` (`PORT`),
   * `datastore` (`DATABENCH_DATASTORE`), `token` (`DATABENCH_TOKEN`),
   * `secret` (`DATABENCH_SECRET`) and the `oidc` settings
   * (`DATABENCH_OIDC_ISSUER`, `DATABENCH_OIDC_CLIENT_ID`,
   * `DATABENCH_OIDC_CLIENT_SECRET`) from when those options are not given,
   * and the variables index.yaml names (`secret: { env: NAME }`); an empty
   * value counts as unset. The CLI passes `process.env`.
   * @default `{}` (createServer itself reads no environment variable)
   */
  env?: ServerEnv;
  /**
   * The token pages must present (`?token=…` once, then a cookie); false:
   * none, even off loopback (`--no-auth`, with a warning in the log).
   * @default the environment's `DATABENCH_TOKEN`, else a random one when
   * `host` is not a loopback address and there is no `authenticate` (see
   * {@link DatabenchServer.token}), else none
   */
  token?: string | false;
  /**
   * Who sent a request (a user, or null: 401); see {@link Authenticate}.
   * @default none (no user: `this.user` is undefined)
   */
  authenticate?: Authenticate;
  /**
   * Whether a user may open an analysis, after index.yaml's `allow`; see {@link Authorize}.
   * @default none (index.yaml's `allow` rules alone decide)
   */
  authorize?: Authorize;
  /**
   * Sign in with OpenID Connect (see {@link OidcOptions}); needs `secret`.
   * Not with `authenticate`. Each setting given here wins over the
   * environment's, which wins over index.yaml's `oidc`.
   * @default index.yaml's `oidc` (then the login is on), else none
   */
  oidc?: OidcOptions;
  /**
   * The key material of the login's cookies: at least 32 characters, the same
   * for every process (so a login holds across processes and restarts).
   * @default the environment's `DATABENCH_SECRET`, else index.yaml's `secret`
   */
  secret?: string;
  /**
   * Called after every reload with the new app (tests, tools).
   * @default none
   */
  onReload?: (app: App) => void;
  /** @internal Serve a prepared app instead of loading a folder (used by {@link run}). */
  app?: App;
  /** @internal Serve this analysis at `/`. */
  single?: string;
}

/** The modes of the type check (`--typecheck`). */
export const TYPECHECK_MODES = ['off', 'warn', 'error'] as const;
/** How TypeScript type errors of the analyses are reported (`--typecheck`). */
export type TypecheckMode = (typeof TYPECHECK_MODES)[number];

/** Environment variables, as `process.env` holds them. */
export type ServerEnv = Readonly<Record<string, string | undefined>>;

/** The environment variable each option may come from. */
export const SERVER_ENV = {
  host: 'HOST',
  port: 'PORT',
  datastore: 'DATABENCH_DATASTORE',
  token: 'DATABENCH_TOKEN',
} as const;

/** Every directive of the two policies but `script-src`. */
const POLICY_REST = [
  "style-src 'self' 'unsafe-inline' https:",
  "img-src 'self' data: blob: https:",
  "font-src 'self' data: https:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'self'",
];

/**
 * The Content-Security-Policy of a page whose templates have inline scripts
 * without the page's nonce (databench 0.7 pages do), and of every response
 * that is not a page, unless the server is given another. Pages may have
 * inline scripts and styles and load scripts, styles, fonts and images from
 * their own server or over HTTPS (CDNs); plots arrive as `data:` images;
 * the socket goes back to the page's own host. No plugins, no `<base>`
 * elsewhere, forms post only home, and only pages of this server may frame
 * these pages.
 */
export const DEFAULT_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline' 'unsafe-eval' https:",
  ...POLICY_REST,
].join('; ');

/**
 * The Content-Security-Policy of a page whose inline scripts all carry its
 * nonce (the package's pages and analyses): scripts run only from this
 * server or with that nonce, so a script or event handler that reaches the
 * page from data does not run. `'unsafe-eval'` stays for Vega's interactive
 * plots; the rest is {@link DEFAULT_CONTENT_SECURITY_POLICY}'s.
 */
export function strictContentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'unsafe-eval'`,
    ...POLICY_REST,
  ].join('; ');
}

/**
 * The policy of one response: `nonce` is the page's (undefined for a page
 * that needs inline scripts without one, and for a response that is not a
 * page); false sends none.
 */
export type ResolvedContentSecurityPolicy = (nonce: string | undefined) => string | false;

/** The policy by page: strict with the page's nonce, else the default. */
const policyByPage: ResolvedContentSecurityPolicy = (nonce) =>
  nonce === undefined ? DEFAULT_CONTENT_SECURITY_POLICY : strictContentSecurityPolicy(nonce);

/** The defaults of the options that have a fixed one (the others depend on `watch` or `host`). */
export const SERVER_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 5000,
  logLevel: 'info',
  // parsing a frame at this bound costs other pages a few ms, at 16 MiB hundreds
  maxFrameBytes: 1 << 20,
  maxUploadBytes: 64 << 20,
  sendBufferSoftBytes: 1 << 20,
  sendBufferHardBytes: 64 << 20,
  maxQueuedActions: 10_000,
  pauseQueuedBytes: 4 << 20,
  maxQueuedBytes: 64 << 20,
  sendBufferTotalBytes: 256 << 20,
  sendBufferViewersBytes: 64 << 20,
  pingIntervalMs: 15_000,
  shareExpiresMs: 24 * 60 * 60 * 1000,
  watch: false,
  datastore: 'memory',
});

/** How often a congested session checks whether its socket drained. */
const DRAIN_POLL_MS = 10;

/** The options of a server with every default filled in and every value checked. */
export interface ResolvedServerOptions {
  host: string;
  /** Whether `host` is a loopback address: only this machine reaches the server. */
  loopback: boolean;
  port: number;
  /** The analyses folder or index.yaml as given (found from `cwd` when undefined). */
  analyses: string | undefined;
  cwd: string;
  cliArgs: string[];
  /** The logger, with analysis ids cut from every line. */
  logger: Logger;
  allowOrigins: ReadonlySet<string>;
  maxFrameBytes: number;
  /** The per-session bounds of the outbound and inbound queues. */
  limits: SessionLimits;
  pingIntervalMs: number;
  /** How long a share link works at most, in milliseconds. */
  shareExpiresMs: number;
  /** HTTPS: its port and the PEM files (both undefined: a self-signed certificate). */
  ssl: { port: number; certFile: string | undefined; keyFile: string | undefined } | undefined;
  /** The Content-Security-Policy of a response, by the page's nonce. */
  contentSecurityPolicy: ResolvedContentSecurityPolicy;
  /** Server processes on this port (`workers`). */
  workers: number;
  /** Production defaults are in force (see {@link ServerOptions.production}). */
  production: boolean;
  watch: boolean;
  typecheck: TypecheckMode;
  noTemplateCache: boolean;
  development: boolean;
  errorDetails: boolean;
  /** Take a page's client address from `X-Forwarded-For`. */
  trustProxy: boolean;
  /** `memory`, a `redis://` URL, or a backend object. */
  datastore: string | DatastoreBackend;
  /** The token, `authenticate` and `authorize` (see server/auth.ts). */
  auth: ResolvedAuth;
  onReload: ((app: App) => void) | undefined;
  app: App | undefined;
  single: string | undefined;
}

/** What a datastore setting must look like: `memory`, or redis://HOST[:PORT][/DB] (rediss:// for TLS). */
const DATASTORE_URL = /^rediss?:\/\/[^/?#]+(\/\d*)?$/i;

/** Whether `value` is a datastore setting databench takes: `memory` or a `redis://HOST:PORT/DB` URL. */
export function isDatastoreSetting(value: string): boolean {
  return value === 'memory' || DATASTORE_URL.test(value);
}

/** A datastore URL with its password hidden, for messages. */
export function redactDatastore(value: string): string {
  return value.replace(/\/\/[^@/]*@/, '//***@');
}

/** A value in a message: strings quoted, everything else as text. */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return Array.isArray(value) ? JSON.stringify(value) : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function invalid(source: string, expected: string, value: unknown): DatabenchError {
  return new DatabenchError('INVALID_OPTION', `${source} must be ${expected}, got ${shown(value)}`);
}

/** An environment variable's value; empty counts as unset. */
function fromEnv(env: ServerEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 65535;
}

function positive(name: keyof typeof SERVER_DEFAULTS & keyof ServerOptions, o: ServerOptions) {
  const value = o[name] ?? SERVER_DEFAULTS[name];
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw invalid(`option ${name}`, 'a positive number', o[name]);
  }
  return value;
}

function optionalString(name: keyof ServerOptions, value: unknown): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  throw invalid(`option ${name}`, 'a string', value);
}

function optionalBoolean(name: keyof ServerOptions, value: unknown): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw invalid(`option ${name}`, 'true or false', value);
}

function stringList(name: keyof ServerOptions, value: unknown): string[] {
  if (value === undefined) return [];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  throw invalid(`option ${name}`, 'a list of strings', value);
}

function isBackend(value: object): value is DatastoreBackend {
  const b = value as Partial<DatastoreBackend>;
  return (
    typeof b.attach === 'function' &&
    typeof b.write === 'function' &&
    typeof b.detach === 'function'
  );
}

/** A datastore setting from `source`, checked. */
function datastoreFrom(source: string, value: unknown): string | DatastoreBackend {
  if (typeof value === 'object' && value !== null && isBackend(value)) return value;
  if (typeof value === 'string' && isDatastoreSetting(value)) return value;
  throw new DatabenchError(
    'DATASTORE_URL',
    `${source} needs redis://HOST:PORT/DB (or memory), got ${
      typeof value === 'string' ? `"${redactDatastore(value)}"` : shown(value)
    }`,
  );
}

/**
 * Where a server looks for its analyses: `cwd` (default `process.cwd()`) and
 * the `analyses` option, checked. The server reads index.yaml from there
 * before it resolves the other options (index.yaml is one of their sources).
 */
export function resolveLocation(options: ServerOptions): {
  cwd: string;
  analyses: string | undefined;
} {
  return {
    cwd: optionalString('cwd', options.cwd) ?? process.cwd(),
    analyses: optionalString('analyses', options.analyses),
  };
}

/**
 * Resolve a server's options once: each setting from the first source that
 * has it, an option given (the CLI's flag) > `env` > index.yaml (`folder`) >
 * the default, checked. Throws a {@link DatabenchError} (`INVALID_OPTION`, or
 * `DATASTORE_URL` for a datastore setting) naming the option or variable,
 * the value and what was expected.
 *
 * @param env the environment variables to read (see {@link SERVER_ENV}); the CLI passes `process.env`
 * @param folder index.yaml's settings (`datastore`, and the login's `oidc` and `secret`)
 *
 * @example
 * resolveServerOptions({ port: 0 }, { HOST: '0.0.0.0' }).host // '0.0.0.0'
 */
export function resolveServerOptions(
  options: ServerOptions,
  env: ServerEnv = {},
  folder: Partial<Pick<AnalysesConfig, 'datastore' | 'oidc' | 'secret' | 'authErrors'>> = {},
): ResolvedServerOptions {
  const o = options;

  // host: option > HOST > default
  let host: string = SERVER_DEFAULTS.host;
  if (o.host !== undefined) {
    if (typeof o.host !== 'string' || o.host === '') {
      throw invalid('option host', 'an interface address or name', o.host);
    }
    host = o.host;
  } else {
    host = fromEnv(env, SERVER_ENV.host) ?? host;
  }

  // port: option > PORT > default
  let port: number = SERVER_DEFAULTS.port;
  if (o.port !== undefined) {
    if (!isPort(o.port)) throw invalid('option port', 'an integer from 0 to 65535', o.port);
    port = o.port;
  } else {
    const text = fromEnv(env, SERVER_ENV.port);
    if (text !== undefined) {
      const n = Number(text);
      if (!/^\d+$/.test(text) || !isPort(n)) {
        throw invalid(
          `environment variable ${SERVER_ENV.port}`,
          'a port number from 0 to 65535',
          text,
        );
      }
      port = n;
    }
  }

  // datastore: option > DATABENCH_DATASTORE > index.yaml > memory
  let datastore: string | DatastoreBackend = SERVER_DEFAULTS.datastore;
  if (o.datastore !== undefined) {
    datastore = datastoreFrom('option datastore', o.datastore);
  } else if (fromEnv(env, SERVER_ENV.datastore) !== undefined) {
    datastore = datastoreFrom(
      `environment variable ${SERVER_ENV.datastore}`,
      fromEnv(env, SERVER_ENV.datastore),
    );
  } else if (folder.datastore !== undefined) {
    datastore = datastoreFrom('index.yaml datastore', folder.datastore);
  }

  const logLevel = o.logLevel ?? SERVER_DEFAULTS.logLevel;
  if (typeof logLevel !== 'string' || !isLogLevel(logLevel)) {
    throw invalid('option logLevel', 'one of debug, info, warn, error, silent', o.logLevel);
  }
  if (o.logger !== undefined && (typeof o.logger !== 'object' || o.logger === null)) {
    throw invalid('option logger', 'an object with debug, info, warn and error', o.logger);
  }

  const maxFrameBytes = o.maxFrameBytes ?? SERVER_DEFAULTS.maxFrameBytes;
  if (!Number.isInteger(maxFrameBytes) || maxFrameBytes <= 0) {
    throw invalid('option maxFrameBytes', 'a positive integer', o.maxFrameBytes);
  }
  const maxUploadBytes = o.maxUploadBytes ?? SERVER_DEFAULTS.maxUploadBytes;
  if (!Number.isSafeInteger(maxUploadBytes) || maxUploadBytes <= 0) {
    throw invalid('option maxUploadBytes', 'a positive integer (bytes)', o.maxUploadBytes);
  }
  const maxUploadPageBytes = o.maxUploadPageBytes ?? maxUploadBytes;
  if (!Number.isSafeInteger(maxUploadPageBytes) || maxUploadPageBytes <= 0) {
    throw invalid('option maxUploadPageBytes', 'a positive integer (bytes)', o.maxUploadPageBytes);
  }
  const limits: SessionLimits = {
    softBufferBytes: positive('sendBufferSoftBytes', o),
    hardBufferBytes: positive('sendBufferHardBytes', o),
    maxQueuedActions: positive('maxQueuedActions', o),
    pauseQueuedBytes: positive('pauseQueuedBytes', o),
    maxQueuedBytes: positive('maxQueuedBytes', o),
    totalBufferBytes: positive('sendBufferTotalBytes', o),
    viewersBufferBytes: positive('sendBufferViewersBytes', {
      ...o,
      sendBufferViewersBytes: o.sendBufferViewersBytes ?? o.sendBufferHardBytes,
    }),
    drainPollMs: DRAIN_POLL_MS,
    maxFrameBytes,
    maxUploadBytes,
    maxUploadPageBytes,
  };
  const pingIntervalMs = positive('pingIntervalMs', o);
  const shareExpiresMs = positive('shareExpiresMs', o);
  // a longer delay fires at once in Node's timers
  if (shareExpiresMs > 0x7fffffff) {
    throw invalid('option shareExpiresMs', 'at most 2147483647 (about 24.8 days)', shareExpiresMs);
  }

  let ssl: ResolvedServerOptions['ssl'];
  const certFile = optionalString('sslCertFile', o.sslCertFile);
  const keyFile = optionalString('sslKeyFile', o.sslKeyFile);
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new DatabenchError(
      'INVALID_OPTION',
      'options sslCertFile and sslKeyFile go together: give both or neither',
    );
  }
  if (o.sslPort !== undefined) {
    if (!isPort(o.sslPort))
      throw invalid('option sslPort', 'an integer from 0 to 65535', o.sslPort);
    ssl = { port: o.sslPort, certFile, keyFile };
  } else if (certFile !== undefined) {
    throw new DatabenchError(
      'INVALID_OPTION',
      'options sslCertFile and sslKeyFile need sslPort (the port to serve HTTPS on)',
    );
  }

  const given = o.contentSecurityPolicy;
  if (given !== undefined && given !== false && typeof given !== 'string') {
    throw invalid('option contentSecurityPolicy', 'a string or false', given);
  }
  const csp: ResolvedContentSecurityPolicy = given === undefined ? policyByPage : () => given;
  const workers = o.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1) {
    throw invalid('option workers', 'a whole number of at least 1', o.workers);
  }
  const loopback = isLoopbackAddress(host);
  // several processes, or a bind others can reach: a deployment, not an author's machine
  const production = optionalBoolean('production', o.production) ?? (workers > 1 || !loopback);
  if (o.watch !== undefined && o.watch !== 'auto' && typeof o.watch !== 'boolean') {
    throw invalid('option watch', "true, false or 'auto'", o.watch);
  }
  const watch = o.watch === 'auto' ? !production : (o.watch ?? SERVER_DEFAULTS.watch);
  const typecheck = o.typecheck ?? (watch ? 'warn' : 'off');
  if (!(TYPECHECK_MODES as readonly unknown[]).includes(typecheck)) {
    throw invalid('option typecheck', `one of ${TYPECHECK_MODES.join(', ')}`, o.typecheck);
  }
  if (o.onReload !== undefined && typeof o.onReload !== 'function') {
    throw invalid('option onReload', 'a function', o.onReload);
  }
  // an analysis id is a resume credential: whole ids never reach a log line, whoever writes it
  const logger = withoutIds(o.logger ?? createLogger(logLevel));
  return {
    host,
    loopback,
    port,
    ...resolveLocation(o),
    cliArgs: stringList('cliArgs', o.cliArgs),
    logger,
    allowOrigins: new Set(stringList('allowOrigins', o.allowOrigins)),
    maxFrameBytes,
    limits,
    pingIntervalMs,
    shareExpiresMs,
    ssl,
    contentSecurityPolicy: csp,
    workers,
    production,
    watch,
    typecheck,
    noTemplateCache: optionalBoolean('noTemplateCache', o.noTemplateCache) ?? watch,
    development: optionalBoolean('development', o.development) ?? watch,
    // off in production: whoever reaches a deployed page is not its author
    errorDetails: optionalBoolean('errorDetails', o.errorDetails) ?? !production,
    trustProxy: optionalBoolean('trustProxy', o.trustProxy) ?? false,
    datastore,
    auth: resolveAuth(o, env, loopback, {
      oidc: folder.oidc,
      secret: folder.secret,
      authErrors: folder.authErrors ?? [],
    }),
    onReload: o.onReload,
    app: o.app,
    single: o.single,
  };
}
