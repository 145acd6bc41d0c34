import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import type { DatastoreBackend } from '../datastore/backend.js';
import {
  bareStore,
  createBareStore,
  Datastore,
  itemAccess,
  type DataProxy,
} from '../datastore/datastore.js';
import type { Change } from '../datastore/change.js';
import { encodeValue } from '../protocol/encode.js';
import { describeError, safeString } from '../protocol/errors.js';
import { escapeLogText } from '../protocol/log-text.js';
import { LogRateLimit } from '../util/log-limit.js';
import { PROTOCOL, type ErrorLoad } from '../protocol/messages.js';
import { currentRun, type ActionHandle } from './action-run.js';
import { errorLocation } from './error-location.js';
import { getDefaultLogger, type Logger } from '../util/logger.js';

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

/** A message as a log line shows it: strings as they are, anything else readably (not `[object Object]`). */
function logText(message: unknown): string {
  if (typeof message === 'string') return message;
  try {
    return inspect(message, { depth: 4, breakLength: Infinity, compact: true });
  } catch {
    // a Proxy whose traps throw, and the like: never let logging fail
    return safeString(message);
  }
}

/** A fresh analysis id: a random UUID, 122 bits from a cryptographic source. */
export function newAnalysisId(): string {
  return randomUUID();
}

/** The id the next Analysis constructed takes (see {@link constructWithId}). */
let presetId: string | undefined;

/**
 * @internal Construct an analysis with its id given (the server issued it):
 * its `id` initializer takes it instead of drawing a UUID that would be
 * replaced at once.
 */
export function constructWithId<A>(make: () => A, id: string | undefined): A {
  presetId = id;
  try {
    return make();
  } finally {
    presetId = undefined;
  }
}

function initialId(): string {
  const id = presetId;
  if (id === undefined) return newAnalysisId();
  // only the outermost analysis takes it (a constructor may make others)
  presetId = undefined;
  return id;
}

/**
 * The part of an analysis id that may appear in logs: its first 8
 * characters. The whole id is the key that resumes a session, and logs are
 * read by more people than the page's user.
 */
export function shortId(id: string | undefined): string {
  return id === undefined ? 'starting' : id.slice(0, 8);
}

const ANALYSIS_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether `value` has the form of the ids we issue (a UUID): a page's `data`
 * domain, as opposed to a class's `classData` domain. Only such ids resume,
 * so a page can never open a class's store as its `data`.
 */
export function isAnalysisId(value: string): boolean {
  return ANALYSIS_ID.test(value);
}

/** Who each served analysis belongs to (its page's remote address): set before `initDatastores`. */
const owners = new WeakMap<object, string>();

/**
 * @internal Name who an analysis's page is (the server passes the remote
 * address, see `retentionOwner` in net.ts) before its datastores are created:
 * the `data` it leaves behind counts against that owner's share of what the
 * backend retains.
 */
export function setAnalysisOwner(analysis: object, owner: string): void {
  owners.set(analysis, owner);
}

/** Log levels of the page's `log`, `warn` and `error` actions. */
type PageLogLevel = 'info' | 'warn' | 'error';

/** @internal How a served analysis reports failures to its page's error panel. */
export interface ErrorReporting {
  /** Send the file:line of the user's code (off with `--no-error-details`, or on a public bind). */
  details: boolean;
  /** The analyses folder: the first stack frame in it is the user's code, shown relative to it. */
  root: string;
}

/** @internal Served analyses also send `__error` frames (AnalysisTest's recorder does not get them). */
// assigned once, by Analysis's static block (it reaches the private field)
export let setErrorReporting: (analysis: AnyAnalysis, reporting: ErrorReporting) => void;

/**
 * @internal The stores behind `data` and `classData` as they were created
 * or assigned, without making their item-access proxies (the server's own
 * reads: an idle page never gets a proxy).
 */
// assigned once, by Analysis's static block
export let storesOf: (
  analysis: AnyAnalysis,
) => [data: Datastore<object>, classData: Datastore<object>];

/** The backend a server chose for an instance's stores (module-private: not on the user's class). */
const backends = new WeakMap<object, DatastoreBackend>();

/**
 * @internal Make {@link Analysis.initDatastores} of `analysis` open its stores
 * on `backend` (the server's datastore). Called before `initDatastores`.
 */
export function setDatastoreBackend(analysis: object, backend: DatastoreBackend): void {
  backends.set(analysis, backend);
}

/**
 * @internal Forget the owner and backend given for `initDatastores` once it
 * ran: a WeakMap's table grows with what it holds, per open page.
 */
export function clearDatastoreWiring(analysis: object): void {
  owners.delete(analysis);
  backends.delete(analysis);
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
  id: string = initialId();
  /**
   * This instance's own store. Created by {@link initDatastores}. Its keys
   * also read and write as items, as databench 0.7's `self.data['pi'] = …`:
   * `this.data['pi'] = 3.14` changes the store at once and sends the change.
   */
  get data(): DataProxy<Data> {
    return (this.#dataView ??= this.#view(this.#data!, 'data'));
  }
  /** Any Datastore can be assigned (an `initDatastores` override). */
  set data(store: Datastore<Data>) {
    this.#data = store;
    this.#dataView = undefined;
  }
  /** The store shared by every instance of this class (domain: the class name). */
  get classData(): DataProxy<ClassData> {
    return (this.#classDataView ??= this.#view(this.#classData!, 'classData'));
  }
  set classData(store: Datastore<ClassData>) {
    this.#classData = store;
    this.#classDataView = undefined;
  }
  // the stores as created (bare, see createBareStore) or assigned, and their
  // item-access proxies, made when the user's code first reads them
  #data: Datastore<Data> | undefined;
  #classData: Datastore<ClassData> | undefined;
  #dataView: DataProxy<Data> | undefined;
  #classDataView: DataProxy<ClassData> | undefined;
  #reporting: ErrorReporting | undefined;

  static {
    setErrorReporting = (analysis, reporting) => {
      analysis.#reporting = reporting;
    };
    storesOf = (analysis) => [
      analysis.#data as Datastore<object>,
      analysis.#classData as Datastore<object>,
    ];
  }

  /**
   * The item-access proxy of a store; `this.data['key'] = value` has no one
   * awaiting it, so its failures are reported here.
   */
  #view<T extends object>(store: Datastore<T>, name: 'data' | 'classData'): DataProxy<T> {
    bareStore(store)._onAssignError = (key, error) =>
      this.reportError(`${name}['${key}'] = …`, error);
    return itemAccess(store);
  }
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
  private logLimit: LogRateLimit | undefined;

  /** Aborted when the session ends: pass it to fetches, check it in long loops. */
  get signal(): AbortSignal {
    if (!this.abort) {
      this.abort = new AbortController();
      if (this.aborted) this.abort.abort();
    }
    return this.abort.signal;
  }

  /**
   * The abort signal of the action whose handler runs: aborted when the page
   * cancels it (`d.cancel(processId)`, a wired button's Stop), when a newer
   * call of a `latest` action replaces it, or when the page goes away.
   * Outside an action it is {@link signal}. In a `parallel` action read it
   * (or {@link currentAction}) before the first `await`: later it names the
   * call that started last.
   *
   * @example
   * for (const chunk of chunks) {
   *   if (this.actionSignal.aborted) return; // the end frame says cancelled: true
   *   await work(chunk);
   * }
   */
  get actionSignal(): AbortSignal {
    return currentRun(this)?.signal ?? this.signal;
  }

  /** The call whose handler runs (its name, process id, signal and progress); undefined outside an action. */
  get currentAction(): ActionHandle | undefined {
    return currentRun(this);
  }

  /**
   * Report progress of the running action to the page: a `__process` frame
   * `{id, status: 'progress', action, fraction, message}`. A wired button
   * shows it as a bar, `<progress data-process="run">` follows it. Frames
   * are throttled to about 20 a second; the last one always goes out.
   * Outside an action it does nothing.
   *
   * @param fraction from 0 to 1 (clamped), or null when unknown
   * @example await this.progress(i / n, `chunk ${i} of ${n}`);
   */
  progress(fraction: number | null, message?: string): Promise<void> {
    return currentRun(this)?.progress(fraction, message) ?? RESOLVED;
  }

  /**
   * Create `data` (domain: the id) and `classData` (domain: the class name),
   * on the server's datastore (`--datastore`; in memory by default).
   * Override to use another backend:
   * `this.data = new Datastore(this.id, { backend: myBackend })`.
   */
  initDatastores(): void {
    // every Datastore is a DataProxy (its constructor returns the proxy)
    const owner = owners.get(this);
    const backend = backends.get(this);
    const releaseAfterMs = (this.constructor as typeof Analysis).dataRetentionMs;
    // bare: the proxies are made when the user's code reads `data`/`classData`
    this.data = createBareStore<Data>(
      this.id,
      owner === undefined ? { releaseAfterMs, backend } : { releaseAfterMs, owner, backend },
    );
    this.classData = createBareStore<ClassData>(this.constructor.name, { backend });
  }

  /**
   * Update `data` (databench 0.7's `set_state`): an object of keys, or a
   * function of the store that returns one.
   *
   * @example
   * await this.setState({ pi: 3.14, samples: 1000 });
   */
  setState(values: Partial<Data> | ((store: Datastore<Data>) => Partial<Data>)): Promise<void> {
    return this.data.setState(values);
  }

  /** Update `classData`, shared by every page of this analysis (0.7's `set_class_state`). */
  setClassState(
    values: Partial<ClassData> | ((store: Datastore<ClassData>) => Partial<ClassData>),
  ): Promise<void> {
    return this.classData.setState(values);
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
    if (signal === 'log' || signal === 'warn' || signal === 'error') {
      // the message often carries what a page sent: one escaped, bounded line
      const line = `[${this.constructor.name} ${shortId(this.id)}] ${escapeLogText(logText(message))}`;
      if (signal === 'log') this.logger.info(line);
      else if (signal === 'warn') this.logger.warn(line);
      else this.logger.error(line);
    }
    // emit(signal, undefined) is 0.7's emit(signal, None): `load: null`;
    // only emit(signal) sends a frame without load
    if (message === undefined && arguments.length > 1) return this.send(signal, null);
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
    // reportError never throws (describeError), so a timer cannot take the process down
    const fail = (error: unknown): void => this.reportError(what, error);
    try {
      const r = fn();
      if (isThenable(r)) r.then(undefined, fail);
    } catch (error) {
      fail(error);
    }
  }

  /**
   * @internal An error in a handler or timer: to the page as `error`, with
   * the stack to the log; a served page also gets a `__error` frame with the
   * action and the file:line of the user's code, for its error panel.
   */
  reportError(where: string, error: unknown, action?: string): void {
    // any thrown value (null, no prototype, throwing getters) is described without throwing
    const { message, stack } = describeError(error);
    this.logger.error(`[${this.constructor.name} ${shortId(this.id)}] ${where} failed: ${stack}`);
    void this.send('error', `${where} failed: ${message}`);
    const reporting = this.#reporting;
    if (reporting) {
      const load: ErrorLoad = {
        action: action ?? null,
        where,
        message,
        location: reporting.details ? errorLocation(error, reporting.root) : null,
      };
      void this.send(PROTOCOL.errorSignal, load);
    }
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

  /**
   * The page logs to the server's log: one line, control characters
   * escaped, cut at 1000 characters, at most 20 lines at once and 5 a
   * second per page (what is dropped is counted in the next line).
   */
  on_log(...args: unknown[]): void {
    this.pageLog('info', args);
  }

  /** The page warns in the server's log (bounded like {@link on_log}). */
  on_warn(...args: unknown[]): void {
    this.pageLog('warn', args);
  }

  /** The page reports an error to the server's log (bounded like {@link on_log}). */
  on_error(...args: unknown[]): void {
    this.pageLog('error', args);
  }

  private pageLog(level: PageLogLevel, args: unknown[]): void {
    const dropped = (this.logLimit ??= new LogRateLimit()).take();
    if (dropped === false) return; // dropped: not even formatted
    const prefix = `[frontend ${shortId(this.id)}]`;
    if (dropped > 0) {
      this.logger.warn(`${prefix} ${dropped} log line(s) from this page dropped (rate limit)`);
    }
    this.logger[level](`${prefix} ${escapeLogText(args.map(logText).join(' '))}`);
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
    this.#data!.onEncodedChange(this);
    this.#classData!.onEncodedChange(this);
  }

  /** @internal A change of `data` or `classData`, on its way to the page. */
  handleDatastoreChange(change: Change, store: Datastore<object>): unknown {
    const t = this.transforms ?? transformsOf(this.constructor);
    // the domain delivers from the bare store; an assigned store may be a proxy
    const data = this.#data as Datastore<object>;
    return store === data || store === bareStore(data)
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
    const store = (signal === 'data' ? this.#data : this.#classData) as Datastore<object>;
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
    const dropped = this.logLimit?.pending ?? 0;
    if (dropped > 0) {
      this.logger.warn(
        `[frontend ${shortId(this.id)}] ${dropped} log line(s) from this page dropped (rate limit)`,
      );
    }
    this.logLimit = undefined;
    for (const handle of this.timers ?? []) clearTimeout(handle);
    this.timers = undefined;
    this.#data?.close();
    this.#classData?.close();
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
