import type { DeltaKind } from '../protocol/delta.js';

/**
 * A change of a key as a delta against its previous value: `append` (the
 * new items, encoded and joined by commas) or `ops` (a JSON list of RFC 6902
 * operations). See `deltaFrame` in `databench-ts/protocol`.
 */
export interface Delta {
  readonly kind: DeltaKind;
  readonly encoded: string;
}

/**
 * One change of one key, as delivered to every Datastore open on the domain.
 * `encoded` is the stored JSON (undefined: deleted). `memo` lets a consumer
 * (the server's session) cache what it derives from the change, such as the
 * encoded frame, so that a change fanned out to many pages is encoded once.
 */
export class Change {
  memo: unknown = undefined;
  /** A delta, a function that computes it on first use, or null: none. */
  private pendingDelta: Delta | (() => Delta | null) | null;

  /**
   * @param domain The domain of the change (an analysis id, a class name).
   * @param delta The change as a delta against the key's previous value, or
   *   a function that computes it when a page first asks (a structural diff
   *   costs a parse: no page that takes deltas, no diff).
   */
  constructor(
    readonly key: string,
    readonly encoded: string | undefined,
    readonly domain = '',
    delta: Delta | (() => Delta | null) | null = null,
  ) {
    this.pendingDelta = delta;
  }

  /** A fresh decoded copy of the value (`null` for a deleted key). */
  decode(): unknown {
    return this.encoded === undefined ? null : JSON.parse(this.encoded);
  }

  /**
   * The change as a delta against the key's previous value, when it has one
   * smaller than the value (an append, a patch, or a structural diff of a
   * large list or object); undefined: send the whole value.
   */
  get delta(): Delta | undefined {
    let delta = this.pendingDelta;
    if (typeof delta === 'function') this.pendingDelta = delta = delta();
    return delta ?? undefined;
  }
}
