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
  /** The encoded value, or a function that encodes it on first use (a patch not encoded yet). */
  private value: string | undefined | (() => string);

  /**
   * @param domain The domain of the change (an analysis id, a class name).
   * @param delta The change as a delta against the key's previous value, or
   *   a function that computes it when a page first asks (a structural diff
   *   costs a parse: no page that takes deltas, no diff).
   */
  constructor(
    readonly key: string,
    encoded: string | undefined | (() => string),
    readonly domain = '',
    delta: Delta | (() => Delta | null) | null = null,
  ) {
    this.value = encoded;
    this.pendingDelta = delta;
  }

  /**
   * The stored JSON (undefined: deleted). A patch's value is encoded when
   * first asked for (by a page that takes whole values, a callback, a
   * transform): when only pages that take deltas listen, a patched large
   * value is encoded once a turn, not once a patch.
   */
  get encoded(): string | undefined {
    let value = this.value;
    if (typeof value === 'function') this.value = value = value();
    return value;
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
