// The databench 0.7 analysis API on Analysis: set_state/set_class_state,
// self.data[key] = value, emit('log', {…}), emit(signal, None).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deferred } from '../../test/async.ts';
import { AnalysisTest } from '../testing/analysis-test.ts';
import { Analysis } from './analysis.ts';

interface State {
  pi: number;
  n: number;
  cyc: unknown;
  seen: unknown;
}

class V07 extends Analysis<State, { visits: number }> {
  async on_state() {
    await this.setState({ pi: 3.14 });
    await this.setState((store) => ({ n: (store.get('n') ?? 0) + 1 }));
    await this.setClassState({ visits: 1 });
  }

  on_item() {
    this.data['pi'] = 3.5;
    // the local mirror has it at once, before any await
    this.data['seen'] = this.data['pi'];
    delete this.data['n'];
  }

  on_cycle() {
    const cyc: Record<string, unknown> = {};
    cyc['self'] = cyc;
    this.data['cyc'] = cyc;
  }

  on_member() {
    (this.data as unknown as Record<string, unknown>)['set'] = 1;
  }

  on_failing_subscriber() {
    this.data.onChange(() => {
      throw new Error('subscriber broke');
    });
    this.data['n'] = 99;
  }

  async on_log_object() {
    await this.emit('log', { a: 1, nested: { b: [1, 2] } });
  }

  async on_nulls() {
    await this.emit('with_undefined', undefined);
    await this.emit('without_message');
    await this.emit('with_null', null);
  }
}

describe('databench 0.7 analysis API', () => {
  test('setState and setClassState write data and classData (set_state, set_class_state)', async () => {
    const t = new AnalysisTest(V07);
    await t.trigger('state');
    assert.deepEqual(t.emittedMessages.slice(-3), [
      ['data', { pi: 3.14 }],
      ['data', { n: 1 }],
      ['class_data', { visits: 1 }],
    ]);
    assert.equal(t.analysisInstance.data.get('pi'), 3.14);
    await t.close();
  });

  test("this.data['key'] = value writes at once and sends the change; reads and delete work too", async () => {
    const t = new AnalysisTest(V07);
    await t.trigger('state');
    await t.trigger('item');
    const data = t.analysisInstance.data;
    assert.equal(data.get('pi'), 3.5);
    assert.equal(data.get('seen'), 3.5, 'the read right after the write saw the new value');
    assert.equal(data['pi'], 3.5);
    assert.equal(data.has('n'), false);
    assert.deepEqual(t.emittedMessages.slice(-3), [
      ['data', { pi: 3.5 }],
      ['data', { seen: 3.5 }],
      ['data', { n: null }],
    ]);
    await t.close();
  });

  test('a value that cannot be written throws at the assignment: an error frame like a handler error', async () => {
    const t = new AnalysisTest(V07);
    await t.trigger('cycle');
    const error = t.emittedMessages.find(([s]) => s === 'error');
    assert.match(String(error?.[1]), /action "cycle" failed: .*cyc/);
    assert.equal(t.analysisInstance.data.has('cyc'), false, 'nothing was written');
    await t.trigger('member');
    const member = t.emittedMessages.filter(([s]) => s === 'error').at(-1);
    assert.match(
      String(member?.[1]),
      /"set" is a Datastore member.*await store\.set\('set', value\)/,
    );
    assert.equal(typeof t.analysisInstance.data.set, 'function', 'the method is still there');
    await t.close();
  });

  test('a write by assignment that fails later is reported as an error frame, not lost', async () => {
    const t = new AnalysisTest(V07);
    // the failure arrives after the handler returned: its log line (written
    // just before the frame is sent) is the event to await
    const reported = deferred<string>();
    const logger = t.analysisInstance.logger;
    t.analysisInstance.logger = {
      ...logger,
      error(line) {
        logger.error(line);
        reported.resolve(line);
      },
    };
    await t.trigger('failing_subscriber');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const line = await Promise.race([
      reported.promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no error reported for the failed write')), 5000);
      }),
    ]);
    clearTimeout(timer);
    assert.match(line, /data\['n'\] = … failed: Error: subscriber broke/);
    const error = t.emittedMessages.find(([s]) => s === 'error');
    assert.match(String(error?.[1]), /data\['n'\] = … failed: Error: subscriber broke/);
    await t.close();
  });

  test("emit('log', {…}) writes the object readably to the server log", async () => {
    const t = new AnalysisTest(V07);
    await t.trigger('log_object');
    const line = t.logs.find(([level]) => level === 'info')?.[1] ?? '';
    assert.match(line, /\{ a: 1, nested: \{ b: \[ 1, 2 \] \} \}/);
    assert.ok(!line.includes('[object Object]'));
    await t.close();
  });

  test('emit(signal, undefined) sends load null as 0.7 did; emit(signal) sends no load', async () => {
    const t = new AnalysisTest(V07);
    await t.trigger('nulls');
    assert.deepEqual(t.emittedMessages.slice(-3), [
      ['with_undefined', null],
      ['without_message'],
      ['with_null', null],
    ]);
    await t.close();
  });
});
