import { DatabenchError } from './errors.js';

/**
 * How values become JSON on the wire and in the datastore:
 * - `NaN`, `Infinity`, `-Infinity` become the strings `"NaN"`, `"Infinity"`,
 *   `"-Infinity"` (valid JSON a browser parses; databench 0.3.15 did the same);
 * - `Set` and typed arrays become lists, `Map` an object (keys as strings);
 * - `BigInt` a number when it is a safe integer, else a string of its digits;
 * - `Date` its ISO string (its own `toJSON`);
 * - `undefined` at the top level becomes `null`.
 * A cycle throws a {@link DatabenchError} with code `ENCODE_CYCLE` naming `key`
 * (or `what`, e.g. `the load of signal "x"`); a function, which JSON would
 * drop without a word, throws one with code `ENCODE`.
 */
export function encodeValue(value: unknown, key?: string, what?: string): string {
  // JSON.stringify without a replacer takes V8's fast path (several times
  // faster): used when a walk finds only what it encodes the same way
  if (isPlainJson(value, 0)) return JSON.stringify(value) ?? 'null';
  return encodeSlow(value, key, what, undefined);
}

/**
 * The load of signal `signal` as {@link encodeValue} encodes it; a failure
 * names the signal (the text is made only then, not for every emit).
 */
export function encodeLoad(signal: string, value: unknown): string {
  if (isPlainJson(value, 0)) return JSON.stringify(value) ?? 'null';
  return encodeSlow(value, undefined, undefined, signal);
}

/** Past this depth the walk gives up (a cycle, or deep data): the replacer's path encodes it. */
const PLAIN_DEPTH = 32;

/**
 * Whether JSON.stringify alone encodes `value` as the replacer would: finite
 * numbers, strings, booleans, null, undefined, and arrays and objects of
 * those that have no `toJSON` and are not a Set, a Map or a typed array.
 * Anything else (NaN, a Date, a function, a BigInt, a deeper nesting or a
 * cycle) goes through the replacer. (A getter is read by this walk and
 * again by the encoder.)
 */
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      // (a `toJSON` result goes through the replacer: the encoder's path)
      if (depth === PLAIN_DEPTH || (value as { toJSON?: unknown }).toJSON !== undefined) {
        return false;
      }
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (!isPlainJson((value as unknown[])[i], depth + 1)) return false;
        }
        return true;
      }
      if (value instanceof Set || value instanceof Map || ArrayBuffer.isView(value)) return false;
      for (const k in value) {
        if (!isPlainJson((value as Record<string, unknown>)[k], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

function encodeSlow(
  value: unknown,
  key: string | undefined,
  what: string | undefined,
  signal: string | undefined,
): string {
  try {
    return JSON.stringify(value, replacer) ?? 'null';
  } catch (error) {
    const where =
      what ??
      (signal !== undefined
        ? `the load of signal "${signal}"`
        : key === undefined
          ? 'value'
          : `value for key "${key}"`);
    // JSON.stringify says "circular" only in its message: look for the cycle
    // itself instead (this runs only when encoding failed)
    if (error instanceof TypeError && containsCycle(value)) {
      throw new DatabenchError('ENCODE_CYCLE', `cannot encode ${where}: it contains a cycle`, {
        cause: error,
      });
    }
    throw new DatabenchError(
      'ENCODE',
      `cannot encode ${where} as JSON: ${(error as Error).message}`,
      { cause: error },
    );
  } finally {
    containers = undefined;
  }
}

/**
 * Whether `root` reaches itself through the values JSON would walk: object
 * properties, array items, Set and Map values. Each object is walked once.
 */
function containsCycle(root: unknown): boolean {
  const open = new Set<object>();
  const done = new Set<object>();
  const walk = (value: unknown): boolean => {
    if (typeof value !== 'object' || value === null || done.has(value)) return false;
    if (open.has(value)) return true;
    open.add(value);
    let children: Iterable<unknown>;
    try {
      children =
        value instanceof Set || value instanceof Map
          ? value.values()
          : ArrayBuffer.isView(value)
            ? []
            : Object.values(value);
    } catch {
      children = []; // a throwing getter: not a cycle
    }
    for (const child of children) if (walk(child)) return true;
    open.delete(value);
    done.add(value);
    return false;
  };
  return walk(root);
}

/**
 * Set/Map → its JSON form during one encode. Converting a container once and
 * handing back the same object lets JSON.stringify see a cycle through it
 * (a fresh copy each time would recurse until the stack overflows).
 */
let containers: Map<object, unknown> | undefined;

function convertContainer(value: Set<unknown> | Map<unknown, unknown>): unknown {
  containers ??= new Map();
  let out = containers.get(value);
  if (out === undefined) {
    out = value instanceof Set ? Array.from(value) : Object.fromEntries(value);
    containers.set(value, out);
  }
  return out;
}

function replacer(this: unknown, _key: string, value: unknown): unknown {
  switch (typeof value) {
    case 'number':
      if (Number.isFinite(value)) return value;
      return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
    case 'bigint':
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(value)
        : value.toString();
    case 'object':
      if (value === null || Array.isArray(value)) return value;
      if (value instanceof Set || value instanceof Map) return convertContainer(value);
      if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
        return Array.from(value as unknown as ArrayLike<number | bigint>);
      }
      return value;
    case 'function':
      throw new TypeError(
        `a function (${_key === '' ? 'the value itself' : `at "${_key}"`}) cannot be sent to a page`,
      );
    default:
      return value;
  }
}
