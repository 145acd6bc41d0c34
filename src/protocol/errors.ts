/**
 * Every code a {@link DatabenchError} carries: stable strings for programs
 * (the CLI maps them to exit codes, tests and users branch on them); the
 * message is for people and may change.
 */
export type DatabenchErrorCode =
  // the wire and values on it
  /** A frame that does not follow the protocol ({@link ProtocolError}). */
  | 'PROTOCOL'
  /** A value JSON cannot carry (a function, a throwing `toJSON`). */
  | 'ENCODE'
  /** A value that contains itself. */
  | 'ENCODE_CYCLE'
  // options and arguments
  /** An option with a value of the wrong type or range (the message names option, value and what was expected). */
  | 'INVALID_OPTION'
  /** A function called with an argument of the wrong type or range. */
  | 'INVALID_ARGUMENT'
  /** An optional dependency that is not installed (the message says what to install). */
  | 'MISSING_DEPENDENCY'
  // the datastore
  /** A datastore setting that is not `memory` or a `redis://HOST:PORT/DB` URL. */
  | 'DATASTORE_URL'
  /** No Redis answered at the datastore URL. */
  | 'DATASTORE_UNREACHABLE'
  /** Redis at the datastore URL refused its user or password. */
  | 'DATASTORE_AUTH'
  /** The Redis datastore's client package (`ioredis`) is not installed. */
  | 'DATASTORE_CLIENT_MISSING'
  /** An object literal used as a prototype instead of a key. */
  | 'DATASTORE_PROTOTYPE'
  /** `append`/`extend` of a key that holds something other than a list. */
  | 'DATASTORE_NOT_A_LIST'
  /** A JSON Patch that does not apply to the value (or a key with no value to patch). */
  | 'DATASTORE_PATCH'
  /** A datastore (or backend) used after it was closed. */
  | 'DATASTORE_CLOSED'
  // starting a server
  /** The port is taken by another process. */
  | 'PORT_IN_USE'
  /** The process may not listen on the port (a privileged port). */
  | 'PORT_NOT_ALLOWED'
  /** The `sslPort` is taken by another process. */
  | 'SSL_PORT_IN_USE'
  /** The SSL certificate or key file cannot be read. */
  | 'SSL_FILE'
  /** The OpenID provider cannot be reached, or its discovery document read. */
  | 'OIDC_UNREACHABLE'
  // the analyses folder and index.yaml
  /** The analyses folder (or index.yaml) given does not exist. */
  | 'ANALYSES_NOT_FOUND'
  /** The folder given as the analyses folder is one analysis. */
  | 'ANALYSES_IS_ANALYSIS'
  /** The folder given as the analyses folder holds no analyses. */
  | 'NO_ANALYSES'
  /** index.yaml is not valid YAML, or a key has a value of the wrong type. */
  | 'INDEX_YAML'
  /** An index.yaml `kernel:` that names no kind of kernel. */
  | 'UNKNOWN_KERNEL'
  /** An analysis's folder or source file is missing. */
  | 'ANALYSIS_MISSING'
  /** An analysis folder without `kernel:` in index.yaml that holds both an analysis.ts and an analysis.py. */
  | 'ANALYSIS_AMBIGUOUS'
  // loading an analysis
  /** An analysis source that does not compile (the message names file:line:column). */
  | 'COMPILE'
  /** An analysis module that exports no Analysis subclass (or one of another copy of databench). */
  | 'NO_ANALYSIS_CLASS'
  /** A `routes.ts` whose `ROUTES` is not a list of `[path, handler]`. */
  | 'ROUTES'
  /** A kernel (a worker thread, a Python process) that could not start. */
  | 'KERNEL_START'
  /** A background TypeScript check that could not run (it timed out, its process exited, the checker was closed). */
  | 'TYPECHECK'
  /** A background TypeScript check given up because the files changed again: a newer check runs. */
  | 'TYPECHECK_SUPERSEDED'
  /** `databench check` found names in the analyses' pages that the analyses lack (it lists them). */
  | 'PAGE_NAMES'
  // page templates
  /** A page template that cannot be parsed (the message names file:line). */
  | 'TEMPLATE_SYNTAX'
  /** A Python expression of a 0.7 (Tornado) template that failed: its Python exception name is the error's `name`. */
  | 'TEMPLATE_EXPRESSION'
  /** A page render that went past its limits of steps, characters or time (`RENDER_LIMITS`). */
  | 'TEMPLATE_BUDGET'
  // actions and figures
  /** An action run cancelled (by the page, or replaced under `concurrency: 'latest'`). */
  | 'CANCELLED'
  /** The page of an action run has gone. */
  | 'CLOSED'
  /** A figure of a kind figToSrc cannot render. */
  | 'FIGURE_TYPE'
  /** A figure whose rendering failed. */
  | 'FIGURE_RENDER'
  /** A bad `scale` or `dpi` of figToSrc. */
  | 'FIGURE_DPI'
  /** A bad `format` of figToSrc. */
  | 'FIGURE_FORMAT'
  // the client
  /** `ui.wire` outside a browser page without a root element. */
  | 'NO_DOCUMENT'
  /** No WebSocket implementation in this runtime. */
  | 'NO_WEBSOCKET'
  /** A Connection without a URL outside a browser page. */
  | 'NO_URL'
  /** A wait for a message that did not come in time. */
  | 'TIMEOUT'
  /** A file upload the server refused (a limit, a bad chunk) or that failed (the connection was lost). */
  | 'UPLOAD'
  /** A share link the server did not make or revoke (a read-only view, a limit, the connection lost). */
  | 'SHARE';

/**
 * The base of every error databench throws on purpose. `code` is stable and
 * meant for programs (branch on it, never on the message); `message` is for
 * people.
 *
 * @example
 * try { store.set('x', cyclic) } catch (e) { if (e instanceof DatabenchError && e.code === 'ENCODE_CYCLE') … }
 */
export class DatabenchError extends Error {
  /** What went wrong, as one of {@link DatabenchErrorCode}. */
  readonly code: DatabenchErrorCode;
  constructor(code: DatabenchErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabenchError';
    this.code = code;
  }
}

/** Whether `error` is a {@link DatabenchError} with `code` (one of several, when given a list). */
export function isDatabenchError(
  error: unknown,
  code?: DatabenchErrorCode | readonly DatabenchErrorCode[],
): error is DatabenchError {
  if (!(error instanceof DatabenchError)) return false;
  if (code === undefined) return true;
  return typeof code === 'string' ? error.code === code : code.includes(error.code);
}

/** A frame that does not follow docs/reference/protocol.md (bad JSON, not an object, wrong field type). */
export class ProtocolError extends DatabenchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PROTOCOL', message, options);
    this.name = 'ProtocolError';
  }
}

/** What {@link describeError} makes of a thrown value. */
export interface ErrorDescription {
  /** One line for people: `Name: message` for an Error, the value as text otherwise. */
  message: string;
  /** The stack for the log, or {@link message} when the value has none. */
  stack: string;
}

/** Read a property that may be a throwing getter (or sit on a Proxy that throws). */
function read(value: object, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/**
 * Any value as text, never throwing: `String(value)` when that works, else
 * what kind of object it is (an object without a prototype, or whose
 * `toString` throws, has no text of its own).
 */
export function safeString(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return String(value);
  } catch {
    // no prototype, a throwing toString / Symbol.toPrimitive, a revoked Proxy
  }
  try {
    if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === null) {
      return '[object with a null prototype]';
    }
    return Object.prototype.toString.call(value);
  } catch {
    return '[object]';
  }
}

/**
 * Describe any thrown value for a log line and an `error` frame, never
 * throwing: `null`, `undefined`, objects without a prototype, throwing
 * getters and a throwing `toString` all get a description. Whatever reports
 * an error must go through this, so that reporting cannot fail and skip the
 * cleanup after it.
 *
 * @example
 * describeError(new TypeError('x'))     // { message: 'TypeError: x', stack: 'TypeError: x\n    at …' }
 * describeError(Object.create(null))    // { message: '[object with a null prototype]', … }
 */
export function describeError(value: unknown): ErrorDescription {
  if (typeof value !== 'object' || value === null) {
    const message = safeString(value);
    return { message, stack: message };
  }
  let isError = false;
  try {
    isError = value instanceof Error;
  } catch {
    // a Proxy whose getPrototypeOf trap throws
  }
  const name = read(value, 'name');
  const text = read(value, 'message');
  const stack = read(value, 'stack');
  let message: string;
  if (isError || typeof text === 'string') {
    const prefix = typeof name === 'string' && name !== '' ? name : isError ? 'Error' : '';
    const body = typeof text === 'string' ? text : text === undefined ? '' : safeString(text);
    message = prefix && body ? `${prefix}: ${body}` : prefix || body;
  } else {
    message = safeString(value);
  }
  return { message, stack: typeof stack === 'string' && stack !== '' ? stack : message };
}
