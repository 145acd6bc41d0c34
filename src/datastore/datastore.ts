import { encodeValue } from '../protocol/encode.js';
import { defaultBackend, type DatastoreBackend } from './backend.js';
import { Change } from './change.js';

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
}

/** A callback's result: a Promise makes the write wait for it. */
type MaybePromise = unknown;

/** A listener that receives changes still encoded (used by the server's fast path). */
export type EncodedListener =
  | ((change: Change) => MaybePromise)
  /** An object listener (like DOM's `handleEvent`): no closure per subscriber. */
  | { handleDatastoreChange(change: Change, store: Datastore<object>): MaybePromise };

const RESOLVED: Promise<void> = Promise.resolve();
const NONE: readonly never[] = [];

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Collects the promises of a fan-out without allocating when there are none. */
function settle(pending: PromiseLike<unknown>[] | undefined): Promise<void> {
  if (pending === undefined) return RESOLVED;
  if (pending.length === 1) return Promise.resolve(pending[0]).then(() => undefined);
  return Promise.all(pending).then(() => undefined);
}

interface Deliverer {
  _deliver(
    change: Change,
    pending: PromiseLike<unknown>[] | undefined,
  ): PromiseLike<unknown>[] | undefined;
}

/** The process-local state of one open domain: its mirror and the Datastores on it. */
class Domain {
  entries: Map<string, string> = new Map();
  // copy on write: a callback may open or close a store during a delivery,
  // and an array costs less than a Set for the one store most domains have
  stores: readonly Deliverer[] = [];
  ready: Promise<void>;
  constructor(
    readonly backend: DatastoreBackend,
    readonly name: string,
    releaseAfterMs: number | undefined,
  ) {
    const attached = backend.attach(
      name,
      (key, encoded) => this.applyRemote(key, encoded),
      releaseAfterMs === undefined ? undefined : { releaseAfterMs },
    );
    if (attached instanceof Map) {
      this.entries = attached;
      this.ready = RESOLVED;
    } else {
      this.ready = attached.then((map) => {
        // writes made locally before the load finished win over the loaded values
        for (const [k, v] of this.entries) map.set(k, v);
        this.entries = map;
      });
    }
  }

  write(key: string, encoded: string | undefined): Promise<void> {
    const current = this.entries.get(key);
    if (current === encoded) return RESOLVED;
    if (encoded === undefined) this.entries.delete(key);
    else this.entries.set(key, encoded);
    const persisted = this.backend.write(this.name, key, encoded);
    const delivered = this.deliver(new Change(key, encoded));
    if (persisted === undefined) return delivered;
    return Promise.all([persisted, delivered]).then(() => undefined);
  }

  applyRemote(key: string, encoded: string | undefined): void {
    if (this.entries.get(key) === encoded) return;
    if (encoded === undefined) this.entries.delete(key);
    else this.entries.set(key, encoded);
    // a change made elsewhere has no writer here to hear of a failing callback
    this.deliver(new Change(key, encoded)).catch(() => undefined);
  }

  private deliver(change: Change): Promise<void> {
    let pending: PromiseLike<unknown>[] | undefined;
    for (const store of this.stores) {
      pending = store._deliver(change, pending);
    }
    return settle(pending);
  }
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

function closeDomain(domain: Domain, release: boolean, releaseAfterMs: number | undefined): void {
  const registry = registries.get(domain.backend);
  if (registry?.get(domain.name) === domain) registry.delete(domain.name);
  void domain.backend.detach(domain.name, { release, releaseAfterMs });
}

/**
 * A key-value store scoped to a domain (an analysis id for `data`, a class
 * name for `classData`). Every Datastore on the same domain sees the same
 * data and gets every change.
 *
 * Values are stored as encoded JSON (see `encodeValue` in `databench/protocol`):
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
  private readonly release: boolean;
  private readonly releaseAfterMs: number | undefined;
  private readonly state: Domain;
  private closed = false;
  // undefined until used: most stores have one listener kind only
  private changeCallbacks: Array<(key: string, value: unknown) => MaybePromise> | undefined;
  private stateCallbacks: Array<(changes: Partial<T>) => MaybePromise> | undefined;
  private encodedListeners: EncodedListener[] | undefined;

  constructor(domain: string, options: DatastoreOptions = {}) {
    this.release = options.releaseStorage ?? false;
    this.releaseAfterMs = options.releaseAfterMs;
    this.state = openDomain(options.backend ?? defaultBackend, domain, this.releaseAfterMs);
    // exact-size copies (a spread allocates room for 16 more)
    this.state.stores = this.state.stores.length === 0 ? [this] : this.state.stores.concat(this);
  }

  /** The domain: an analysis id for `data`, a class name for `classData`. */
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
    // exact-size arrays: `push` or a spread would leave room for 16 more per store
    this.encodedListeners = this.encodedListeners
      ? this.encodedListeners.concat(listener)
      : [listener];
    return () => {
      this.encodedListeners = this.encodedListeners?.filter((l) => l !== listener);
    };
  }

  /** Call this store's callbacks once for every key it holds. */
  triggerAllChangeCallbacks(): Promise<void> {
    let pending: PromiseLike<unknown>[] | undefined;
    for (const [key, encoded] of this.state.entries) {
      pending = this._deliver(new Change(key, encoded), pending);
    }
    return settle(pending);
  }

  /** Set one key. */
  set<K extends keyof T & string>(key: K, value: T[K]): Promise<void> {
    this.assertOpen('set');
    return this.state.write(key, encodeValue(value, key));
  }

  /** Set several keys, like Python's `dict.update`. */
  update(values: Partial<T>): Promise<void> {
    this.assertOpen('update');
    // encode every value first: a bad value must not leave half an update behind
    const encoded: Array<[string, string]> = [];
    for (const key of Object.keys(values)) {
      encoded.push([key, encodeValue((values as Record<string, unknown>)[key], key)]);
    }
    let pending: Promise<void>[] | undefined;
    for (const [key, value] of encoded) {
      const p = this.state.write(key, value);
      if (p !== RESOLVED) (pending ??= []).push(p);
    }
    return settle(pending);
  }

  /** Set only the keys that are not present yet. */
  init(values: Partial<T>): Promise<void> {
    const missing: Record<string, unknown> = {};
    for (const key of Object.keys(values)) {
      if (!this.state.entries.has(key)) missing[key] = (values as Record<string, unknown>)[key];
    }
    return this.update(missing as Partial<T>);
  }

  /** `update` with an object, or with a function of this store that returns one (databench 0.7). */
  setState(values: Partial<T> | ((store: this) => Partial<T>)): Promise<void> {
    return this.update(typeof values === 'function' ? values(this) : values);
  }

  /** A copy of the value at `key`, or `defaultValue` when there is none. */
  get<K extends keyof T & string>(key: K): T[K] | undefined;
  get<K extends keyof T & string>(key: K, defaultValue: T[K]): T[K];
  get(key: string, defaultValue?: unknown): unknown {
    const encoded = this.state.entries.get(key);
    return encoded === undefined ? defaultValue : (JSON.parse(encoded) as unknown);
  }

  /** Whether `key` holds a value. */
  has(key: string): boolean {
    return this.state.entries.has(key);
  }

  /** Remove `key`; subscribers get the change with the value `null`. */
  delete(key: keyof T & string): Promise<void> {
    this.assertOpen('delete');
    if (!this.state.entries.has(key)) return RESOLVED;
    return this.state.write(key, undefined);
  }

  keys(): IterableIterator<string> {
    return this.state.entries.keys();
  }

  *values(): IterableIterator<T[keyof T]> {
    for (const encoded of this.state.entries.values()) yield JSON.parse(encoded) as T[keyof T];
  }

  *entries(): IterableIterator<[string, T[keyof T]]> {
    for (const [key, encoded] of this.state.entries) {
      yield [key, JSON.parse(encoded) as T[keyof T]];
    }
  }

  /** A plain-object copy of everything in the store. */
  toObject(): Partial<T> {
    const out: Record<string, unknown> = {};
    for (const [key, encoded] of this.state.entries) out[key] = JSON.parse(encoded);
    return out as Partial<T>;
  }

  /** The stored entries, still encoded (read-only view; used for snapshots). */
  encodedEntries(): IterableIterator<[string, string]> {
    return this.state.entries.entries();
  }

  get size(): number {
    return this.state.entries.size;
  }

  /** Remove this instance's callbacks; with `releaseStorage`, drop the data when it was the last one. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.changeCallbacks = undefined;
    this.stateCallbacks = undefined;
    this.encodedListeners = undefined;
    this.state.stores = this.state.stores.filter((s) => s !== this);
    if (this.state.stores.length === 0) {
      closeDomain(this.state, this.release, this.releaseAfterMs);
    }
  }

  private assertOpen(op: string): void {
    if (this.closed) {
      throw new Error(`Datastore "${this.domain}" is closed: cannot ${op}`);
    }
  }

  /** @internal Delivers one change to this instance's callbacks; collects their promises. */
  _deliver(
    change: Change,
    pending: PromiseLike<unknown>[] | undefined,
  ): PromiseLike<unknown>[] | undefined {
    // a callback that throws must not keep the change from the others: its
    // error rejects the write's Promise once everyone has the change
    for (const listener of this.encodedListeners ?? NONE) {
      let r: unknown;
      try {
        r =
          typeof listener === 'function'
            ? listener(change)
            : listener.handleDatastoreChange(change, this as unknown as Datastore<object>);
      } catch (error) {
        r = Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      // sessions of one server share one Promise per turn: keep it once
      if (isThenable(r) && pending?.[pending.length - 1] !== r) (pending ??= []).push(r);
    }
    for (const callback of this.changeCallbacks ?? NONE) {
      let r: unknown;
      try {
        r = callback(change.key, change.decode());
      } catch (error) {
        r = Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      if (isThenable(r)) (pending ??= []).push(r);
    }
    for (const callback of this.stateCallbacks ?? NONE) {
      let r: unknown;
      try {
        r = callback({ [change.key]: change.decode() } as Partial<T>);
      } catch (error) {
        r = Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      if (isThenable(r)) (pending ??= []).push(r);
    }
    return pending;
  }
}
