/**
 * The typed contract between a page and its analysis, derived from the
 * analysis class's type alone (no code generation, nothing of the server at
 * run time): `new Connection<MyAnalysis>()`.
 *
 * The type parameter is matched structurally, so it may be the analysis class
 * (`import type { Pi } from './analysis.js'`) or any interface of the same
 * shape:
 * - every method `on_<action>(...params)` is an action named `<action>`;
 * - `data` (a `Datastore<D>`, or a plain object type `D`) gives the keys and
 *   values of `data` frames; `classData` the same for `class_data` frames.
 *
 * Without a type parameter a Connection is untyped, as in databench 0.7.
 *
 * Limit: TypeScript cannot see parameter names, so a keyword-argument load
 * (`{name: value}`) is checked only for its value types, not its key names;
 * handlers registered with decorators instead of `on_*` methods are not seen.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFn = (...args: any[]) => unknown;

import type { ConnectReply, ProcessLoad } from '../protocol/index.js';

/** True when `T` is `any` (an untyped Connection). */
export type IsAny<T> = 0 extends 1 & T ? true : false;

/** Names of the actions of analysis `A`: its `on_<action>` methods without the prefix. */
export type ActionName<A> =
  IsAny<A> extends true
    ? string
    : {
        [K in keyof A]-?: K extends `on_${infer N}` ? (A[K] extends AnyFn ? N : never) : never;
      }[keyof A];

/** The parameter tuple of the handler of action `N`. */
export type ActionParams<A, N extends string> = `on_${N}` extends keyof A
  ? A[`on_${N}`] extends (...args: infer P) => unknown
    ? P
    : never
  : never;

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

/** A keyword-argument load: values are checked, names cannot be (see the module doc). */
type KeywordLoad<P extends unknown[]> = P extends []
  ? Required<ProcessIdField>
  : { [name: string]: P[number] } & ProcessIdField;

/**
 * Every load docs/reference/protocol.md allows for a handler with parameters `P`: the list of
 * positional arguments, a keyword object, or the first argument itself.
 */
export type LoadFor<P extends unknown[]> = P | Readonly<P> | KeywordLoad<P> | FirstArgLoad<P>;

/** The rest parameters of `emit(action, ...)`: optional when the handler can run without arguments. */
export type EmitArgs<A, N extends string> =
  IsAny<A> extends true
    ? [message?: unknown]
    : ActionParams<A, N> extends infer P extends unknown[]
      ? [] extends P
        ? [message?: LoadFor<P>]
        : [message: LoadFor<P>]
      : never;

// Datastore<D> has `update(values: Partial<D>)`: infer D from it.
type StoreValues<S> = S extends { update(values: Partial<infer D>): unknown }
  ? D
  : S extends object
    ? S
    : Record<string, unknown>;

/** The value type of the store `K` (`data` or `classData`) of analysis `A`. */
type StoreOf<A, K extends 'data' | 'classData'> =
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

/** The keys of `data` as strings. */
export type DataKey<A> = keyof DataOf<A> & string;
/** The keys of `classData` as strings. */
export type ClassDataKey<A> = keyof ClassDataOf<A> & string;

/** What a listener for a whole signal gets: typed for the signals the contract knows. */
export type SignalValue<A, S extends string> =
  IsAny<A> extends true
    ? // eslint-disable-next-line @typescript-eslint/no-explicit-any
      any
    : S extends 'data'
      ? Partial<DataOf<A>>
      : S extends 'class_data'
        ? Partial<ClassDataOf<A>>
        : S extends '__connect'
          ? ConnectReply
          : S extends '__process'
            ? ProcessLoad
            : unknown;
