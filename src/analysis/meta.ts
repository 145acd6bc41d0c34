import type { DatastoreBackend } from '../datastore/backend.js';
import { isLoaded } from '../datastore/datastore.js';
import { isPlainObject, PROTOCOL } from '../protocol/messages.js';
import { ActionRun, endLoad, setCurrentRun, currentRun } from './action-run.js';
import { actionTable } from './actions.js';
import {
  Analysis as AnalysisBase,
  clearDatastoreWiring,
  constructWithId,
  setAnalysisOwner,
  setDatastoreBackend,
  storesOf,
  type AnalysisClass,
  type AnyAnalysis as Analysis,
  type EmitFn,
  type PageSink,
} from './analysis.js';
import { bindArguments } from './bind.js';
import type { ExtraRoute } from './routes.js';
import type { Logger } from '../util/logger.js';

/** Actions every analysis has; running one with no handler is not worth a warning. */
const BUILT_IN = new Set(['connect', 'args', 'connected', 'disconnected', 'log', 'warn', 'error']);

/** Options of {@link Meta.createAnalysis}. */
export interface CreateAnalysisOptions {
  /** Resume this id (its `data` is found again), or undefined for a new one. */
  id?: string;
  /** Where emits go, as a function (what `setEmitFn` takes). */
  emit?: EmitFn;
  /** Where emits and datastore changes go, as an object (the server's session). */
  sink?: PageSink;
  logger?: Logger;
  /** Who the page's retained `data` counts against (see `setAnalysisOwner`). */
  owner?: string;
  /** The backend of `data` and `classData` (the server's datastore). Default: in memory. */
  backend?: DatastoreBackend;
}

/**
 * One kind of analysis as the server knows it: its name, class, folder,
 * extra routes and command-line arguments.
 */
export class Meta {
  constructor(
    readonly name: string,
    readonly analysisClass: AnalysisClass,
    readonly analysisPath: string,
    readonly extraRoutes: ExtraRoute[] = [],
    readonly cliArgs: string[] = [],
  ) {}

  /**
   * A new, wired instance: id set, datastores created and ready, emits routed.
   * The caller runs `connect`, `args` and `connected`.
   */
  async createAnalysis(options: CreateAnalysisOptions): Promise<Analysis> {
    const analysis = this.instantiate(options);
    const ready = Meta.whenReady(analysis);
    if (ready !== undefined) await ready;
    return analysis;
  }

  /**
   * @internal {@link createAnalysis} without waiting for the datastores: a
   * session awaits {@link whenReady} only when there is something to wait
   * for (in memory there is not).
   */
  instantiate(options: CreateAnalysisOptions): Analysis {
    const analysis = constructWithId(() => new this.analysisClass(), options.id);
    if (options.logger) analysis.logger = options.logger;
    if (options.emit) analysis.setEmitFn(options.emit);
    if (options.owner) setAnalysisOwner(analysis, options.owner);
    if (options.backend) setDatastoreBackend(analysis, options.backend);
    analysis.initDatastores();
    clearDatastoreWiring(analysis);
    analysis.wireDatastores(options.sink);
    return analysis;
  }

  /** @internal What to await before `analysis`'s stores are loaded; undefined when they are. */
  static whenReady(analysis: Analysis): Promise<void> | undefined {
    const [data, classData] = storesOf(analysis);
    const loaded = isLoaded(data);
    if (loaded && isLoaded(classData)) return undefined;
    return loaded
      ? classData.ready
      : Promise.all([data.ready, classData.ready]).then(() => undefined);
  }

  /**
   * @internal Run a lifecycle action (`connect`, `args`, `connected`) of a new session:
   * as {@link runProcess}, but when the class keeps the base class's own
   * handler and has no `*` handler, that handler is called directly (no
   * call record, no argument binding): most analyses override only some of
   * these, and every page runs all three.
   */
  static runLifecycle(
    analysis: Analysis,
    actionName: 'connect' | 'args' | 'connected',
    message?: { cli_args: string[]; request_args: Record<string, string[]> },
  ): Promise<void> | undefined {
    const table = actionTable(analysis.constructor);
    const handlers = table.handlers.get(actionName);
    const base: unknown = Reflect.get(AnalysisBase.prototype, `on_${actionName}`);
    if (table.wildcard.length > 0 || handlers?.length !== 1 || handlers[0]?.method !== base) {
      return Meta.runProcess(analysis, actionName, message);
    }
    // the base handlers do not throw: on_connect and on_connected are empty,
    // on_args sets two fields
    if (message !== undefined) void analysis.on_args(message.cli_args, message.request_args);
    return undefined;
  }

  /**
   * Run the action `actionName` on `analysis` with `message`: every handler of
   * the action and every `*` handler, one after the other. An object message
   * with `__process_id` gets `__process` start and end frames around the run
   * (the end frame has `error: true` when a handler failed, `cancelled: true`
   * when the call was cancelled). A handler that throws becomes an `error`
   * signal; the returned Promise never rejects. `run` is the call as the
   * kernel's session tracks it (its abort signal, for `__cancel`); without
   * it the call gets one of its own.
   *
   * @example await Meta.runProcess(analysis, 'run', { samples: 1000, __process_id: 3 });
   */
  static async runProcess(
    analysis: Analysis,
    actionName: string,
    message?: unknown,
    run?: ActionRun,
  ): Promise<void> {
    let load = message;
    let processId: unknown = null;
    let hasProcess = false;
    if (isPlainObject(load) && PROTOCOL.processIdKey in load) {
      hasProcess = true;
      const { [PROTOCOL.processIdKey]: id, ...rest } = load;
      processId = id;
      load = rest;
    }
    const call = run ?? new ActionRun(actionName, processId);
    call.bind((progress) => analysis.send(PROTOCOL.processSignal, progress));
    if (hasProcess) {
      await analysis.send(
        PROTOCOL.processSignal,
        call.concurrency === 'queue'
          ? { id: processId, status: 'start' }
          : { id: processId, status: 'start', concurrency: call.concurrency },
      );
    }
    const hasLoad = load !== undefined;
    const table = actionTable(analysis.constructor);
    const handlers = table.handlers.get(actionName);
    let failed = false;

    if (handlers) {
      for (const handler of handlers) {
        const binding = bindArguments(actionName, handler.method, hasLoad, load);
        if (!binding.ok) {
          failed = true;
          analysis.logger.warn(`[${analysis.constructor.name} ${analysis.id}] ${binding.error}`);
          await analysis.send('error', binding.error);
          continue;
        }
        try {
          setCurrentRun(analysis, call);
          await handler.method.apply(analysis, binding.args);
        } catch (error) {
          failed = true;
          analysis.reportError(`action "${actionName}"`, error, actionName);
        }
      }
    }
    for (const handler of table.wildcard) {
      try {
        setCurrentRun(analysis, call);
        await handler.method.call(analysis, actionName, load);
      } catch (error) {
        failed = true;
        analysis.reportError(
          `action "${actionName}" (* handler ${handler.name})`,
          error,
          actionName,
        );
      }
    }
    if (currentRun(analysis) === call) setCurrentRun(analysis, undefined);
    await call.finish();
    if (!handlers && table.wildcard.length === 0 && !BUILT_IN.has(actionName)) {
      await analysis.emit('warn', `no handler for ${actionName}`);
    }
    if (hasProcess) await analysis.send(PROTOCOL.processSignal, endLoad(call, failed));
  }
}
