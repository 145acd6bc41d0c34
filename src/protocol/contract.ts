/**
 * The typed contract between a page and its analysis, derived from the
 * analysis class's type alone (no code generation, nothing of the server at
 * run time): `new Connection<MyAnalysis>()` in a page, `new
 * AnalysisTest(MyAnalysis)` in a test.
 *
 * The type parameter is matched structurally, so it may be the analysis class
 * (`import type { Pi } from './analysis.js'`) or any interface of the same
 * shape:
 * - every method `on_<action>(...params)` is an action named `<action>`;
 * - every other public method that is not `Analysis`'s own (nor a
 *   `data_<key>` / `class_data_<key>` transform) is an action of its own
 *   name, as `@on` makes it: TypeScript cannot see decorators, so keep
 *   helpers that are no actions `private`, `protected` or `#private`;
 * - `data` (a `Datastore<D>`, or a plain object type `D`) gives the keys and
 *   values of `data` frames; `classData` the same for `class_data` frames.
 *
 * A name that is no action is a type error that reads "no action 'cuont' on
 * this analysis (did you mean 'count'?)" (the suggestion: a name one edit
 * away, ignoring case). Without a type parameter a Connection is untyped, as
 * in databench 0.7.
 *
 * Limits: TypeScript cannot see parameter names, so a keyword-argument load
 * (`{name: value}`) is checked only for its value types, not its key names;
 * an `@onAction('name')` whose method has another name is not seen (add it
 * to the type: `Connection<Pi & { on_go: Pi['start'] }>`).
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFn = (...args: any[]) => unknown;

import type { ConnectReply, ProcessLoad } from './messages.js';

/** True when `T` is `any` (an untyped Connection). */
export type IsAny<T> = 0 extends 1 & T ? true : false;

/**
 * The methods of `Analysis` itself that are no actions (its `on_*` are the
 * built-in actions). analysis-types.test-d.ts checks this list against the
 * class.
 */
export type AnalysisMethod =
  | 'progress'
  | 'initDatastores'
  | 'setState'
  | 'setClassState'
  | 'emit'
  | 'setTimeout'
  | 'setInterval'
  | 'clearTimer';

/** The action member `K` of `A` handles: `on_<name>` → name, another public method → its name. */
type ActionOfMember<A, K extends keyof A> = A[K] extends AnyFn
  ? K extends `on_${infer N}`
    ? N
    : K extends AnalysisMethod | `data_${string}` | `class_data_${string}`
      ? never
      : K extends string
        ? K
        : never
  : never;

/**
 * Names of the actions of analysis `A`: its `on_<action>` methods without the
 * prefix, and its other public methods (see the module doc).
 */
export type ActionName<A> =
  IsAny<A> extends true
    ? string
    : {
        [K in keyof A]-?: ActionOfMember<A, K>;
      }[keyof A];

/** The parameter tuple of the handler of action `N` (`on_<N>`, else the method `N`). */
export type ActionParams<A, N extends string> = `on_${N}` extends keyof A
  ? A[`on_${N}`] extends (...args: infer P) => unknown
    ? P
    : never
  : N extends keyof A
    ? A[N] extends (...args: infer P) => unknown
      ? P
      : never
    : never;

/** Whether `A` becomes `B` with one edit: a character inserted, deleted or replaced, or two neighbours swapped. */
type OneEdit<A extends string, B extends string> = A extends `${infer a}${infer ra}`
  ? B extends `${infer b}${infer rb}`
    ? a extends b
      ? OneEdit<ra, rb>
      : ra extends rb
        ? true
        : A extends rb
          ? true
          : ra extends B
            ? true
            : ra extends `${b}${infer rest}`
              ? rb extends `${a}${rest}`
                ? true
                : false
              : false
    : ra extends ''
      ? true
      : false
  : B extends `${string}${infer rb}`
    ? rb extends ''
      ? true
      : false
    : false;

/** The names among `Names` near `N`: the same but for case, or one edit away (ignoring case). */
type NearNames<N extends string, Names extends string> = Names extends string
  ? Lowercase<N> extends Lowercase<Names>
    ? Names
    : OneEdit<Lowercase<N>, Lowercase<Names>> extends true
      ? Names
      : never
  : never;

/**
 * The message a name that is no action of `A` gets as its type:
 * `"no action 'cuont' on this analysis (did you mean 'count'?)"`. No string
 * matches it, so the type error at the call reads as the message.
 */
export type NoAction<A, N extends string> = [NearNames<N, ActionName<A>>] extends [never]
  ? `no action '${N}' on this analysis`
  : `no action '${N}' on this analysis (did you mean '${NearNames<N, ActionName<A>>}'?)`;

/**
 * `N` when it names an action of `A` (any string when `A` is untyped), else
 * {@link NoAction}: the parameter type of an action name.
 */
export type CheckedAction<A, N extends string> =
  IsAny<A> extends true ? N : N extends ActionName<A> ? N : NoAction<A, N>;

/** The optional key a page adds to an object load to get `__process` start/end frames. */
export interface ProcessIdField {
  __process_id?: number;
}

// A load that the server passes as the first argument: not a list (a list is
// positional), and the remaining parameters must be optional.
type FirstArgLoad<P extends unknown[]> = P extends []
  ? never
  : P extends [infer F, ...infer Rest]
    ? [] extends Rest
      ? F extends readonly unknown[]
        ? never
        : F
      : never
    : P extends [(infer F)?, ...infer Rest]
      ? [] extends Rest
        ? Exclude<F, readonly unknown[]>
        : never
      : never;

/**
 * A keyword-argument load: values are checked, names cannot be (see the
 * module doc). With `__process_id` (a number, unlike what an index
 * signature of the values allows) the other values are checked as loosely.
 */
type KeywordLoad<P extends unknown[]> = P extends []
  ? Required<ProcessIdField>
  : | { [name: string]: P[number] }
    | ({ [name: string]: P[number] | number } & Required<ProcessIdField>);

/**
 * Every load docs/reference/protocol.md allows for a handler with parameters `P`: the list of
 * positional arguments, a keyword object, or the first argument itself.
 */
export type LoadFor<P extends unknown[]> = P | Readonly<P> | KeywordLoad<P> | FirstArgLoad<P>;

/**
 * The rest parameters of `emit(action, ...)`: optional when the handler can
 * run without arguments; anything for a name that is no action (its error
 * is the name's, not the number of arguments).
 */
export type EmitArgs<A, N extends string> =
  IsAny<A> extends true
    ? [message?: unknown]
    : [N] extends [never]
      ? [message?: unknown]
      : N extends ActionName<A>
        ? ActionParams<A, N> extends infer P extends unknown[]
          ? [] extends P
            ? [message?: LoadFor<P>]
            : [message: LoadFor<P>]
          : never
        : [message?: unknown];

// Datastore<D> has `update(values: Partial<D>)`: infer D from it.
type StoreValues<S> = S extends { update(values: Partial<infer D>): unknown }
  ? D
  : S extends object
    ? S
    : Record<string, unknown>;

/** The value type of the store `K` (`data`, `classData` or `userData`) of analysis `A`. */
type StoreOf<A, K extends 'data' | 'classData' | 'userData'> =
  IsAny<A> extends true
    ? // eslint-disable-next-line @typescript-eslint/no-explicit-any
      Record<string, any>
    : A extends { [P in K]: infer S }
      ? StoreValues<S>
      : Record<string, unknown>;

/** The type of the `data` of analysis `A` (`Record<string, any>` when untyped). */
export type DataOf<A> = StoreOf<A, 'data'>;

/** The type of the `classData` of analysis `A`. */
export type ClassDataOf<A> = StoreOf<A, 'classData'>;

/** The type of the `userData` of analysis `A` (the signed-in user's store). */
export type UserDataOf<A> = StoreOf<A, 'userData'>;

/** The keys of `data` as strings. */
export type DataKey<A> = keyof DataOf<A> & string;
/** The keys of `classData` as strings. */
export type ClassDataKey<A> = keyof ClassDataOf<A> & string;
/** The keys of `userData` as strings. */
export type UserDataKey<A> = keyof UserDataOf<A> & string;

/** What a listener for a whole signal gets: typed for the signals the contract knows. */
export type SignalValue<A, S extends string> =
  IsAny<A> extends true
    ? // eslint-disable-next-line @typescript-eslint/no-explicit-any
      any
    : S extends 'data'
      ? Partial<DataOf<A>>
      : S extends 'class_data'
        ? Partial<ClassDataOf<A>>
        : S extends 'user_data'
          ? Partial<UserDataOf<A>>
          : S extends '__connect'
            ? ConnectReply
            : S extends '__process'
              ? ProcessLoad
              : unknown;
