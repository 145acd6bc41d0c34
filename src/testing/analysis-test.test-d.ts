// Compile-time tests of AnalysisTest.trigger, typed as a page's
// Connection<A>.emit (checked by `tsc -p tsconfig.json`; nothing here runs).
// Each `@ts-expect-error` line must fail to compile.
import { Analysis } from '../analysis/analysis.js';
import { on } from '../analysis/actions.js';
import type { CheckedAction } from '../protocol/contract.js';
import { AnalysisTest } from './analysis-test.js';

interface State {
  clicks: number;
}

class Hello extends Analysis<State> {
  async on_count(by = 1) {
    await this.data.set('clicks', this.data.get('clicks', 0) + by);
  }
  @on
  async reset(to: number) {
    await this.data.set('clicks', to);
  }
  private helper() {
    return this.data.get('clicks', 0);
  }
  total() {
    return this.helper();
  }
}

async function triggers(): Promise<void> {
  const t = new AnalysisTest(Hello);
  await t.trigger('count');
  await t.trigger('count', 2);
  await t.trigger('count', [3]);
  await t.trigger('count', { by: 4, __process_id: 1 });
  await t.trigger('reset', 0);
  await t.trigger('log', 'the built-in actions too');
  // @ts-expect-error: no action cuont (one edit from count)
  await t.trigger('cuont');
  // @ts-expect-error: a wrong name: the error is the name's, whatever the message
  await t.trigger('cuont', 1);
  // @ts-expect-error: count takes a number
  await t.trigger('count', 'two');
  // @ts-expect-error: reset needs its argument
  await t.trigger('reset');
  // @ts-expect-error: a private helper is no action
  await t.trigger('helper');
  // what a page may send wrongly, sent on purpose
  await t.trigger('cuont' as never);
  // an untyped harness takes anything
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const untyped = new AnalysisTest<any>(Hello);
  await untyped.trigger('anything', { at: 'all' });
}
void triggers;

/** `true` only when X and Y are the same type. */
type Equal<X, Y> =
  (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
const said: Equal<
  CheckedAction<Hello, 'cuont'>,
  "no action 'cuont' on this analysis (did you mean 'count'?)"
> = true;
void said;
