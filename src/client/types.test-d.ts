// Compile-time tests of the typed contract (`tsc -p tsconfig.client.json`).
// Each `@ts-expect-error` line must fail to compile, or tsc reports the
// directive as unused; nothing here runs.
import { Connection } from './connection.js';
import type { CheckedAction, EmitArgs } from './contract.js';

// The shape of the server's Datastore<T> / Analysis<Data, ClassData>, declared
// here so the browser config sees no server code (analysis-types.test-d.ts
// checks the real class under the Node config).
declare class Store<T extends object> {
  get<K extends keyof T & string>(key: K): T[K] | undefined;
  set<K extends keyof T & string>(key: K, value: T[K]): Promise<void>;
  update(values: Partial<T>): Promise<void>;
}
declare class BaseAnalysis<
  D extends object,
  C extends object = Record<string, unknown>,
  U extends object = Record<string, unknown>,
> {
  data: Store<D>;
  classData: Store<C>;
  userData: Store<U>;
  on_connect(): void;
  on_log(...args: unknown[]): void;
}

interface PiData {
  pi: { estimate: number; uncertainty: number };
  samples: number;
  status: 'idle' | 'running';
}

declare class Pi extends BaseAnalysis<PiData, { visitors: number }, { theme: 'dark' | 'light' }> {
  on_run(): Promise<void>;
  on_samples(value: number): void;
  on_range(low: number, high: number, label?: string): void;
  on_config(options: { precision: number }): void;
  on_maybe(n?: number): void;
  /** An `@on` handler: a public method is an action of its own name. */
  count(by?: number): void;
  /** Helpers that are no actions are private (or protected, or #private). */
  private helper(): void;
  protected other(): void;
  /** A `data_<key>` transform is no action. */
  data_pi(value: unknown): unknown;
}

declare const c: Connection<Pi>;
declare function expectType<T>(value: T): void;

// actions: names and payloads --------------------------------------------------
c.emit('run');
c.emit('samples', 1000);
c.emit('samples', [1000]);
c.emit('samples', { value: 1000 });
c.emit('range', [1, 2]);
c.emit('range', [1, 2, 'x']);
c.emit('range', { low: 1, high: 2 });
c.emit('config', { precision: 3 });
c.emit('samples', { value: 1000, __process_id: 3 });
c.emit('range', { low: 1, high: 2, __process_id: 4 });
c.emit('maybe');
c.emit('maybe', 3);
c.emit('log', 'anything');
c.emit('connect');

// @ts-expect-error: no handler on_nope
c.emit('nope');
c.emit('count');
c.emit('count', 2);
// @ts-expect-error: a private helper is no action
c.emit('helper');
// @ts-expect-error: a protected one neither
c.emit('other');
// @ts-expect-error: a data_<key> transform neither
c.emit('data_pi');
// @ts-expect-error: emit is Analysis's own method, no action
c.emit('emit');
// @ts-expect-error: count takes a number
c.emit('count', 'two');
// @ts-expect-error: one edit away from count
c.emit('cuont');
// @ts-expect-error: a wrong name with a message: the error is the name, not the arguments
c.emit('cuont', 1);

/** `true` only when X and Y are the same type. */
type Equal<X, Y> =
  (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
// what the error says: the name and the nearest action
const typo: Equal<
  CheckedAction<Pi, 'cuont'>,
  "no action 'cuont' on this analysis (did you mean 'count'?)"
> = true;
const cased: Equal<
  CheckedAction<Pi, 'Samples'>,
  "no action 'Samples' on this analysis (did you mean 'samples'?)"
> = true;
const far: Equal<CheckedAction<Pi, 'zzz'>, "no action 'zzz' on this analysis"> = true;
const swapped: Equal<
  CheckedAction<Pi, 'rnu'>,
  "no action 'rnu' on this analysis (did you mean 'run'?)"
> = true;
const missingLetter: Equal<
  CheckedAction<Pi, 'rage'>,
  "no action 'rage' on this analysis (did you mean 'range'?)"
> = true;
// a wrong name takes any message: the only error is the name's
const anyMessage: Equal<EmitArgs<Pi, 'cuont'>, [message?: unknown]> = true;
void [typo, cased, far, swapped, missingLetter, anyMessage];

// cancelAction is typed by the action too
c.cancelAction('run');
// @ts-expect-error: no such action
c.cancelAction('rnu');
// @ts-expect-error: samples takes a number
c.emit('samples', 'many');
// @ts-expect-error: samples needs a message
c.emit('samples');
// @ts-expect-error: a list is positional: [string] is not [number]
c.emit('samples', ['1000']);
// @ts-expect-error: a keyword value of the wrong type
c.emit('samples', { value: 'x' });
// @ts-expect-error: range needs two numbers
c.emit('range', [1]);
// @ts-expect-error: range's second parameter is required, so a bare value is not enough
c.emit('range', 1);
// @ts-expect-error: config's option has the wrong type
c.emit('config', { precision: 'high' });
// @ts-expect-error: run takes no message
c.emit('run', 1);

// preEmit is typed by the action too
c.preEmit('samples', (n) => n);
// @ts-expect-error: no such action
c.preEmit('nope', (m) => m);

// data keys and values ---------------------------------------------------------
c.on({ data: 'pi' }, (value, key) => {
  expectType<{ estimate: number; uncertainty: number }>(value);
  expectType<'pi'>(key);
});
c.on({ data: 'status' }, (value) => {
  expectType<'idle' | 'running'>(value);
  // @ts-expect-error: status is a string union, not a number
  expectType<number>(value);
});
c.on({ data: /^s/ }, (value, key) => {
  expectType<PiData[keyof PiData]>(value);
  expectType<keyof PiData>(key);
});
c.on({ class_data: 'visitors' }, (value) => expectType<number>(value));
c.on({ user_data: 'theme' }, (value, key) => {
  expectType<'dark' | 'light'>(value);
  expectType<'theme'>(key);
});
c.on('user_data', (changes) => expectType<Partial<{ theme: 'dark' | 'light' }>>(changes));
c.on('data', (changes) => expectType<Partial<PiData>>(changes));
c.on('__connect', (reply) => expectType<string>(reply.analysis_id));
c.on('mpl', (value) => expectType<unknown>(value));

// @ts-expect-error: no data key "typo"
c.on({ data: 'typo' }, () => undefined);
// @ts-expect-error: no class_data key "pi"
c.on({ class_data: 'pi' }, () => undefined);
// @ts-expect-error: no user_data key "pi"
c.on({ user_data: 'pi' }, () => undefined);
// @ts-expect-error: the value of pi is an object, not a number
c.on({ data: 'pi' }, (value: number) => value);

async function onceTypes(): Promise<void> {
  const pi = await c.once({ data: 'pi' });
  expectType<number>(pi.estimate);
  // @ts-expect-error: no data key "typo"
  await c.once({ data: 'typo' });
}
void onceTypes;

// untyped, as in databench 0.7 ---------------------------------------------------
declare const u: Connection;
u.emit('anything', { a: 1 });
u.emit('anything');
u.on({ data: 'whatever' }, (value: number, key: string) => value + key.length);
u.on({ data: 'x', class_data: /y/ }, () => undefined);
u.on('custom', (value: string) => value);

// an interface instead of a class: plain data type ----------------------------
interface Contract {
  data: { count: number };
  on_add(n: number): void;
}
declare const i: Connection<Contract>;
i.emit('add', 1);
i.on({ data: 'count' }, (n) => expectType<number>(n));
// @ts-expect-error: add takes a number
i.emit('add', true);
// @ts-expect-error: no data key "total"
i.on({ data: 'total' }, () => undefined);
