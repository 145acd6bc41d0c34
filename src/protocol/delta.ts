// the package's default export (its CommonJS main in Node, index.mjs in the
// browser bundle): typed by the package itself, in every project that compiles
// this file (a named import of a .mjs path has no types TypeScript looks up)
import jsonpatch from 'fast-json-patch';
import { ProtocolError } from './errors.js';
import { isPlainObject, PROTOCOL } from './messages.js';

/** One RFC 6902 JSON Patch operation (`{"op": "add", "path": "/xs/-", "value": 4}`). */
export interface PatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

/**
 * The signal of a datastore's change frames: `data` (the page's own store),
 * `class_data` (every page of the analysis), `user_data` (every page of the
 * signed-in user; our addition, a signal a 0.7 client ignores).
 */
export type StoreSignal = 'data' | 'class_data' | 'user_data';

/**
 * The load of a `__delta` frame: a change of `key` of the `data`,
 * `class_data` or `user_data` store, against the value the client holds for it. Exactly one
 * of `append` (items added to the end of the list) and `ops` (JSON Patch
 * operations, RFC 6902) is present.
 */
export interface DeltaLoad {
  signal: StoreSignal;
  key: string;
  append?: unknown[];
  ops?: PatchOperation[];
}

/** What a delta does: `append` items (encoded, without the list's brackets) or JSON Patch `ops` (an encoded list). */
export type DeltaKind = 'append' | 'ops';

/**
 * A `__delta` frame from a delta already encoded: for `append`, the items
 * joined by commas (`1,2`); for `ops`, the JSON list of operations.
 */
export function deltaFrame(
  signal: StoreSignal,
  key: string,
  kind: DeltaKind,
  encoded: string,
): string {
  return (
    '{"signal":"' +
    PROTOCOL.deltaSignal +
    '","load":{"signal":"' +
    signal +
    '","key":' +
    JSON.stringify(key) +
    (kind === 'append' ? ',"append":[' + encoded + ']}}' : ',"ops":' + encoded + '}}')
  );
}

/** @internal Whether a delta load is well formed (the client checks each frame). */
export function isDeltaLoad(load: unknown): load is DeltaLoad {
  if (!isPlainObject(load)) return false;
  const signal = load['signal'];
  if (
    (signal !== 'data' && signal !== 'class_data' && signal !== 'user_data') ||
    typeof load['key'] !== 'string'
  ) {
    return false;
  }
  return Array.isArray(load['append']) !== Array.isArray(load['ops']);
}

/**
 * The value after a delta: `base` changed in place (lists and objects) and
 * returned, or a new value when an operation replaces the whole document.
 * Throws a {@link ProtocolError} when the delta does not apply to `base`
 * (the client and the server disagree about the value).
 */
export function applyDelta(base: unknown, delta: DeltaLoad): unknown {
  if (delta.append !== undefined) {
    if (!Array.isArray(base)) {
      throw new ProtocolError(
        `a __delta appends to "${delta.key}", which is not a list on this client`,
      );
    }
    for (const item of delta.append) base.push(item);
    return base;
  }
  try {
    // validated, applied in place; `__proto__` paths are refused (the server never sends them)
    return jsonpatch.applyPatch(
      base,
      delta.ops as Parameters<typeof jsonpatch.applyPatch>[1],
      true,
      true,
      true,
    ).newDocument;
  } catch (error) {
    throw new ProtocolError(
      `a __delta of "${delta.key}" does not apply to the value on this client: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
