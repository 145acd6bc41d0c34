import { encodeValue } from '../protocol/encode.js';
import { DatabenchError, describeError } from '../protocol/errors.js';
import { type DatastoreBackend } from './backend.js';
import { EMPTY_DOMAIN, MemoryBackend } from './backends/memory.js';
import { getDefaultBackend } from './default-backend.js';
import { Change, type Delta } from './change.js';
import { appendedItems, diffDecoded, DIFF_MIN_BYTES, mayDiff, type Decoded } from './delta.js';
import jsonpatch from 'fast-json-patch';
import type { PatchOperation } from '../protocol/delta.js';

/** Options of {@link Datastore}. */
export interface DatastoreOptions {
  /** Drop the domain's data when the last Datastore on it closes. Default: false. */
  releaseStorage?: boolean;
  /**
   * Drop the domain's data this long after the last Datastore on it closed,
   * unless one opens it again before (how long a page may take to resume).
   * Default: keep it (as the original did).
   */
  releaseAfterMs?: number;
  /** Where the data lives. Default: the process-wide in-memory backend. */
  backend?: DatastoreBackend;
  /**
   * Who leaves the data behind when it is closed (the server passes the
   * page's remote address): the backend bounds retained data per owner, so
   * one client cannot evict everyone else's. Default: none.
   */
  owner?: string;
}

/** A callback's result: a Promise makes the write wait for it. */
type MaybePromise = unknown;

/** A listener that receives changes still encoded (used by the server's fast path). */
export type EncodedListener =
  | ((change: Change) => MaybePromise)
  /** An object listener (like DOM's `handleEvent`): no closure per subscriber. */
  | { handleDatastoreChange(change: Change, store: Datastore<object>): MaybePromise };

const RESOLVED: Promise<void> = Promise.resolve();

/** A callback's throw as an Error: any value, even one without a prototype, never throwing. */
function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(describeError(error).message, { cause: error });
}
const NONE: readonly never[] = [];

/** A patch that does not apply, as the DatabenchError `patch` throws. */
function patchError(key: string, error: unknown): DatabenchError {
  return new DatabenchError(
    'DATASTORE_PATCH',
    `cannot patch "${key}": ${(error as Error).message.split('\n')[0]}. The value is unchanged`,
    { cause: error },
  );
}

/** The item type of a list type (`unknown` for anything else). */
export type ListItem<V> = V extends ReadonlyArray<infer I> ? I : unknown;

function isEmptyList(encoded: string): boolean {
  return encoded.length === 2 || /^\[\s*\]$/.test(encoded);
}

/** What kind of JSON an encoded value is, in words (for errors). */
function describeEncoded(encoded: string): string {
  const c = encoded.charCodeAt(0);
  return c === 0x7b
    ? 'an object'
    : c === 0x22
      ? 'a string'
      : encoded === 'null'
        ? 'null'
        : encoded === 'true' || encoded === 'false'
          ? 'a boolean'
          : 'a number';
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Collects the promises of a fan-out without allocating when there are none. */
function toVoid(): void {}

function settle(pending: PromiseLike<unknown>[] | undefined): Promise<void> {
  if (pending === undefined) return RESOLVED;
  if (pending.length === 1) return Promise.resolve(pending[0]).then(toVoid);
  return Promise.all(pending).then(toVoid);
}

/**
 * Hand one change to an encoded listener; a throw becomes a rejection.
 * (A function, not a method: every member name of a Datastore is one
 * fewer key that item access can reach.)
 */
function notify(
  listener: EncodedListener,
  change: Change,
  store: object,
  pending: PromiseLike<unknown>[] | undefined,
): PromiseLike<unknown>[] | undefined {
  let r: unknown;
  try {
    r =
      typeof listener === 'function'
        ? listener(change)
        : listener.handleDatastoreChange(change, store as Datastore<object>);
  } catch (error) {
    r = Promise.reject(asError(error));
  }
  // sessions of one server share one Promise per turn: keep it once
  if (isThenable(r) && pending?.[pending.length - 1] !== r) (pending ??= []).push(r);
  return pending;
}

interface Deliverer {
  _deliver(
    change: Change,
    pending: PromiseLike<unknown>[] | undefined,
  ): PromiseLike<unknown>[] | undefined;
}

/** The process-local state of one open domain: its mirror and the Datastores on it. */
class Domain {
  // set in the constructor: an initializer would make a Map that attach() replaces
  entries: Map<string, string>;
  /**
   * The stores on this domain, in the order they opened. Changed in place
   * (a class's domain has a store per page: copying the list at every open
   * and close would make n pages cost n² garbage), except while a delivery
   * runs: a callback may open or close a store then, and the delivery goes
   * on over the list it started with.
   */
  private stores: Deliverer[] = [];
  private delivering = 0;
  ready: Promise<void>;
  constructor(
    readonly backend: DatastoreBackend,
    readonly name: string,
    releaseAfterMs: number | undefined,
  ) {
    this.lazy = backend instanceof MemoryBackend;
    const attached = backend.attach(
      name,
      (key, encoded) => this.applyRemote(key, encoded),
      releaseAfterMs === undefined ? undefined : { releaseAfterMs },
    );
    if (attached instanceof Map) {
      this.entries = attached;
      this.ready = RESOLVED;
    } else {
      this.entries = new Map();
      this.ready = attached.then((map) => {
        // writes made locally before the load finished win over the loaded values
        for (const [k, v] of this.entries) map.set(k, v);
        this.entries = map;
      });
    }
  }

  /**
   * The decoded form of large values that were diffed or patched, per key:
   * the next diff or patch of the key skips a parse while the key still
   * holds the same encoded value. Undefined until a large value is diffed.
   */
  private decoded: Map<string, Decoded> | undefined = undefined;
  /**
   * Large values changed by a one-operation patch and not encoded yet, per
   * key (`entries` holds the value before): encoded when something reads
   * the store first (see {@link current}), or when the domain is detached. Only on the
   * memory backend, whose storage is `entries` itself: a backend that
   * persists each write (Redis, a kernel's host) gets every value at once.
   */
  private pending: Map<string, unknown> | undefined = undefined;
  /**
   * Items appended to large memory-backed lists and not joined to their text
   * yet, per key (`entries` holds the list before them): joined like
   * {@link pending} patches, when first read, not once an append.
   */
  private appends: Map<string, string[]> | undefined = undefined;
  /** Patches may wait to be encoded (see {@link pending}). */
  private readonly lazy: boolean;

  /**
   * Write `encoded` (undefined: delete). `delta` is the change against the
   * key's current value when the writer knows it (an append, a patch);
   * without one, a large list or object gets a structural diff, computed
   * when a page that takes deltas first asks for it.
   */
  write(key: string, encoded: string | undefined, delta?: Delta): Promise<void> {
    if (this.pending?.has(key) === true || this.appends?.has(key) === true) this.settle();
    const current = this.entries.get(key);
    if (current === encoded) return RESOLVED;
    if (this.entries === EMPTY_DOMAIN) this.materialize();
    if (encoded === undefined) this.entries.delete(key);
    else this.entries.set(key, encoded);
    const persisted = this.backend.write(this.name, key, encoded);
    const delivered = this.deliver(this.change(key, current, encoded, delta));
    if (persisted === undefined) return delivered;
    return Promise.all([persisted, delivered]).then(() => undefined);
  }

  applyRemote(key: string, encoded: string | undefined): void {
    if (this.pending?.has(key) === true || this.appends?.has(key) === true) this.settle();
    const current = this.entries.get(key);
    if (current === encoded) return;
    if (this.entries === EMPTY_DOMAIN) this.materialize();
    if (encoded === undefined) this.entries.delete(key);
    else this.entries.set(key, encoded);
    // a change made elsewhere has no writer here to hear of a failing callback
    this.deliver(this.change(key, current, encoded, undefined)).catch(() => undefined);
  }

  private change(
    key: string,
    previous: string | undefined,
    encoded: string | undefined,
    delta: Delta | undefined,
  ): Change {
    if (delta !== undefined && previous !== undefined) {
      return new Change(key, encoded, this.name, delta);
    }
    if (!mayDiff(previous, encoded)) {
      if (encoded === undefined) this.decoded?.delete(key);
      return new Change(key, encoded, this.name);
    }
    return new Change(key, encoded, this.name, () => {
      const appended = appendedItems(previous!, encoded!);
      if (appended !== undefined) return { kind: 'append', encoded: appended };
      const after = JSON.parse(encoded!) as unknown;
      const before = this.decodedValue(key, previous!);
      this.remember(key, encoded!, after);
      return diffDecoded(before, after, encoded!);
    });
  }

  /**
   * A decoded value of `key` for a diff or a patch (which may change it in
   * place): the one kept when it still matches `encoded`, else a parse.
   */
  decodedValue(key: string, encoded: string): unknown {
    const kept = this.decoded?.get(key);
    if (kept !== undefined) {
      this.decoded!.delete(key);
      if (kept.encoded === encoded) return kept.value;
    }
    return JSON.parse(encoded) as unknown;
  }

  /** The entries, every pending patch encoded first: what every read of the store sees. */
  get current(): Map<string, string> {
    if (this.pending !== undefined || this.appends !== undefined) this.settle();
    return this.entries;
  }

  /** Encode the pending patches and join the pending appends into `entries`. */
  settle(): void {
    const appends = this.appends;
    if (appends !== undefined) {
      this.appends = undefined;
      for (const [key, parts] of appends) {
        const base = this.entries.get(key)!;
        this.entries.set(key, base.slice(0, -1) + ',' + parts.join(',') + ']');
      }
    }
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    for (const [key, value] of pending) {
      // the value was decoded JSON and the operations came encoded: this cannot throw
      const encoded = encodeValue(value, key);
      this.entries.set(key, encoded);
      this.remember(key, encoded, value);
    }
  }

  /**
   * A patch of one operation on a large value of a memory-backed domain: the
   * decoded value changes in place and is encoded later (see {@link pending}).
   * Returns undefined when the patch must take the path that encodes at once
   * (several operations: one that fails must leave no earlier one applied;
   * a small value; another backend).
   */
  patchInPlace(
    key: string,
    op: Parameters<typeof jsonpatch.applyOperation>[1],
    opsEncoded: string,
  ): Promise<void> | undefined {
    if (!this.lazy) return undefined;
    if (this.appends?.has(key) === true) this.settle();
    let value = this.pending?.get(key);
    if (value === undefined) {
      const encoded = this.entries.get(key)!;
      if (encoded.length < DIFF_MIN_BYTES) return undefined;
      value = this.decodedValue(key, encoded);
    }
    let result: unknown;
    try {
      // validated before it changes anything: a failing operation leaves the value as it was
      result = jsonpatch.applyOperation(value, op, true, true, true).newDocument;
    } catch (error) {
      // the value is unchanged: keep it for the next patch
      if (this.pending?.has(key) !== true) this.remember(key, this.entries.get(key)!, value);
      throw error;
    }
    if (typeof result !== 'object' || result === null) {
      // the operation replaced the whole value with a scalar: store it at once
      this.pending?.delete(key);
      return this.write(key, encodeValue(result, key), { kind: 'ops', encoded: opsEncoded });
    }
    (this.pending ??= new Map()).set(key, result);
    this.decoded?.delete(key);
    return this.deliverLater(key, { kind: 'ops', encoded: opsEncoded });
  }

  /**
   * The list text of `key` for an append (undefined: none), with a pending
   * patch encoded first; pending appends are not joined (the text before
   * them is a list all the same).
   */
  listText(key: string): string | undefined {
    if (this.pending?.has(key) === true) this.settle();
    return this.entries.get(key);
  }

  /**
   * Append `inner` (encoded items joined by commas) to the large list of a
   * memory-backed domain without copying its text: joined once a turn (see
   * {@link appends}). Undefined: the append takes the path that writes at
   * once (a small list, another backend).
   */
  appendLater(key: string, inner: string): Promise<void> | undefined {
    if (!this.lazy) return undefined;
    let parts = this.appends?.get(key);
    if (parts === undefined) {
      const base = this.entries.get(key);
      if (base === undefined || base.length < DIFF_MIN_BYTES || isEmptyList(base)) return undefined;
      parts = [];
      (this.appends ??= new Map()).set(key, parts);
    }
    parts.push(inner);
    return this.deliverLater(key, { kind: 'append', encoded: inner });
  }

  /**
   * Deliver a change whose value is encoded when first read: a page that
   * takes deltas never reads it, so a handler that awaits each of many
   * patches of a large value encodes it once, not once a turn (the domain
   * is settled before it is detached, see `closeDomain`).
   */
  private deliverLater(key: string, delta: Delta): Promise<void> {
    const change = new Change(
      key,
      () => {
        this.settle();
        return this.entries.get(key)!;
      },
      this.name,
      delta,
    );
    return this.deliver(change);
  }

  /** Keep a large value's decoded form for the next diff or patch of `key`. */
  remember(key: string, encoded: string, value: unknown): void {
    if (encoded.length < DIFF_MIN_BYTES) return;
    (this.decoded ??= new Map()).set(key, { encoded, value });
  }

  /** Only the memory backend attaches a domain as EMPTY_DOMAIN: it makes the domain's own Map. */
  private materialize(): void {
    this.entries = (this.backend as MemoryBackend).materialize(this.name);
  }

  private deliver(change: Change): Promise<void> {
    let pending: PromiseLike<unknown>[] | undefined;
    this.delivering++;
    try {
      for (const store of this.stores) {
        pending = store._deliver(change, pending);
      }
    } finally {
      this.delivering--;
    }
    return settle(pending);
  }

  /** A store opened on this domain. */
  add(store: Deliverer): void {
    // most domains have one store: a literal holds one slot, where a push
    // onto an empty array would reserve sixteen
    if (this.stores.length === 0) this.stores = [store];
    else {
      if (this.delivering > 0) this.stores = this.stores.slice();
      this.stores.push(store);
    }
  }

  /** A store closed; true when it was the last. */
  remove(store: Deliverer): boolean {
    const i = this.stores.indexOf(store);
    if (i >= 0) {
      if (this.delivering > 0) this.stores = this.stores.slice();
      this.stores.splice(i, 1);
    }
    return this.stores.length === 0;
  }
}

/**
 * The own enumerable entries of an `update` / `init` argument. An object whose
 * prototype is itself a plain object with no constructor of its own came from
 * a literal `{ __proto__: {…} }`: its "key" would be lost, so it is refused.
 */
function ownEntries(values: object, op: string): Array<[string, unknown]> {
  const proto = Object.getPrototypeOf(values) as object | null;
  if (proto !== null && proto !== Object.prototype && !Object.hasOwn(proto, 'constructor')) {
    throw new DatabenchError(
      'DATASTORE_PROTOTYPE',
      `${op}() got an object whose prototype is a plain object: an object literal ` +
        `{ __proto__: … } sets the prototype, not a key. Write { ['__proto__']: … } to store a key named __proto__`,
    );
  }
  return Object.keys(values).map((key) => [key, (values as Record<string, unknown>)[key]]);
}

const registries = new WeakMap<DatastoreBackend, Map<string, Domain>>();

function openDomain(
  backend: DatastoreBackend,
  name: string,
  releaseAfterMs: number | undefined,
): Domain {
  let registry = registries.get(backend);
  if (!registry) {
    registry = new Map();
    registries.set(backend, registry);
  }
  let domain = registry.get(name);
  if (!domain) {
    domain = new Domain(backend, name, releaseAfterMs);
    registry.set(name, domain);
  }
  return domain;
}

function closeDomain(
  domain: Domain,
  release: boolean,
  releaseAfterMs: number | undefined,
  owner: string | undefined,
): void {
  const registry = registries.get(domain.backend);
  if (registry?.get(domain.name) === domain) registry.delete(domain.name);
  // what is retained for a page to resume must be encoded
  domain.settle();
  void domain.backend.detach(
    domain.name,
    owner === undefined ? { release, releaseAfterMs } : { release, releaseAfterMs, owner },
  );
}

/** What the item-access proxy answers with the instance behind it (see {@link bareStore}). */
const BARE = Symbol('databench.bareStore');

/** Set while {@link createBareStore} constructs: the constructor then returns the bare instance. */
let constructBare = false;

/**
 * @internal A Datastore without its item-access proxy: an analysis's own
 * stores are made bare and get their proxy when the user's code first
 * reads `this.data` (see {@link itemAccess}), so an idle page costs no
 * proxy (V8 gives each one its own property dictionary).
 */
export function createBareStore<T extends object>(
  domain: string,
  options?: DatastoreOptions,
): Datastore<T> {
  constructBare = true;
  try {
    return new Datastore<T>(domain, options);
  } finally {
    constructBare = false;
  }
}

/** @internal The item-access proxy of `store`: the store itself when it is one already. */
export function itemAccess<T extends object>(store: Datastore<T>): DataProxy<T> {
  if ((store as unknown as Record<symbol, unknown>)[BARE] !== undefined) {
    return store as DataProxy<T>;
  }
  return new Proxy(store as Datastore<object>, ITEM_ACCESS) as unknown as DataProxy<T>;
}

/** @internal Whether `store`'s domain is loaded (its `ready` is settled): the memory backend's are at once. */
export function isLoaded(store: Datastore<object>): boolean {
  return bareStore(store)['state'].ready === RESOLVED;
}

/** @internal The instance behind `store`'s proxy (the store itself when it has none). */
export function bareStore<T extends object>(store: Datastore<T>): Datastore<T> {
  return ((store as unknown as Record<symbol, unknown>)[BARE] as Datastore<T> | undefined) ?? store;
}

/** A Datastore whose keys also read and write as properties (`store['pi'] = 3.14`). */
export type DataProxy<T extends object> = Datastore<T> & Partial<T>;

/**
 * Item access on a Datastore: a string key that is not a member reads
 * `get(key)` and writes `set(key, value)` (the mirror changes at once, the
 * write goes out; a value that cannot be encoded throws at the assignment).
 * Assigning to a member name (`store['set'] = …`) throws instead of
 * replacing the method.
 */
const ITEM_ACCESS: ProxyHandler<Datastore<object>> = {
  get(target, prop, receiver) {
    if (prop === BARE) return target;
    if (typeof prop === 'symbol' || prop in target) {
      return Reflect.get(target, prop, receiver) as unknown;
    }
    return target.get(prop as never);
  },
  set(target, prop, value, receiver) {
    if (typeof prop === 'symbol' || Object.hasOwn(target, prop)) {
      return Reflect.set(target, prop, value, receiver);
    }
    if (prop in target) {
      throw new DatabenchError(
        'INVALID_ARGUMENT',
        `"${prop}" is a Datastore member, not a key: write it with await store.set('${prop}', value)`,
      );
    }
    const store = receiver as Datastore<Record<string, unknown>>;
    const written = store.set(prop, value as unknown);
    const report = target._onAssignError;
    if (report) written.catch((error: unknown) => report(prop, error));
    return true;
  },
  deleteProperty(target, prop) {
    if (typeof prop === 'symbol' || prop in target) return Reflect.deleteProperty(target, prop);
    const written = target.delete(prop as never);
    const report = target._onAssignError;
    if (report) written.catch((error: unknown) => report(prop, error));
    return true;
  },
};

/**
 * A key-value store scoped to a domain (an analysis id for `data`, the
 * class name for `classData`, made `ClassName@analysisName` when two
 * analyses have classes of one name). Every Datastore on the same domain
 * sees the same data and gets every change.
 *
 * Values are stored as encoded JSON (see `encodeValue` in `databench-ts/protocol`):
 * setting a value equal to the stored one does nothing; reads return a copy.
 * Reads are synchronous; writes return a Promise that resolves when every
 * subscriber has the change.
 *
 * @example
 * const store = new Datastore<{ pi: number }>('demo');
 * store.onChange((key, value) => console.log(key, value));
 * await store.set('pi', 3.14);
 * store.get('pi'); // 3.14
 */
export class Datastore<T extends object = Record<string, unknown>> {
  private release: boolean;
  private releaseAfterMs: number | undefined;
  private owner: string | undefined;
  private readonly state: Domain;
  private closed = false;
  // undefined until used: most stores have one listener kind only
  // every field is initialised: item access (ITEM_ACCESS) tells fields from keys by own properties
  private changeCallbacks: Array<(key: string, value: unknown) => MaybePromise> | undefined =
    undefined;
  private stateCallbacks: Array<(changes: Partial<T>) => MaybePromise> | undefined = undefined;
  // one listener (the page's) is held as it is: an array only for more
  private encodedListeners: EncodedListener | EncodedListener[] | undefined = undefined;

  /**
   * @internal Where a write made by assignment (`store['key'] = value`) reports
   * a failure, since no one awaits it; the Analysis reports it like a
   * handler's error. Unset, the rejection is left unhandled (never dropped).
   */
  _onAssignError: ((key: string, error: unknown) => void) | undefined = undefined;

  constructor(domain: string, options: DatastoreOptions = {}) {
    this.release = options.releaseStorage ?? false;
    this.releaseAfterMs = options.releaseAfterMs;
    this.owner = options.owner;
    this.state = openDomain(options.backend ?? getDefaultBackend(), domain, this.releaseAfterMs);
    // the domain delivers to the bare instance (no proxy trap per change)
    this.state.add(this);
    if (constructBare) return;
    // databench 0.7 wrote `self.data['pi'] = 3.14`: keys that are not members
    // read and write the store through a proxy, which every caller gets
    // instead of the bare instance
    return new Proxy(this as Datastore<object>, ITEM_ACCESS);
  }

  /** The domain: an analysis id for `data`, the class name (or `ClassName@analysisName`) for `classData`. */
  get domain(): string {
    return this.state.name;
  }

  /** The backend this store's data lives in. */
  get backend(): DatastoreBackend {
    return this.state.backend;
  }

  /** Resolves when the backend has loaded the domain (at once for the memory backend). */
  get ready(): Promise<void> {
    return this.state.ready;
  }

  /** Register `callback(key, value)` for every change of this domain. */
  onChange(callback: (key: string, value: unknown) => MaybePromise): this {
    this.changeCallbacks = this.changeCallbacks
      ? this.changeCallbacks.concat(callback)
      : [callback];
    return this;
  }

  /** Register `callback({key: value})` for every change of this domain (databench 0.7). */
  subscribe(callback: (changes: Partial<T>) => MaybePromise): this {
    this.stateCallbacks = this.stateCallbacks ? this.stateCallbacks.concat(callback) : [callback];
    return this;
  }

  /**
   * Register a listener that gets each change still encoded. Used by the
   * server to send a change with no decode and re-encode; returns a function
   * that removes the listener.
   */
  onEncodedChange(listener: EncodedListener): () => void {
    const current = this.encodedListeners;
    // exact-size arrays: `push` or a spread would leave room for 16 more per store
    this.encodedListeners =
      current === undefined
        ? listener
        : Array.isArray(current)
          ? current.concat(listener)
          : [current, listener];
    return () => {
      const now = this.encodedListeners;
      if (now === listener) this.encodedListeners = undefined;
      else if (Array.isArray(now)) this.encodedListeners = now.filter((l) => l !== listener);
    };
  }

  /** Call this store's callbacks once for every key it holds. */
  triggerAllChangeCallbacks(): Promise<void> {
    let pending: PromiseLike<unknown>[] | undefined;
    for (const [key, encoded] of this.state.current) {
      pending = this._deliver(new Change(key, encoded, this.state.name), pending);
    }
    return settle(pending);
  }

  /** Set one key. */
  set<K extends keyof T & string>(key: K, value: T[K]): Promise<void> {
    // called through the item-access proxy (`this.data.set`), every `this.x`
    // would take its trap: one lookup of the store behind it instead
    const self = bareStore(this);
    self.assertOpen('set');
    return self.state.write(key, encodeValue(value, key));
  }

  /**
   * Set several keys, like Python's `dict.update`: every own enumerable key,
   * `__proto__` too when it is an own key (`JSON.parse('{"__proto__": 1}')`,
   * `{ ['__proto__']: 1 }`). An object literal `{ __proto__: {…} }` sets a
   * prototype instead of a key: that is refused with a DatabenchError (code
   * `DATASTORE_PROTOTYPE`) rather than dropped without a word.
   */
  update(values: Partial<T>): Promise<void> {
    this.assertOpen('update');
    return this.writeAll(ownEntries(values, 'update'));
  }

  /** Set only the keys that are not present yet (`__proto__` as any other key, see {@link update}). */
  init(values: Partial<T>): Promise<void> {
    this.assertOpen('init');
    return this.writeAll(
      ownEntries(values, 'init').filter(([key]) => !this.state.current.has(key)),
    );
  }

  /**
   * Add `items` to the end of the list at `key` (a new list when the key
   * holds nothing). A page that takes deltas gets only the new items; every
   * listener and wired widget still sees the whole list.
   *
   * @example await this.data.append('points', { x: 1, y: 2 });
   */
  append<K extends keyof T & string>(key: K, ...items: ListItem<T[K]>[]): Promise<void> {
    return this.extend(key, items);
  }

  /** {@link append} with the items as one iterable (like Python's `list.extend`). */
  extend<K extends keyof T & string>(key: K, items: Iterable<ListItem<T[K]>>): Promise<void> {
    this.assertOpen('extend');
    const list = Array.isArray(items) ? (items as unknown[]) : Array.from(items);
    const previous = this.state.listText(key);
    if (previous !== undefined && previous.charCodeAt(0) !== 0x5b) {
      throw new DatabenchError(
        'DATASTORE_NOT_A_LIST',
        `cannot append to "${key}": it holds ${describeEncoded(previous)}, not a list. Set a list first (or use set())`,
      );
    }
    if (list.length === 0) {
      return previous === undefined ? this.state.write(key, '[]') : RESOLVED;
    }
    const encodedItems = encodeValue(list, key);
    const inner = encodedItems.slice(1, -1);
    if (previous === undefined) return this.state.write(key, encodedItems);
    const later = this.state.appendLater(key, inner);
    if (later !== undefined) return later;
    // the stored text grows by the items: the old list is neither parsed nor encoded again
    const encoded = isEmptyList(previous)
      ? encodedItems
      : previous.slice(0, -1) + ',' + inner + ']';
    return this.state.write(key, encoded, { kind: 'append', encoded: inner });
  }

  /**
   * Change the value at `key` with JSON Patch operations (RFC 6902: `add`,
   * `remove`, `replace`, `move`, `copy`, `test`; paths are JSON Pointers
   * into the value). A page that takes deltas gets only the operations.
   * Throws a DatabenchError (`DATASTORE_PATCH`) when the key holds nothing or
   * an operation does not apply; the value is then unchanged.
   *
   * @example await this.data.patch('config', [{ op: 'replace', path: '/threshold', value: 0.5 }]);
   */
  patch(key: keyof T & string, ops: readonly PatchOperation[]): Promise<void> {
    this.assertOpen('patch');
    if (!Array.isArray(ops)) {
      throw new DatabenchError(
        'INVALID_ARGUMENT',
        `patch("${key}", ops): ops must be a list of JSON Patch operations, got ${typeof ops}`,
      );
    }
    // a key with a pending patch is in `entries` (with its value before): no need to encode it
    if (!this.state.entries.has(key)) {
      throw new DatabenchError(
        'DATASTORE_PATCH',
        `cannot patch "${key}": it holds no value. Set it first`,
      );
    }
    if (ops.length === 0) return RESOLVED;
    // the operations as the page gets them (NaN, Sets, Maps as JSON has them),
    // and a copy: the user may change their objects after the call
    const opsEncoded = encodeValue(ops, key);
    const copy = JSON.parse(opsEncoded) as Parameters<typeof jsonpatch.applyPatch>[1];
    if (copy.length === 1) {
      let inPlace: Promise<void> | undefined;
      try {
        inPlace = this.state.patchInPlace(key, copy[0]!, opsEncoded);
      } catch (error) {
        throw patchError(key, error);
      }
      if (inPlace !== undefined) return inPlace;
    }
    let value = this.state.decodedValue(key, this.state.current.get(key)!);
    try {
      value = jsonpatch.applyPatch(value, copy, true, true, true).newDocument;
    } catch (error) {
      throw patchError(key, error);
    }
    const encoded = encodeValue(value, key);
    this.state.remember(key, encoded, value);
    return this.state.write(key, encoded, { kind: 'ops', encoded: opsEncoded });
  }

  private writeAll(entries: Array<[string, unknown]>): Promise<void> {
    // encode every value first: a bad value must not leave half an update behind
    const encoded: Array<[string, string]> = [];
    for (const [key, value] of entries) encoded.push([key, encodeValue(value, key)]);
    let pending: Promise<void>[] | undefined;
    for (const [key, value] of encoded) {
      const p = this.state.write(key, value);
      if (p !== RESOLVED) (pending ??= []).push(p);
    }
    return settle(pending);
  }

  /** `update` with an object, or with a function of this store that returns one (databench 0.7). */
  setState(values: Partial<T> | ((store: this) => Partial<T>)): Promise<void> {
    return this.update(typeof values === 'function' ? values(this) : values);
  }

  /** A copy of the value at `key`, or `defaultValue` when there is none. */
  get<K extends keyof T & string>(key: K): T[K] | undefined;
  get<K extends keyof T & string>(key: K, defaultValue: T[K]): T[K];
  get(key: string, defaultValue?: unknown): unknown {
    const encoded = this.state.current.get(key);
    return encoded === undefined ? defaultValue : (JSON.parse(encoded) as unknown);
  }

  /** Whether `key` holds a value. */
  has(key: string): boolean {
    return this.state.current.has(key);
  }

  /** Remove `key`; subscribers get the change with the value `null`. */
  delete(key: keyof T & string): Promise<void> {
    const self = bareStore(this);
    self.assertOpen('delete');
    if (!self.state.current.has(key)) return RESOLVED;
    return self.state.write(key, undefined);
  }

  /** The keys in the store, in the order they were first set. */
  keys(): IterableIterator<string> {
    return this.state.current.keys();
  }

  /** Copies of the values in the store. */
  *values(): IterableIterator<T[keyof T]> {
    for (const encoded of this.state.current.values()) yield JSON.parse(encoded) as T[keyof T];
  }

  /** `[key, copy of the value]` pairs of the store. */
  *entries(): IterableIterator<[string, T[keyof T]]> {
    for (const [key, encoded] of this.state.current) {
      yield [key, JSON.parse(encoded) as T[keyof T]];
    }
  }

  /**
   * A plain-object copy of everything in the store. A key named `__proto__`
   * is an own key of the copy (as `JSON.parse` makes it), never its prototype.
   */
  toObject(): Partial<T> {
    const out: Record<string, unknown> = {};
    for (const [key, encoded] of this.state.current) {
      const value = JSON.parse(encoded) as unknown;
      if (key === '__proto__') {
        Object.defineProperty(out, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        out[key] = value;
      }
    }
    return out as Partial<T>;
  }

  /** The stored entries, still encoded (read-only view; used for snapshots). */
  encodedEntries(): IterableIterator<[string, string]> {
    return this.state.current.entries();
  }

  get size(): number {
    return this.state.current.size;
  }

  /**
   * @internal Write a value that is already encoded (a kernel's write arriving
   * at the server): no decode, no encode.
   */
  _writeEncoded(key: string, encoded: string | undefined): Promise<void> {
    this.assertOpen('set');
    return this.state.write(key, encoded);
  }

  /** @internal The encoded value at `key` (a delta's whole value, for a page whose updates coalesce). */
  _encoded(key: string): string | undefined {
    return this.state.current.get(key);
  }

  /**
   * @internal Close with retention given now rather than at construction
   * (the server closing a kernel's view of a domain with the kernel's options).
   */
  _closeWith(release: boolean, releaseAfterMs: number | undefined, owner?: string): void {
    this.release = release;
    this.releaseAfterMs = releaseAfterMs;
    this.owner = owner;
    this.close();
  }

  /** Remove this instance's callbacks; with `releaseStorage`, drop the data when it was the last one. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.changeCallbacks = undefined;
    this.stateCallbacks = undefined;
    this.encodedListeners = undefined;
    // the domain holds the bare instance; `this` is its proxy when called through it
    if (this.state.remove(bareStore(this))) {
      closeDomain(this.state, this.release, this.releaseAfterMs, this.owner);
    }
  }

  private assertOpen(op: string): void {
    if (this.closed) {
      throw new DatabenchError(
        'DATASTORE_CLOSED',
        `Datastore "${this.domain}" is closed: cannot ${op}`,
      );
    }
  }

  /** @internal Delivers one change to this instance's callbacks; collects their promises. */
  _deliver(
    change: Change,
    pending: PromiseLike<unknown>[] | undefined,
  ): PromiseLike<unknown>[] | undefined {
    // a callback that throws must not keep the change from the others: its
    // error rejects the write's Promise once everyone has the change
    const listeners = this.encodedListeners;
    if (listeners !== undefined) {
      if (Array.isArray(listeners)) {
        for (const listener of listeners) pending = notify(listener, change, this, pending);
      } else {
        pending = notify(listeners, change, this, pending);
      }
    }
    const changeCallbacks = this.changeCallbacks ?? NONE;
    for (let i = 0; i < changeCallbacks.length; i++) {
      const callback = changeCallbacks[i]!;
      let r: unknown;
      try {
        r = callback(change.key, change.decode());
      } catch (error) {
        r = Promise.reject(asError(error));
      }
      if (isThenable(r)) (pending ??= []).push(r);
    }
    const stateCallbacks = this.stateCallbacks ?? NONE;
    for (let i = 0; i < stateCallbacks.length; i++) {
      const callback = stateCallbacks[i]!;
      let r: unknown;
      try {
        r = callback({ [change.key]: change.decode() } as Partial<T>);
      } catch (error) {
        r = Promise.reject(asError(error));
      }
      if (isThenable(r)) (pending ??= []).push(r);
    }
    return pending;
  }
}
