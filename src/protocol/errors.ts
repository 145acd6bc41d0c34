/**
 * The base of every error databench throws on purpose. `code` is stable and
 * meant for programs; `message` is for people.
 *
 * @example
 * try { store.set('x', cyclic) } catch (e) { if (e instanceof DatabenchError && e.code === 'ENCODE_CYCLE') … }
 */
export class DatabenchError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabenchError';
    this.code = code;
  }
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
