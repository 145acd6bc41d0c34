// Compile-time test of the typed contract against the real Analysis class
// (checked by `tsc -p src/client`, the Node config; the browser config never
// sees server code). `import type` only: nothing of the server runs or is bundled.
// eslint-disable-next-line no-restricted-imports -- a type-only test of the contract with the server's class
import type { Analysis } from '../analysis/analysis.js';
import type { Connection } from './connection.js';

interface PiData {
  pi: { estimate: number; uncertainty: number };
  samples: number;
}

declare class Pi extends Analysis<PiData, { visitors: number }> {
  on_run(): Promise<void>;
  on_samples(value: number): void;
  on_range(low: number, high: number): void;
}

declare const c: Connection<Pi>;
declare function expectType<T>(value: T): void;

c.emit('run');
c.emit('samples', 100);
c.emit('range', [1, 2]);
c.emit('range', { low: 1, high: 2 });
c.emit('log', 'from the page'); // inherited on_log(...args)
c.emit('args', [['--flag'], { a: ['1'] }]); // inherited on_args(cli_args, request_args)
c.on({ data: 'pi' }, (value) => expectType<number>(value.estimate));
c.on({ class_data: 'visitors' }, (value) => expectType<number>(value));

// @ts-expect-error: no on_nope handler
c.emit('nope');
// @ts-expect-error: samples takes a number
c.emit('samples', 'many');
// @ts-expect-error: range needs two numbers
c.emit('range', [1]);
// @ts-expect-error: run takes no message
c.emit('run', 1);
// @ts-expect-error: emit is a method of the analysis, not an on_* handler
c.emit('emit');
// @ts-expect-error: no data key "typo"
c.on({ data: 'typo' }, () => undefined);
// @ts-expect-error: visitors is a number
c.on({ class_data: 'visitors' }, (value: string) => value);
