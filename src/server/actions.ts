/**
 * How methods become action handlers: `on_<action>` by name, `@on` (the
 * method's own name) and `@onAction('name')` (TypeScript standard decorators).
 */

const decorated = new WeakMap<Function, string[]>();

function mark(method: Function, action: string): void {
  const list = decorated.get(method);
  if (list) {
    if (!list.includes(action)) list.push(action);
  } else decorated.set(method, [action]);
}

/**
 * Handle the action named like the method.
 *
 * @example
 * class Pi extends Analysis {
 *   \@on run(samples: number) { … } // handles the action "run"
 * }
 */
export function on<This, Args extends unknown[], Return>(
  method: (this: This, ...args: Args) => Return,
  context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Return>,
): void {
  if (typeof context.name !== 'string') {
    throw new TypeError('@on needs a method with a string name; use @onAction("name") instead');
  }
  mark(method, context.name);
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
export function onAction(name: string) {
  if (typeof name !== 'string' || name === '') {
    throw new TypeError('@onAction needs a non-empty action name');
  }
  return function <This, Args extends unknown[], Return>(
    method: (this: This, ...args: Args) => Return,
    _context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Return>,
  ): void {
    mark(method, name);
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
  const add = (action: string, handler: Handler): void => {
    const list = handlers.get(action);
    if (list) list.push(handler);
    else handlers.set(action, [handler]);
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
  const table = { handlers, wildcard };
  tables.set(cls, table);
  return table;
}
