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
import { describeError, safeString } from '../protocol/errors.js';
import { escapeLogText } from '../protocol/log-text.js';
import type { ErrorLoad } from '../protocol/messages.js';
import { LogRateLimit } from '../util/log-limit.js';
import { currentRun, type ActionHandle } from './action-run.js';
import { sessionDataDomain, userDataDomain, type AuthUser } from './user.js';
import { getDefaultLogger, type Logger } from '../util/logger.js';

/** A function that receives what an analysis emits: `(signal, message?)`; undefined message: no `load`. */
export type EmitFn = (signal: string, message?: unknown) => unknown;

/**
 * What an analysis reaches of the instance that owns it (the
 * AnalysisInstance of instance.ts: the kernel's session, or AnalysisTest's):
 * where its frames go and how its failures reach the page. One private
 * field of the analysis holds it, so no member a user's subclass defines can
 * replace the framework's code.
 */
export interface InstanceLink {
  /**
   * The backend, owner and `classData` domain the base
   * {@link Analysis.initDatastores} opens the stores with; set only while the
   * instance creates them.
   */
  readonly storeOptions:
    | {
        readonly backend?: DatastoreBackend | undefined;
        readonly owner?: string | undefined;
        readonly classDomain?: string | undefined;
        /** The domain of `data` (default: the id; the server binds it to the user). */
        readonly dataDomain?: string | undefined;
        /** The domain of `userData` (default: from the user and the class's domain). */
        readonly userDomain?: string | undefined;
      }
    | undefined;
  /**
   * Make the default `userData` now (its first use) and send its changes
   * to the page: a session without a user that never uses it opens no store.
   */
  openUserData(): void;
  /** Send `signal` to the page (no server log). */
  send(signal: string, message: unknown): Promise<void>;
  /** A failure the analysis has logged: the page's `error` frame and error panel. */
  sendError(where: string, message: string, error: unknown, action: string | undefined): void;
  /**
   * A mistake of the page for its error panel only (no `error` frame): an
   * action no handler has. Sent to served pages; AnalysisTest records none.
   */
  sendPageMistake(load: ErrorLoad): void;
}

const RESOLVED: Promise<void> = Promise.resolve();

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

/** @internal What instance.ts reaches of an analysis's private state (see {@link internals}). */
export interface AnalysisInternals {
  /**
   * Construct an analysis with its id given (the server issued it): its `id`
   * initializer takes it instead of drawing a UUID that would be replaced at
   * once. Only the outermost analysis takes it (a constructor may make others).
   */
  construct<A>(make: () => A, id: string | undefined): A;
  /** Tie `analysis` to the instance that owns it (undefined: to none). */
  link(analysis: AnyAnalysis, owner: InstanceLink | undefined): void;
  /** Mark `analysis` as the resumed session of a page that came back (see {@link Analysis.resumed}). */
  setResumed(analysis: AnyAnalysis, resumed: boolean): void;
  /** The instance `analysis` is tied to. */
  linkOf(analysis: AnyAnalysis): InstanceLink | undefined;
  /**
   * The stores behind `data` and `classData` as they were created or
   * assigned, without making their item-access proxies (the framework's own
   * reads: an idle page never gets a proxy).
   */
  stores(analysis: AnyAnalysis): [data: Datastore<object>, classData: Datastore<object>];
  /** The store behind `data` (a change's way to the page asks it, per change). */
  data(analysis: AnyAnalysis): Datastore<object>;
  /**
   * The store behind `userData`, as created or assigned; undefined until it
   * is first used (see {@link Analysis.userData}).
   */
  userData(analysis: AnyAnalysis): Datastore<object> | undefined;
  /** Create the default `userData` (see {@link Analysis.initDatastores}). */
  initUserData(analysis: AnyAnalysis): void;
  /** An error in a handler or a transform: logged with its stack, then to the page. */
  reportError(analysis: AnyAnalysis, where: string, error: unknown, action?: string): void;
  /** The page has gone: abort `signal` at once, before `disconnected` runs. */
  abort(analysis: AnyAnalysis): void;
  /** The session ended: release stores, timers and the page. */
  release(analysis: AnyAnalysis): void;
}

/**
 * @internal The one way into an analysis's wiring, used by instance.ts.
 * Not a member of the class: a user's own `send()` or `dispose()` is just a
 * method of theirs. Assigned once, by Analysis's static block (it reaches
 * the private fields).
 */
export let internals: AnalysisInternals;

/** Reading a store before the session opened it (in a constructor or a field initialiser). */
function notYetOpen(name: 'data' | 'classData' | 'userData'): Error {
  return new Error(
    `this.${name} was read before the session opened the stores (in a constructor or a ` +
      'field initialiser?): they are made after the constructor, when the session starts. ' +
      `Use this.${name} in initDatastores (after super.initDatastores()), connect or an action handler.`,
  );
}

/** A fresh analysis id: a random UUID, 122 bits from a cryptographic source. */
export function newAnalysisId(): string {
  return randomUUID();
}

/** The id the next Analysis constructed takes (see {@link AnalysisInternals.construct}). */
let presetId: string | undefined;

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

/** Log levels of the page's `log`, `warn` and `error` actions. */
type PageLogLevel = 'info' | 'warn' | 'error';

/**
 * The analysis: one instance per browser connection.
 *
 * Handle an action with a method `on_<action>` (or `@on` / `@onAction`),
 * write state to `this.data` (this page) or `this.classData` (every page of
 * this analysis), and every change reaches the page.
 *
 * The framework's own state and wiring are private (`#` fields): a method or
 * field of yours named `send`, `dispose` or `cancel` is yours alone.
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
  UserData extends object = Record<string, unknown>,
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
   * True when this session resumed an earlier one of the same page: a page
   * reloaded by a save of the analysis's code, refreshed by the user, or
   * reconnected after a lost connection. Its `data` is what the earlier
   * session left (the page has it already); `classData` is kept anyway.
   * Instance fields are not: they start as the constructor sets them. Read
   * it in `on_connected` to skip initialising what `data` already holds
   * (`data.init` keeps existing keys by itself).
   *
   * @example
   * override async on_connected() {
   *   if (this.resumed) return; // the page shows what data holds
   *   await this.data.set('clicks', 0);
   * }
   */
  get resumed(): boolean {
    return this.#resumed;
  }
  /**
   * This instance's own store. Created by {@link initDatastores}. Its keys
   * also read and write as items, as databench 0.7's `self.data['pi'] = …`:
   * `this.data['pi'] = 3.14` changes the store at once and sends the change.
   */
  get data(): DataProxy<Data> {
    return (this.#dataView ??= this.#view(this.#data, 'data'));
  }
  /**
   * The domain of this session's `data` in the datastore: the session id,
   * bound to the signed-in user when there is one (`<id>@<user>`, so that
   * another user's page cannot resume it). An `initDatastores` override
   * that opens `data` on another backend opens it on this domain.
   *
   * @example
   * override initDatastores() {
   *   super.initDatastores();
   *   this.data = new Datastore(this.dataDomain, { backend: myBackend });
   * }
   */
  get dataDomain(): string {
    return this.#owner?.storeOptions?.dataDomain ?? sessionDataDomain(this.id, this.user);
  }
  /** Any Datastore can be assigned (an `initDatastores` override). */
  set data(store: Datastore<Data>) {
    this.#data = store;
    this.#dataView = undefined;
  }
  /**
   * The store shared by every page of this analysis (domain: the class name,
   * or `ClassName@analysisName` when another analysis of the folder has a
   * class of the same name).
   */
  get classData(): DataProxy<ClassData> {
    return (this.#classDataView ??= this.#view(this.#classData, 'classData'));
  }
  set classData(store: Datastore<ClassData>) {
    this.#classData = store;
    this.#classDataView = undefined;
  }
  /**
   * The store of the signed-in user ({@link user}), shared by every page of
   * that user on this analysis: other tabs, other devices, other server
   * processes on Redis. It follows the user where `data` stays with one
   * page. When nobody signed in it is a store of this session alone (kept
   * and resumed with `data`), so an analysis that uses it runs the same
   * without a login. Changes reach the page as `user_data` frames
   * (`d.on({ user_data: 'theme' }, …)`). Like `data`, it exists once the
   * session starts: read it in `initDatastores`, `connect` or a handler; a
   * constructor or a field initialiser that reads it gets an error.
   *
   * @example
   * async on_theme(theme: string) {
   *   await this.userData.set('theme', theme); // every page of this user follows
   * }
   */
  get userData(): DataProxy<UserData> {
    if (this.#userData === undefined) {
      // made on first use (a signed-in or resumed session has it from the start)
      const owner = this.#owner;
      if (owner !== undefined) owner.openUserData();
      // not yet tied to its session (a constructor, a field initialiser):
      // which store is the user's is not known yet
      else if (this.#data === undefined) throw notYetOpen('userData');
      else this.#initUserData();
    }
    return (this.#userDataView ??= this.#view(this.#userData, 'userData'));
  }
  set userData(store: Datastore<UserData>) {
    this.#userData = store;
    this.#userDataView = undefined;
  }
  // the stores as created (bare, see createBareStore) or assigned, and their
  // item-access proxies, made when the user's code first reads them
  #data: Datastore<Data> | undefined;
  #classData: Datastore<ClassData> | undefined;
  #userData: Datastore<UserData> | undefined;
  #dataView: DataProxy<Data> | undefined;
  #classDataView: DataProxy<ClassData> | undefined;
  #userDataView: DataProxy<UserData> | undefined;
  /** The instance that owns this analysis: where its frames go (none: nowhere). */
  #owner: InstanceLink | undefined;
  // created on first use: an idle session should cost as little memory as possible
  #abort: AbortController | undefined;
  #aborted = false;
  #resumed = false;
  #released = false;
  #timers: Set<ReturnType<typeof setTimeout>> | undefined;
  #logLimit: LogRateLimit | undefined;

  static {
    internals = {
      construct(make, id) {
        presetId = id;
        try {
          return make();
        } finally {
          presetId = undefined;
        }
      },
      link(analysis, owner) {
        analysis.#owner = owner;
      },
      setResumed(analysis, resumed) {
        analysis.#resumed = resumed;
      },
      linkOf: (analysis) => analysis.#owner,
      stores: (analysis) => [
        analysis.#data as Datastore<object>,
        analysis.#classData as Datastore<object>,
      ],
      data: (analysis) => analysis.#data as Datastore<object>,
      userData: (analysis) => analysis.#userData as Datastore<object> | undefined,
      initUserData(analysis) {
        analysis.#initUserData();
      },
      reportError(analysis, where, error, action) {
        analysis.#reportError(where, error, action);
      },
      abort(analysis) {
        analysis.#cancel();
      },
      release(analysis) {
        analysis.#release();
      },
    };
  }

  /**
   * The item-access proxy of a store; `this.data['key'] = value` has no one
   * awaiting it, so its failures are reported here.
   */
  #view<T extends object>(
    store: Datastore<T> | undefined,
    name: 'data' | 'classData' | 'userData',
  ): DataProxy<T> {
    if (store === undefined) throw notYetOpen(name);
    bareStore(store)._onAssignError = (key, error) =>
      this.#reportError(`${name}['${key}'] = …`, error);
    return itemAccess(store);
  }
  /** The command-line flags the server did not know. */
  cliArgs: string[] = [];
  /** The page's query string, parsed like Python's `parse_qs`. */
  requestArgs: Record<string, string[]> = {};
  /**
   * Who opened the page, when the server has a login (an `authenticate`
   * hook, OpenID Connect): `{ id, name?, email?, groups? }`; undefined when
   * nobody signed in (a token alone says nothing of who). Set before
   * `initDatastores` and `connect`, not in the constructor.
   */
  user: AuthUser | undefined = undefined;
  /** Where `log`/`warn`/`error` emits and handler failures are written. */
  logger: Logger = getDefaultLogger();

  /** Aborted when the session ends: pass it to fetches, check it in long loops. */
  get signal(): AbortSignal {
    if (!this.#abort) {
      this.#abort = new AbortController();
      if (this.#aborted) this.#abort.abort();
    }
    return this.#abort.signal;
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
   * Create `data` (domain: the id, bound to the user when one signed in)
   * and `classData` (domain: the class name; `ClassName@analysisName` when
   * another analysis of the folder has a class of the same name), on the
   * server's datastore (`--datastore`; in memory by default). `userData`
   * (domain: the user and the analysis) is made when a user signed in, when
   * the session resumed, or when it is first used.
   * Override to use another backend:
   * `this.data = new Datastore(this.dataDomain, { backend: myBackend })`
   * ({@link dataDomain}: the id, bound to the signed-in user; an override
   * may set `this.userData` too).
   */
  initDatastores(): void {
    // every Datastore is a DataProxy (its constructor returns the proxy)
    const given = this.#owner?.storeOptions;
    const owner = given?.owner;
    const backend = given?.backend;
    const releaseAfterMs = (this.constructor as typeof Analysis).dataRetentionMs;
    // bare: the proxies are made when the user's code reads `data`/`classData`
    this.data = createBareStore<Data>(
      this.dataDomain,
      owner === undefined ? { releaseAfterMs, backend } : { releaseAfterMs, owner, backend },
    );
    this.classData = createBareStore<ClassData>(given?.classDomain ?? this.constructor.name, {
      backend,
    });
  }

  /**
   * The default `userData`: the user's store, kept like `classData`; with
   * nobody signed in, the session's own, kept and resumed like `data`.
   */
  #initUserData(): void {
    const given = this.#owner?.storeOptions;
    const backend = given?.backend;
    const user = this.user;
    const dataDomain = given?.dataDomain ?? sessionDataDomain(this.id, user);
    const domain =
      given?.userDomain ??
      userDataDomain(user, given?.classDomain ?? this.constructor.name, dataDomain);
    if (user !== undefined) {
      this.userData = createBareStore<UserData>(domain, { backend });
      return;
    }
    const owner = given?.owner;
    const releaseAfterMs = (this.constructor as typeof Analysis).dataRetentionMs;
    this.userData = createBareStore<UserData>(
      domain,
      owner === undefined ? { releaseAfterMs, backend } : { releaseAfterMs, owner, backend },
    );
    // used after the session ended: a store as closed as `data` is
    if (this.#released) this.#userData!.close();
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
    const owner = this.#owner;
    if (owner === undefined) return RESOLVED;
    if (message === undefined && arguments.length > 1) return owner.send(signal, null);
    return owner.send(signal, message);
  }

  /** `setTimeout` that is cleared when the session ends; a throw becomes an `error` signal. */
  setTimeout(fn: () => unknown, ms: number): ReturnType<typeof setTimeout> {
    const handle = setTimeout(() => {
      this.#timers?.delete(handle);
      this.#runGuarded('timer', fn);
    }, ms);
    (this.#timers ??= new Set()).add(handle);
    return handle;
  }

  /** `setInterval` that is cleared when the session ends; a throw becomes an `error` signal. */
  setInterval(fn: () => unknown, ms: number): ReturnType<typeof setInterval> {
    const handle = setInterval(() => this.#runGuarded('interval', fn), ms);
    (this.#timers ??= new Set()).add(handle);
    return handle;
  }

  /** Stop a timer made with {@link setTimeout} or {@link setInterval}. */
  clearTimer(handle: ReturnType<typeof setTimeout>): void {
    clearTimeout(handle);
    this.#timers?.delete(handle);
  }

  #runGuarded(what: string, fn: () => unknown): void {
    // #reportError never throws (describeError), so a timer cannot take the process down
    const fail = (error: unknown): void => this.#reportError(what, error);
    try {
      const r = fn();
      if (isThenable(r)) r.then(undefined, fail);
    } catch (error) {
      fail(error);
    }
  }

  /**
   * An error in a handler or timer: the stack to the log; to the page as
   * `error`, and a served page's error panel gets the action and the
   * file:line of the user's code (see the instance's `sendError`).
   */
  #reportError(where: string, error: unknown, action?: string): void {
    // any thrown value (null, no prototype, throwing getters) is described without throwing
    const { message, stack } = describeError(error);
    this.logger.error(`[${this.constructor.name} ${shortId(this.id)}] ${where} failed: ${stack}`);
    this.#owner?.sendError(where, message, error, action);
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
    this.#pageLog('info', args);
  }

  /** The page warns in the server's log (bounded like {@link on_log}). */
  on_warn(...args: unknown[]): void {
    this.#pageLog('warn', args);
  }

  /** The page reports an error to the server's log (bounded like {@link on_log}). */
  on_error(...args: unknown[]): void {
    this.#pageLog('error', args);
  }

  #pageLog(level: PageLogLevel, args: unknown[]): void {
    const dropped = (this.#logLimit ??= new LogRateLimit()).take();
    if (dropped === false) return; // dropped: not even formatted
    const prefix = `[frontend ${shortId(this.id)}]`;
    if (dropped > 0) {
      this.logger.warn(`${prefix} ${dropped} log line(s) from this page dropped (rate limit)`);
    }
    this.logger[level](`${prefix} ${escapeLogText(args.map(logText).join(' '))}`);
  }

  // the end of a session, reached through `internals` by instance.ts ----------

  /** The page has gone: abort {@link signal} at once, before `disconnected` runs. */
  #cancel(): void {
    this.#aborted = true;
    this.#abort?.abort();
  }

  /** The session ended: release stores, callbacks and timers; emits go nowhere. */
  #release(): void {
    this.#cancel();
    const dropped = this.#logLimit?.pending ?? 0;
    if (dropped > 0) {
      this.logger.warn(
        `[frontend ${shortId(this.id)}] ${dropped} log line(s) from this page dropped (rate limit)`,
      );
    }
    this.#logLimit = undefined;
    for (const handle of this.#timers ?? []) clearTimeout(handle);
    this.#timers = undefined;
    this.#released = true;
    this.#data?.close();
    this.#classData?.close();
    this.#userData?.close();
    this.#owner = undefined;
  }
}

/** Any analysis, whatever its data types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyAnalysis = Analysis<any, any, any>;

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
