// Compile-time test of the typed contract against the real Analysis class
// (checked by `tsc -p src/client`, the Node config; the browser config never
// sees server code). Nothing here runs or is bundled.
// eslint-disable-next-line no-restricted-imports -- a type-only test of the contract with the server's class
import { Analysis } from '../analysis/analysis.js';
// eslint-disable-next-line no-restricted-imports -- the decorators, type-checked only (nothing runs)
import { on, onAction } from '../analysis/actions.js';
import type { Connection } from './connection.js';
import type { AnalysisMethod, CheckedAction } from './contract.js';

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

// handlers declared with decorators ---------------------------------------------
interface HelloState {
  clicks: number;
}
class Hello extends Analysis<HelloState> {
  @on
  async count(by = 1) {
    await this.data.set('clicks', this.data.get('clicks', 0) + by);
  }
  @on({ concurrency: 'latest' })
  async level(value: number) {
    await this.helper(value);
  }
  @onAction('go')
  async start() {}
  private async helper(value: number) {
    await this.emit('level', value);
  }
}
declare const h: Connection<Hello>;
h.emit('count');
h.emit('count', 2);
h.emit('level', 3);
// @ts-expect-error: level takes a number
h.emit('level', 'high');
// @ts-expect-error: a private helper is no action
h.emit('helper', 1);
// @ts-expect-error: a typo, with the nearest action in the message
h.emit('cuont');
// an @onAction name unlike its method's: added to the type
declare const g: Connection<Hello & { on_go: Hello['start'] }>;
g.emit('go');

/** `true` only when X and Y are the same type. */
type Equal<X, Y> =
  (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
const message: Equal<
  CheckedAction<Hello, 'cuont'>,
  "no action 'cuont' on this analysis (did you mean 'count'?)"
> = true;

// AnalysisMethod lists exactly the methods of Analysis that are no actions
type OwnMethods = {
  [K in keyof Analysis]-?: Analysis[K] extends (...args: never[]) => unknown
    ? K extends `on_${string}`
      ? never
      : K
    : never;
}[keyof Analysis];
const listed: Equal<OwnMethods, AnalysisMethod> = true;
void [message, listed];
