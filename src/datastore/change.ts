/**
 * One change of one key, as delivered to every Datastore open on the domain.
 * `encoded` is the stored JSON (undefined: deleted). `memo` lets a consumer
 * (the server's session) cache what it derives from the change, such as the
 * encoded frame, so that a change fanned out to many pages is encoded once.
 */
export class Change {
  memo: unknown = undefined;
  constructor(
    readonly key: string,
    readonly encoded: string | undefined,
  ) {}

  /** A fresh decoded copy of the value (`null` for a deleted key). */
  decode(): unknown {
    return this.encoded === undefined ? null : JSON.parse(this.encoded);
  }
}
