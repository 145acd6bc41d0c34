/**
 * How methods become action handlers: `on_<action>` by name, `@on` (the
 * method's own name) and `@onAction('name')` (TypeScript standard decorators).
 */

const decorated = new WeakMap<Function, string[]>();
/** The options given to `@on({ … })` / `@onAction(name, { … })`, per method. */
const optionsOf = new WeakMap<Function, ActionOptions>();

/** How many calls of one `parallel` action of one page run at once unless `maxParallel` says otherwise. */
export const DEFAULT_MAX_PARALLEL = 16;

/**
 * How calls of one action of one page relate:
 * - `queue` (the default, as databench 0.7): the page's queue: one after the
 *   other, in the order they arrived, with every other `queue` call of the
 *   page;
 * - `latest`: runs at once, beside the page's queue (a slider answers while a
 *   long run goes on); calls of the action never overlap: a new call drops
 *   the waiting one and aborts the running one (its `actionSignal`), and
 *   starts when that one has returned. With `exclusive: true` its calls wait
 *   in the page's queue instead;
 * - `parallel`: runs at once, beside whatever else runs (its button stays
 *   clickable); at most `maxParallel` calls of the action (16 by default)
 *   run at once for one page, later ones wait for one of them to end.
 *
 * An action that declares none runs as the page asks: a wired slider asks
 * for `latest`, everything else is `queue`.
 */
export type Concurrency = 'queue' | 'latest' | 'parallel';

/** Options of `@on({ … })` and `@onAction(name, { … })`. */
export interface ActionOptions {
  /** See {@link Concurrency}. Default: as the page asks (`latest` from a wired slider), else `'queue'`. */
  concurrency?: Concurrency;
  /**
   * With `concurrency: 'latest'`: its calls wait in the page's queue (and
   * the queue waits for them), for a handler that must not run while a
   * queued action is halfway through changing what it reads. Default: false.
   */
  exclusive?: boolean;
  /**
   * With `concurrency: 'parallel'`: how many calls of this action one page
   * runs at once; the next ones wait, in order, for one to end. A positive
   * integer, or `Infinity` for no bound.
   * @default 16
   */
  maxParallel?: number;
}

const CONCURRENCY: readonly Concurrency[] = ['queue', 'latest', 'parallel'];

function checkOptions(options: ActionOptions, who: string): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${who} options must be an object like { concurrency: 'latest' }`);
  }
  const c = options.concurrency;
  if (c !== undefined && !CONCURRENCY.includes(c)) {
    throw new TypeError(
      `${who}: concurrency must be one of ${CONCURRENCY.join(', ')}; got ${JSON.stringify(c)}`,
    );
  }
  const exclusive = options.exclusive;
  if (exclusive !== undefined && typeof exclusive !== 'boolean') {
    throw new TypeError(
      `${who}: exclusive must be true or false; got ${JSON.stringify(exclusive)}`,
    );
  }
  if (exclusive === true && c !== 'latest') {
    throw new TypeError(
      `${who}: exclusive goes with concurrency: 'latest' (a 'queue' action is exclusive already, a 'parallel' one never is)`,
    );
  }
  const max = options.maxParallel;
  if (max === undefined) return;
  if (c !== 'parallel') {
    throw new TypeError(`${who}: maxParallel goes with concurrency: 'parallel'`);
  }
  if (typeof max !== 'number' || !(max === Infinity || (Number.isInteger(max) && max >= 1))) {
    throw new TypeError(
      `${who}: maxParallel must be a positive integer or Infinity; got ${String(max)}`,
    );
  }
}

function mark(method: Function, action: string, options?: ActionOptions): void {
  const list = decorated.get(method);
  if (list) {
    if (!list.includes(action)) list.push(action);
  } else decorated.set(method, [action]);
  if (options?.concurrency !== undefined) optionsOf.set(method, options);
}

type MethodDecorator = <This, Args extends unknown[], Return>(
  method: (this: This, ...args: Args) => Return,
  context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Return>,
) => void;

/**
 * Handle the action named like the method; `@on({ concurrency })` also sets
 * how its calls run (see {@link Concurrency}).
 *
 * @example
 * class Pi extends Analysis {
 *   \@on run(samples: number) { … } // handles the action "run"
 *   \@on({ concurrency: 'latest' }) samples(n: number) { … }
 *   \@on({ concurrency: 'parallel' }) on_peek() { … } // options of "peek"
 * }
 */
export function on<This, Args extends unknown[], Return>(
  method: (this: This, ...args: Args) => Return,
  context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Return>,
): void;
export function on(options: ActionOptions): MethodDecorator;
export function on<This, Args extends unknown[], Return>(
  methodOrOptions: ((this: This, ...args: Args) => Return) | ActionOptions,
  context?: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Return>,
): void | MethodDecorator {
  if (typeof methodOrOptions !== 'function') {
    const options = methodOrOptions;
    checkOptions(options, '@on');
    return (method, ctx) => {
      if (typeof ctx.name !== 'string') {
        throw new TypeError('@on needs a method with a string name; use @onAction("name") instead');
      }
      // `@on({ … }) on_run()` sets the options of "run", the action the name already handles
      const action = /^on_./.test(ctx.name) ? ctx.name.slice(3) : ctx.name;
      mark(method, action, options);
    };
  }
  if (context === undefined || typeof context.name !== 'string') {
    throw new TypeError('@on needs a method with a string name; use @onAction("name") instead');
  }
  mark(methodOrOptions, context.name);
}

/**
 * Handle the action `name` (`'*'` handles every action, and is called with
 * `(action, message)`).
 *
 * @example
 * class Pi extends Analysis {
 *   @onAction('run') start(samples: number) { … }
 * }
 */
export function onAction(name: string, options?: ActionOptions) {
  if (typeof name !== 'string' || name === '') {
    throw new TypeError('@onAction needs a non-empty action name');
  }
  if (options !== undefined) checkOptions(options, `@onAction('${name}')`);
  return function <This, Args extends unknown[], Return>(
    method: (this: This, ...args: Args) => Return,
    _context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Return>,
  ): void {
    mark(method, name, options);
  };
}

/** One handler: the method and the name it is found under (for messages). */
export interface Handler {
  readonly method: Function;
  readonly name: string;
}

/** The action table of one analysis class: action name → handlers, and the `*` handlers. */
export interface ActionTable {
  readonly handlers: ReadonlyMap<string, readonly Handler[]>;
  readonly wildcard: readonly Handler[];
  /** Actions that declare their concurrency (the first of their handlers that does). */
  readonly concurrency: ReadonlyMap<string, Concurrency>;
  /** `latest` actions declared `exclusive`: they wait in the page's queue. */
  readonly exclusive: ReadonlySet<string>;
  /** `parallel` actions' calls one page runs at once (absent: {@link DEFAULT_MAX_PARALLEL}). */
  readonly maxParallel: ReadonlyMap<string, number>;
}

const tables = new WeakMap<Function, ActionTable>();

/**
 * The action table of a class, built once: walks the prototype chain, the
 * most derived definition of each method name wins (an override replaces the
 * base handler), and every handler of one action runs.
 */
export function actionTable(cls: Function): ActionTable {
  const cached = tables.get(cls);
  if (cached) return cached;
  const seen = new Set<string>();
  const handlers = new Map<string, Handler[]>();
  const concurrency = new Map<string, Concurrency>();
  const exclusive = new Set<string>();
  const maxParallel = new Map<string, number>();
  const add = (action: string, handler: Handler): void => {
    const list = handlers.get(action);
    if (list) list.push(handler);
    else handlers.set(action, [handler]);
    const options = optionsOf.get(handler.method);
    if (options?.concurrency !== undefined && !concurrency.has(action)) {
      concurrency.set(action, options.concurrency);
      if (options.exclusive === true) exclusive.add(action);
      if (options.maxParallel !== undefined) maxParallel.set(action, options.maxParallel);
    }
  };
  for (
    let proto = cls.prototype as object | null;
    proto && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto) as object | null
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor' || seen.has(name)) continue;
      const desc = Object.getOwnPropertyDescriptor(proto, name);
      if (!desc || typeof desc.value !== 'function') continue;
      seen.add(name);
      const method = desc.value as Function;
      if (name.startsWith('on_') && name.length > 3) add(name.slice(3), { method, name });
      for (const action of decorated.get(method) ?? []) {
        if (!name.startsWith('on_') || name.slice(3) !== action) add(action, { method, name });
      }
    }
  }
  const wildcard = handlers.get('*') ?? [];
  handlers.delete('*');
  const table = { handlers, wildcard, concurrency, exclusive, maxParallel };
  tables.set(cls, table);
  return table;
}
