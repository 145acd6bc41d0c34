import jsonpatch from 'fast-json-patch';
import type { Delta } from './change.js';

/**
 * Values encoded shorter than this are sent whole: for them a structural
 * diff (a parse of the old and the new value) costs more than it saves, and
 * the per-write path stays a length check.
 */
export const DIFF_MIN_BYTES = 8192;

/** A decoded value kept beside the encoded one it was decoded from (or encoded to). */
export interface Decoded {
  readonly encoded: string;
  readonly value: unknown;
}

/**
 * Whether a change from `previous` to `encoded` may be sent as a structural
 * diff: both values large, and both a JSON object or both a list.
 */
export function mayDiff(previous: string | undefined, encoded: string | undefined): boolean {
  if (previous === undefined || encoded === undefined || encoded.length < DIFF_MIN_BYTES) {
    return false;
  }
  const c = encoded.charCodeAt(0);
  return (c === 0x7b || c === 0x5b) && previous.charCodeAt(0) === c;
}

/**
 * When the list `encoded` is the list `previous` with items added at its end,
 * those items as the text between the brackets (`1,2`); else undefined. A
 * comparison of the two texts, no parse: `previous` without its `]` is a
 * run of whole JSON values, so a `,` right after it in `encoded` starts the
 * first new item. (A live plot that sets its growing list again and again
 * sends only the new points.)
 */
export function appendedItems(previous: string, encoded: string): string | undefined {
  if (encoded.charCodeAt(0) !== 0x5b || previous.charCodeAt(0) !== 0x5b) return undefined;
  const head = previous.length - 1;
  if (encoded.length <= previous.length) return undefined;
  if (head === 1) return encoded.slice(1, -1); // `[]`: every item is new
  if (encoded.charCodeAt(head) !== 0x2c || !encoded.startsWith(previous.slice(0, head))) {
    return undefined;
  }
  return encoded.slice(head + 1, -1);
}

/**
 * The JSON Patch from `before` to `after` (both decoded JSON), encoded, when
 * it is at most half the size of `encodedAfter`; null: send the whole value.
 * A patch that names `__proto__` (or `constructor/prototype`) is never sent:
 * the client refuses such paths, as every JSON Patch library should.
 */
export function diffDecoded(before: unknown, after: unknown, encodedAfter: string): Delta | null {
  const ops = jsonpatch.compare(before as object, after as object);
  if (ops.length === 0) return null;
  const encoded = JSON.stringify(ops);
  if (encoded.length * 2 > encodedAfter.length) return null;
  if (encoded.includes('__proto__') || encoded.includes('/constructor/prototype')) return null;
  return { kind: 'ops', encoded };
}
