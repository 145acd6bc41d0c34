// One analysis instance, from its creation to its disposal: the only code
// that makes, wires, snapshots, runs and releases the user's analysis. The
// kernel's session is one (it extends AnalysisInstance); AnalysisTest holds
// one. The analysis itself keeps only the user's API and one private link
// back here (InstanceLink): its wiring is no member of the user's class.
import type { DatastoreBackend } from '../datastore/backend.js';
import type { Change } from '../datastore/change.js';
import { bareStore, isLoaded, type Datastore } from '../datastore/datastore.js';
import { encodeValue } from '../protocol/encode.js';
import type { StoreSignal } from '../protocol/delta.js';
import {
  isPlainObject,
  keyMember,
  PROTOCOL,
  storeFrameFromMembers,
  type ErrorLoad,
} from '../protocol/messages.js';
import type { Logger } from '../util/logger.js';
import { didYouMean } from '../util/nearest.js';
import { ActionQueue } from '../util/queue.js';
import {
  ActionRun,
  endLoad,
  enterRun,
  handlerStarts,
  handlerWaits,
  leaveRun,
  runningOf,
  type Running,
} from './action-run.js';
import { actionTable, type ActionTable } from './actions.js';
import {
  Analysis,
  internals,
  type AnalysisClass,
  type AnyAnalysis,
  type InstanceLink,
} from './analysis.js';
import { bindArguments } from './bind.js';
import type { AuthUser } from './user.js';
import { errorLocation } from './error-location.js';
import { PositionalCall } from './upload.js';

/**
 * Where an instance sends its page's frames: the server's session, a
 * kernel thread's port, AnalysisTest's recorder (an object, so a page costs
 * no closures). `change` is the fast path for datastore changes that no
 * `data_<key>` method transforms: encoded once, never re-encoded.
 */
export interface PageSink {
  emit(signal: string, message: unknown): unknown;
  change(signal: StoreSignal, change: Change): unknown;
}

/** How a served analysis reports failures to its page's error panel (`__error` frames). */
export interface ErrorReporting {
  /** Send the file:line of the user's code (off with `--no-error-details`, or on a public bind). */
  details: boolean;
  /** The analyses folder: the first stack frame in it is the user's code, shown relative to it. */
  root: string;
}

/** Options of {@link AnalysisInstance.create}. */
export interface InstanceOptions {
  /** Resume this id (its `data` is found again); undefined: a new one. Not used when adopting an analysis. */
  readonly id?: string | undefined;
  /** The page resumed an earlier session of `id` ({@link Analysis.resumed}). Default: false. */
  readonly resumed?: boolean | undefined;
  /** Where the analysis logs. Default: the analysis's own (the default logger). */
  readonly logger?: Logger | undefined;
  /** Who the page's retained `data` counts against (its remote address). */
  readonly owner?: string | undefined;
  /** The backend of `data` and `classData` (the server's datastore). Default: in memory. */
  readonly backend?: DatastoreBackend | undefined;
  /**
   * The domain of `classData` (the app decides it per analysis: see
   * `AnalysisEntry.classDomain`). Default: the class name.
   */
  readonly classDomain?: string | undefined;
  /**
   * The domain of `data`. Default: the id, bound to the user (`id@user`)
   * when one signed in (see `sessionDataDomain`).
   */
  readonly dataDomain?: string | undefined;
  /**
   * The domain of `userData` (the server names it by the user and the
   * analysis). Default: by the user and the class's domain; the session's
   * own when nobody signed in (see `userDataDomain`).
   */
  readonly userDomain?: string | undefined;
  /** Send `__error` frames for the page's error panel; undefined: only the `error` signal. */
  readonly reporting?: ErrorReporting | undefined;
  /** Who opened the page (`this.user`); undefined: nobody signed in. */
  readonly user?: AuthUser | undefined;
}

/** What a `connect`, `args` or `connected` step may return: undefined when it did not wait. */
type Step = Promise<void> | undefined;

const RESOLVED: Promise<void> = Promise.resolve();

/** Actions every analysis has; running one with no handler is not worth a warning. */
const BUILT_IN = new Set(['connect', 'args', 'connected', 'disconnected', 'log', 'warn', 'error']);

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

type Transform = (value: unknown) => unknown;
interface Transforms {
  data: ReadonlyMap<string, Transform>;
  classData: ReadonlyMap<string, Transform>;
}
const NO_TRANSFORMS: Transforms = { data: new Map(), classData: new Map() };
const transformCache = new WeakMap<Function, Transforms>();

/** `data_<key>` / `class_data_<key>` methods of a class, found once per class. */
function transformsOf(cls: Function): Transforms {
  let t = transformCache.get(cls);
  if (t) return t;
  const data = new Map<string, Transform>();
  const classData = new Map<string, Transform>();
  for (
    let p = cls.prototype as object | null;
    p && p !== Object.prototype;
    p = Object.getPrototypeOf(p) as object | null
  ) {
    for (const name of Object.getOwnPropertyNames(p)) {
      const fn = Object.getOwnPropertyDescriptor(p, name)?.value as unknown;
      if (typeof fn !== 'function') continue;
      if (name.startsWith('class_data_') && !classData.has(name.slice(11))) {
        classData.set(name.slice(11), fn as Transform);
      } else if (name.startsWith('data_') && !data.has(name.slice(5))) {
        data.set(name.slice(5), fn as Transform);
      }
    }
  }
  t = data.size === 0 && classData.size === 0 ? NO_TRANSFORMS : { data, classData };
  transformCache.set(cls, t);
  return t;
}

/** What to await before the stores are loaded; undefined when they are (in memory, at once). */
function whenLoaded(
  data: Datastore<object>,
  classData: Datastore<object>,
  userData: Datastore<object> | undefined,
): Step {
  if (isLoaded(data) && isLoaded(classData) && (userData === undefined || isLoaded(userData))) {
    return undefined;
  }
  return Promise.all([data.ready, classData.ready, userData?.ready]).then(() => undefined);
}

function sendTo(link: InstanceLink | undefined, signal: string, message: unknown): Promise<void> {
  return link === undefined ? RESOLVED : link.send(signal, message);
}

/** A value of a snapshot too large for the page: its key and encoded size in bytes (at least). */
export interface OversizedValue {
  readonly key: string;
  /** Bytes of its encoding, or its length in characters when that alone is too many (fewer than its bytes). */
  readonly bytes: number;
}

/**
 * One analysis instance and the queue its actions run in. In order:
 * {@link create} (construct with the given id, link, open the stores on the
 * given backend, listen to them), await what it returns, {@link snapshotFrame}
 * for a page that connects or resumes, {@link lifecycle} (`connect`, `args`,
 * `connected`), {@link runAction} for each action, {@link abort} when the page
 * has gone, `disconnected`, {@link dispose}.
 *
 * The kernel's session extends it (one object per page), AnalysisTest holds
 * one. It is the analysis's {@link InstanceLink} (its frames go to `page`)
 * and the listener of its stores, so an analysis needs no wiring members.
 */
export class AnalysisInstance<A extends AnyAnalysis = AnyAnalysis, S extends PageSink = PageSink>
  extends ActionQueue
  implements InstanceLink
{
  /** The analysis; set by {@link create}. */
  analysis: A | undefined = undefined;
  /** What the base `initDatastores` opens the stores with: set only while {@link create} runs it. */
  storeOptions: InstanceOptions | undefined = undefined;
  /** The options {@link create} was given: a `userData` first used later is opened with them. */
  private options: InstanceOptions | undefined = undefined;
  private transforms: Transforms = NO_TRANSFORMS;
  /** The handlers of the analysis's class (set by {@link create}): looked up once, not per action. */
  protected actions: ActionTable | undefined = undefined;
  private reporting: ErrorReporting | undefined = undefined;
  /** The bare store of `userData` this instance listens to (a change from it is a `user_data` frame). */
  private userStore: Datastore<object> | undefined = undefined;

  constructor(
    /** Where the page's frames go. */
    protected readonly page: S,
  ) {
    super();
  }

  /**
   * Make the analysis (construct `from` with the given id, or adopt `from`
   * when it is an analysis already) and wire it: logger, stores on the given
   * backend (its `initDatastores`), frames and store changes to the page.
   * Returns what to await before the stores are loaded; undefined when they
   * are (in memory they are at once: no Promise, no await).
   */
  create(from: AnalysisClass<A> | A, options: InstanceOptions): Step {
    const analysis =
      typeof from === 'function' ? internals.construct(() => new from(), options.id) : from;
    this.analysis = analysis;
    if (options.resumed === true) internals.setResumed(analysis, true);
    if (options.logger) analysis.logger = options.logger;
    // before initDatastores: stores may be keyed by who opened the page
    if (options.user !== undefined) analysis.user = options.user;
    this.reporting = options.reporting;
    this.transforms = transformsOf(analysis.constructor);
    this.actions = actionTable(analysis.constructor);
    internals.link(analysis, this);
    this.options = options;
    this.storeOptions = options;
    try {
      analysis.initDatastores();
    } finally {
      this.storeOptions = undefined;
    }
    // the instance listens (handleDatastoreChange): no closures per page; no
    // unsubscribe handles kept: dispose() closes both stores, dropping listeners
    const [data, classData] = internals.stores(analysis);
    data.onEncodedChange(this);
    classData.onEncodedChange(this);
    // a user's store may hold what their other pages wrote, a resumed session's
    // what it left: opened now, for the snapshot; else on first use (most
    // pages without a login never use it: no store, no attach)
    if (
      internals.userData(analysis) === undefined &&
      (options.user !== undefined || options.resumed === true)
    ) {
      this.openUserData();
    } else {
      this.listenToUserData(internals.userData(analysis));
    }
    return whenLoaded(data, classData, internals.userData(analysis));
  }

  /** {@link InstanceLink}: make the default `userData` (see `initDatastores`) and listen to it. */
  openUserData(): void {
    const analysis = this.analysis;
    if (analysis === undefined) return;
    // first used inside initDatastores (create is running): the options
    // create set stay for the rest of it, and create subscribes afterwards
    const creating = this.storeOptions;
    this.storeOptions = this.options;
    try {
      internals.initUserData(analysis);
    } finally {
      this.storeOptions = creating;
    }
    if (creating === undefined) this.listenToUserData(internals.userData(analysis));
  }

  private listenToUserData(store: Datastore<object> | undefined): void {
    if (store === undefined) return;
    store.onEncodedChange(this);
    // the domain delivers from the bare store: one comparison per change tells it
    this.userStore = bareStore(store);
  }

  /** {@link InstanceLink}: send `signal` to the page. */
  send(signal: string, message: unknown): Promise<void> {
    const r = this.page.emit(signal, message);
    return isThenable(r) ? (r as Promise<void>) : RESOLVED;
  }

  /**
   * {@link InstanceLink}: a failure the analysis has logged goes to the page
   * as `error`; a served page's error panel also gets a `__error` frame with
   * the action and the file:line of the user's code.
   */
  sendError(where: string, message: string, error: unknown, action: string | undefined): void {
    void this.send('error', `${where} failed: ${message}`);
    const reporting = this.reporting;
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

  /** {@link InstanceLink}: a mistake of the page (an action no handler has), for a served page's error panel. */
  sendPageMistake(load: ErrorLoad): void {
    if (this.reporting) void this.send(PROTOCOL.errorSignal, load);
  }

  /** A change of `data`, `classData` or `userData` (the stores' listener), on its way to the page. */
  handleDatastoreChange(change: Change, store: Datastore<object>): unknown {
    // the domain delivers from the bare store; an assigned store may be a proxy
    const analysis = this.analysis!;
    const data = internals.data(analysis);
    if (store === data || store === bareStore(data)) {
      return this.forward('data', this.transforms.data, change);
    }
    if (store === this.userStore) {
      // no user_data_<key> transforms: the value goes as it is stored
      return this.page.change('user_data', change);
    }
    return this.forward('class_data', this.transforms.classData, change);
  }

  private forward(
    signal: 'data' | 'class_data',
    transforms: ReadonlyMap<string, Transform>,
    change: Change,
  ): unknown {
    const transform = transforms.size === 0 ? undefined : transforms.get(change.key);
    if (transform === undefined) return this.page.change(signal, change);
    const analysis = this.analysis!;
    let value: unknown;
    try {
      value = transform.call(analysis, change.decode());
    } catch (error) {
      const where = `${signal === 'data' ? 'data_' : 'class_data_'}${change.key}`;
      internals.reportError(analysis, where, error);
      return undefined;
    }
    return this.send(signal, { [change.key]: value });
  }

  /**
   * One `data`, `class_data` or `user_data` frame holding every key of that
   * store (after `data_<key>` transforms), or undefined when it is empty. Sent to a page
   * that connects or resumes, so it never shows stale state. A value whose
   * encoding is larger than `maxValueBytes` (what the page can receive) makes
   * no frame: its key and size come back instead, and nothing is copied.
   */
  snapshotFrame(
    signal: StoreSignal,
    maxValueBytes = Infinity,
  ): string | OversizedValue | undefined {
    const analysis = this.analysis!;
    const [data, classData] = internals.stores(analysis);
    const store =
      signal === 'data' ? data : signal === 'class_data' ? classData : internals.userData(analysis);
    if (store === undefined || store.size === 0) return undefined;
    const transforms =
      signal === 'data'
        ? this.transforms.data
        : signal === 'class_data'
          ? this.transforms.classData
          : NO_TRANSFORMS.data;
    const members: string[] = [];
    for (const [key, encoded] of store.encodedEntries()) {
      const transform = transforms.get(key);
      let value = encoded;
      if (transform) {
        try {
          value = encodeValue(transform.call(analysis, JSON.parse(encoded)), key);
        } catch (error) {
          const where = `${signal === 'data' ? 'data_' : 'class_data_'}${key}`;
          internals.reportError(analysis, where, error);
          continue;
        }
      }
      // a string's UTF-8 bytes are at least its length and at most three times
      // it: only a value between the two is counted (a scan of all of it)
      if (value.length > maxValueBytes) return { key, bytes: value.length };
      if (value.length * 3 > maxValueBytes) {
        const bytes = Buffer.byteLength(value);
        if (bytes > maxValueBytes) return { key, bytes };
      }
      members.push(keyMember(key, value));
    }
    return storeFrameFromMembers(signal, members);
  }

  /**
   * `connect`, `args` and `connected`, one after the other. Returns a
   * Promise only when a handler waits: most pages' do not, and every page
   * runs all three.
   */
  lifecycle(cliArgs: string[], requestArgs: Record<string, string[]>, step = 0): Step {
    for (; step < 3; step++) {
      const running =
        step === 0
          ? this.lifecycleStep('connect')
          : step === 1
            ? this.lifecycleStep('args', { cli_args: cliArgs, request_args: requestArgs })
            : this.lifecycleStep('connected');
      if (running !== undefined) {
        const next = step + 1;
        return running.then(() => this.lifecycle(cliArgs, requestArgs, next));
      }
    }
    return undefined;
  }

  /**
   * One lifecycle action, as {@link runAction}; but when the class keeps
   * the base class's own handler and has no `*` handler, that handler is
   * called directly (no call record, no argument binding).
   */
  private lifecycleStep(
    actionName: 'connect' | 'args' | 'connected',
    message?: { cli_args: string[]; request_args: Record<string, string[]> },
  ): Step {
    const analysis = this.analysis!;
    const table = actionTable(analysis.constructor);
    const handlers = table.handlers.get(actionName);
    const base: unknown = Reflect.get(Analysis.prototype, `on_${actionName}`);
    if (table.wildcard.length > 0 || handlers?.length !== 1 || handlers[0]?.method !== base) {
      return this.runAction(actionName, message);
    }
    // the base handlers do not throw: on_connect and on_connected are empty,
    // on_args sets two fields
    if (message !== undefined) void analysis.on_args(message.cli_args, message.request_args);
    return undefined;
  }

  /** Run an action on the analysis (see {@link runAction}, the function). */
  runAction(actionName: string, message?: unknown, run?: ActionRun): Promise<void> {
    return runAction(this.analysis!, this, actionName, message, run, this.actions);
  }

  /** The page has gone: the analysis's `signal` aborts at once, before `disconnected` runs. */
  abort(): void {
    if (this.analysis !== undefined) internals.abort(this.analysis);
  }

  /** The session ended: release the analysis's stores, timers and link to the page. */
  dispose(): void {
    if (this.analysis !== undefined) internals.release(this.analysis);
  }
}

/**
 * Call one handler of `run`: until it first waits (or returns) it is known
 * to run for `run` (see `handlerStarts` in action-run.ts).
 */
function invoke(
  analysis: AnyAnalysis,
  r: Running,
  run: ActionRun,
  method: Function,
  args: unknown[],
): unknown {
  handlerStarts(r, run);
  try {
    return method.apply(analysis, args);
  } finally {
    handlerWaits(r);
  }
}

/** Actions a page cannot send: not worth suggesting. */
const SERVER_ONLY = new Set(['connect', 'args', 'connected', 'disconnected']);

/**
 * `no handler for 'cuont' on Counter (did you mean 'count'?)`: what the
 * error panel says of an action no handler has.
 */
export function noHandlerText(action: string, className: string, table: ActionTable): string {
  const names = [...table.handlers.keys()].filter((name) => !SERVER_ONLY.has(name)).sort();
  return `no handler for '${action}' on ${className}${didYouMean(action, names)}`;
}

/**
 * Run the action `actionName` on `analysis`: every handler of the action and
 * every `*` handler, one after the other; frames go through `link` (the
 * analysis's instance; none: nowhere). An object message with
 * `__process_id` gets `__process` start and end frames around the run (the
 * end frame has `error: true` when a handler failed, `cancelled: true` when
 * the call was cancelled). A handler that throws becomes an `error` signal;
 * the returned Promise never rejects. `run` is the call as the kernel's
 * session tracks it (its abort signal, for `__cancel`); without it the call
 * gets one of its own. `actions`: the class's action table, when the caller
 * holds it already.
 */
export async function runAction(
  analysis: AnyAnalysis,
  link: InstanceLink | undefined,
  actionName: string,
  message?: unknown,
  run?: ActionRun,
  actions?: ActionTable,
): Promise<void> {
  let load = message;
  let processId: unknown = null;
  let hasProcess = false;
  if (isPlainObject(load)) {
    if (PROTOCOL.processIdKey in load) {
      hasProcess = true;
      const { [PROTOCOL.processIdKey]: id, ...rest } = load;
      processId = id;
      load = rest;
    } else if (load instanceof PositionalCall) {
      // an upload's action: the file is the one argument, whatever its parameter's name
      hasProcess = load.processId !== null;
      processId = load.processId;
      load = load.args;
    }
  }
  const call = run ?? new ActionRun(actionName, processId);
  call.bind(link);
  if (hasProcess) {
    await sendTo(
      link,
      PROTOCOL.processSignal,
      call.concurrency === 'queue'
        ? { id: processId, status: 'start' }
        : { id: processId, status: 'start', concurrency: call.concurrency },
    );
  }
  const hasLoad = load !== undefined;
  const table = actions ?? actionTable(analysis.constructor);
  const handlers = table.handlers.get(actionName);
  const wildcard = table.wildcard;
  let failed = false;
  const r = runningOf(analysis);
  const outer = enterRun(r, call);
  try {
    if (handlers) {
      // (indexed loops: every action of every page runs them)
      for (let i = 0; i < handlers.length; i++) {
        const handler = handlers[i]!;
        const binding = bindArguments(actionName, handler.method, hasLoad, load);
        if (!binding.ok) {
          failed = true;
          analysis.logger.warn(`[${analysis.constructor.name} ${analysis.id}] ${binding.error}`);
          await sendTo(link, 'error', binding.error);
          continue;
        }
        try {
          await invoke(analysis, r, call, handler.method, binding.args);
        } catch (error) {
          failed = true;
          internals.reportError(analysis, `action "${actionName}"`, error, actionName);
        }
      }
    }
    for (let i = 0; i < wildcard.length; i++) {
      const handler = wildcard[i]!;
      try {
        await invoke(analysis, r, call, handler.method, [actionName, load]);
      } catch (error) {
        failed = true;
        internals.reportError(
          analysis,
          `action "${actionName}" (* handler ${handler.name})`,
          error,
          actionName,
        );
      }
    }
  } finally {
    leaveRun(r, call, outer);
  }
  const progress = call.finish();
  if (progress !== undefined) await progress;
  if (!handlers && wildcard.length === 0 && !BUILT_IN.has(actionName)) {
    // the base class's emit: a subclass's own `emit` does not replace the framework's warning
    await Analysis.prototype.emit.call(analysis, 'warn', `no handler for ${actionName}`);
    // and the page's error panel says which name was meant
    link?.sendPageMistake({
      action: actionName,
      where: `action "${actionName}"`,
      message: noHandlerText(actionName, analysis.constructor.name, table),
      location: null,
    });
  }
  if (hasProcess) await sendTo(link, PROTOCOL.processSignal, endLoad(call, failed));
}
