import { randomUUID } from 'node:crypto';
import type { DatastoreBackend } from '../datastore/backend.js';
import { Datastore } from '../datastore/datastore.js';
import type { Change } from '../datastore/change.js';
import { encodeValue } from '../protocol/encode.js';
import { getDefaultLogger, type Logger } from './logger.js';

/** The function an analysis emits through: `(signal, message?)`; undefined message: no `load`. */
export type EmitFn = (signal: string, message?: unknown) => unknown;

/**
 * @internal Where a served analysis sends its frames: the server's session
 * (an object, so a page costs no closures). `change` is the fast path for
 * datastore changes: encoded once, never re-encoded.
 */
export interface PageSink {
  emit(signal: string, message: unknown): unknown;
  change(signal: 'data' | 'class_data', change: Change): unknown;
}

const RESOLVED: Promise<void> = Promise.resolve();
/** The emit function before one is set (shared: not a closure per instance). */
const noEmit: EmitFn = () => undefined;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** A fresh analysis id: a random UUID, 122 bits from a cryptographic source. */
export function newAnalysisId(): string {
  return randomUUID();
}

/** The backend a server chose for an instance's stores (module-private: not on the user's class). */
const backends = new WeakMap<object, DatastoreBackend>();

/**
 * @internal Make {@link Analysis.initDatastores} of `analysis` open its stores
 * on `backend` (the server's datastore). Called before `initDatastores`.
 */
export function setDatastoreBackend(analysis: object, backend: DatastoreBackend): void {
  backends.set(analysis, backend);
}

type Transform = (value: unknown) => unknown;
interface Transforms {
  data: Map<string, Transform>;
  classData: Map<string, Transform>;
}
const transformCache = new WeakMap<Function, Transforms>();

/** `data_<key>` / `class_data_<key>` methods of a class, found once per class. */
function transformsOf(cls: Function): Transforms {
  let t = transformCache.get(cls);
  if (t) return t;
  t = { data: new Map(), classData: new Map() };
  for (
    let p = cls.prototype as object | null;
    p && p !== Object.prototype;
    p = Object.getPrototypeOf(p) as object | null
  ) {
    for (const name of Object.getOwnPropertyNames(p)) {
      const fn = Object.getOwnPropertyDescriptor(p, name)?.value as unknown;
      if (typeof fn !== 'function') continue;
      if (name.startsWith('class_data_') && !t.classData.has(name.slice(11))) {
        t.classData.set(name.slice(11), fn as Transform);
      } else if (name.startsWith('data_') && !t.data.has(name.slice(5))) {
        t.data.set(name.slice(5), fn as Transform);
      }
    }
  }
  transformCache.set(cls, t);
  return t;
}

/**
 * The analysis: one instance per browser connection.
 *
 * Handle an action with a method `on_<action>` (or `@on` / `@onAction`),
 * write state to `this.data` (this page) or `this.classData` (every page of
 * this analysis), and every change reaches the page.
 *
 * @example
 * export class Hello extends Analysis<{ greeting: string }> {
 *   async on_greet(name = 'world') {
 *     await this.data.set('greeting', `Hello ${name}!`);
 *   }
 * }
 */
export class Analysis<
  Data extends object = Record<string, unknown>,
  ClassData extends object = Record<string, unknown>,
> {
  /**
   * How long a page's `data` is kept after it left, for the page to resume
   * it; at most 10000 such left-behind stores are kept. Override per class.
   * Default: one hour.
   */
  static dataRetentionMs = 60 * 60 * 1000;

  /** The analysis id (a random UUID); `data` is scoped to it. */
  id: string = newAnalysisId();
  /** This instance's own store. Created by {@link initDatastores}. */
  data!: Datastore<Data>;
  /** The store shared by every instance of this class (domain: the class name). */
  classData!: Datastore<ClassData>;
  /** The command-line flags the server did not know. */
  cliArgs: string[] = [];
  /** The page's query string, parsed like Python's `parse_qs`. */
  requestArgs: Record<string, string[]> = {};
  /** Where `log`/`warn`/`error` emits and handler failures are written. */
  logger: Logger = getDefaultLogger();

  private emitFn: EmitFn = noEmit;
  private sink: PageSink | undefined;
  private transforms: Transforms | undefined;
  // created on first use: an idle session should cost as little memory as possible
  private abort: AbortController | undefined;
  private aborted = false;
  private timers: Set<ReturnType<typeof setTimeout>> | undefined;

  /** Aborted when the session ends: pass it to fetches, check it in long loops. */
  get signal(): AbortSignal {
    if (!this.abort) {
      this.abort = new AbortController();
      if (this.aborted) this.abort.abort();
    }
    return this.abort.signal;
  }

  /**
   * Create `data` (domain: the id) and `classData` (domain: the class name),
   * on the server's datastore (`--datastore`; in memory by default).
   * Override to use another backend:
   * `this.data = new Datastore(this.id, { backend: myBackend })`.
   */
  initDatastores(): void {
    const backend = backends.get(this);
    this.data = new Datastore<Data>(this.id, {
      releaseAfterMs: (this.constructor as typeof Analysis).dataRetentionMs,
      backend,
    });
    this.classData = new Datastore<ClassData>(this.constructor.name, { backend });
  }

  /** Set the function emits go through (the server's socket, or AnalysisTest's recorder). */
  setEmitFn(fn: EmitFn): this {
    this.emitFn = fn;
    return this;
  }

  /**
   * Send `signal` to the page; with no message the frame has no `load`.
   * `log`, `warn` and `error` are also written to the server's log.
   */
  emit(signal: string, message?: unknown): Promise<void> {
    if (signal === 'log')
      this.logger.info(`[${this.constructor.name} ${this.id}] ${String(message)}`);
    else if (signal === 'warn')
      this.logger.warn(`[${this.constructor.name} ${this.id}] ${String(message)}`);
    else if (signal === 'error')
      this.logger.error(`[${this.constructor.name} ${this.id}] ${String(message)}`);
    return this.send(signal, message);
  }

  /** @internal Emit without writing to the server log. */
  send(signal: string, message?: unknown): Promise<void> {
    const r = this.sink ? this.sink.emit(signal, message) : this.emitFn(signal, message);
    return isThenable(r) ? (r as Promise<void>) : RESOLVED;
  }

  /** `setTimeout` that is cleared when the session ends; a throw becomes an `error` signal. */
  setTimeout(fn: () => unknown, ms: number): ReturnType<typeof setTimeout> {
    const handle = setTimeout(() => {
      this.timers?.delete(handle);
      this.runGuarded('timer', fn);
    }, ms);
    (this.timers ??= new Set()).add(handle);
    return handle;
  }

  /** `setInterval` that is cleared when the session ends; a throw becomes an `error` signal. */
  setInterval(fn: () => unknown, ms: number): ReturnType<typeof setInterval> {
    const handle = setInterval(() => this.runGuarded('interval', fn), ms);
    (this.timers ??= new Set()).add(handle);
    return handle;
  }

  /** Stop a timer made with {@link setTimeout} or {@link setInterval}. */
  clearTimer(handle: ReturnType<typeof setTimeout>): void {
    clearTimeout(handle);
    this.timers?.delete(handle);
  }

  private runGuarded(what: string, fn: () => unknown): void {
    const fail = (error: unknown): void => this.reportError(what, error);
    try {
      const r = fn();
      if (isThenable(r)) r.then(undefined, fail);
    } catch (error) {
      fail(error);
    }
  }

  /** @internal An error in a handler or timer: to the page as `error`, with the stack to the log. */
  reportError(where: string, error: unknown): void {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const stack = error instanceof Error && error.stack ? error.stack : message;
    this.logger.error(`[${this.constructor.name} ${this.id}] ${where} failed: ${stack}`);
    void this.send('error', `${where} failed: ${message}`);
  }

  // built-in actions ---------------------------------------------------------

  /** The first action of a session (no message). */
  on_connect(): void | Promise<void> {}

  /** Sets {@link cliArgs} and {@link requestArgs}. Call `super.on_args(…)` when you override it. */
  on_args(
    cli_args: string[] = [],
    request_args: Record<string, string[]> = {},
  ): void | Promise<void> {
    this.cliArgs = cli_args;
    this.requestArgs = request_args;
  }

  /** Runs after `connect` and `args`: initialise the page's state here. */
  on_connected(): void | Promise<void> {}

  /** Runs when the page's socket has closed. */
  on_disconnected(): void | Promise<void> {}

  /** The page logs to the server's log. */
  on_log(...args: unknown[]): void {
    this.logger.info(`[frontend ${this.id}] ${args.map(String).join(' ')}`);
  }

  on_warn(...args: unknown[]): void {
    this.logger.warn(`[frontend ${this.id}] ${args.map(String).join(' ')}`);
  }

  on_error(...args: unknown[]): void {
    this.logger.error(`[frontend ${this.id}] ${args.map(String).join(' ')}`);
  }

  // wiring, used by Meta / the server / AnalysisTest --------------------------

  /**
   * @internal Route emits and datastore changes to the page. With a `sink` (the
   * server), changes that no `data_<key>` method transforms go out still
   * encoded; everything else goes through `emit`.
   */
  wireDatastores(sink?: PageSink): void {
    this.sink = sink;
    this.transforms = transformsOf(this.constructor);
    // the analysis itself listens (handleDatastoreChange): no closures per page; no
    // unsubscribe handles kept: dispose() closes both stores, dropping listeners
    this.data.onEncodedChange(this);
    this.classData.onEncodedChange(this);
  }

  /** @internal A change of `data` or `classData`, on its way to the page. */
  handleDatastoreChange(change: Change, store: Datastore<object>): unknown {
    const t = this.transforms ?? transformsOf(this.constructor);
    return store === (this.data as Datastore<object>)
      ? this.forward('data', t.data, change)
      : this.forward('class_data', t.classData, change);
  }

  private forward(
    signal: 'data' | 'class_data',
    transforms: Map<string, Transform>,
    change: Change,
  ): unknown {
    const transform = transforms.size === 0 ? undefined : transforms.get(change.key);
    if (transform === undefined && this.sink) return this.sink.change(signal, change);
    let value = change.decode();
    if (transform) {
      try {
        value = transform.call(this, value);
      } catch (error) {
        this.reportError(`${signal === 'data' ? 'data_' : 'class_data_'}${change.key}`, error);
        return undefined;
      }
    }
    return this.send(signal, { [change.key]: value });
  }

  /**
   * @internal One `data` or `class_data` frame holding every key of that
   * store (after `data_<key>` transforms), or undefined when it is empty.
   * Sent to a page that connects or resumes, so it never shows stale state.
   */
  snapshotFrame(signal: 'data' | 'class_data'): string | undefined {
    const store = signal === 'data' ? this.data : this.classData;
    if (store.size === 0) return undefined;
    const t = transformsOf(this.constructor);
    const transforms = signal === 'data' ? t.data : t.classData;
    const parts: string[] = [];
    for (const [key, encoded] of store.encodedEntries()) {
      const transform = transforms.get(key);
      let value = encoded;
      if (transform) {
        try {
          value = encodeValue(transform.call(this, JSON.parse(encoded)), key);
        } catch (error) {
          this.reportError(`${signal === 'data' ? 'data_' : 'class_data_'}${key}`, error);
          continue;
        }
      }
      parts.push(JSON.stringify(key) + ':' + value);
    }
    return '{"signal":"' + signal + '","load":{' + parts.join(',') + '}}';
  }

  /** @internal The page has gone: abort {@link signal} at once, before `disconnected` runs. */
  cancel(): void {
    this.aborted = true;
    this.abort?.abort();
  }

  /** @internal The session ended: release stores, callbacks and timers. */
  dispose(): void {
    this.cancel();
    for (const handle of this.timers ?? []) clearTimeout(handle);
    this.timers = undefined;
    this.data?.close();
    this.classData?.close();
    this.emitFn = noEmit;
    this.sink = undefined;
  }
}

/** Any analysis, whatever its data types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyAnalysis = Analysis<any, any>;

/** A class that makes analyses (the thing `analysis.ts` exports). */
export type AnalysisClass<A extends AnyAnalysis = AnyAnalysis> = new () => A;

/** Whether `value` is an Analysis subclass (works across module copies by checking the chain). */
export function isAnalysisClass(value: unknown): value is AnalysisClass {
  if (typeof value !== 'function') return false;
  for (let p = value as Function | null; p; p = Object.getPrototypeOf(p) as Function | null) {
    if (p === Analysis) return true;
  }
  return false;
}
