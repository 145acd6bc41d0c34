// Small async helpers shared by the unit tests.

/** A promise with its resolve function outside it. */
export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Let every queued microtask and I/O callback run (not a wait for a message). */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
