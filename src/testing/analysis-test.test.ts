import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Analysis, Meta } from 'databench-ts';
import { AnalysisTest } from 'databench-ts/testing';
import { Parameters } from '../../test/fixtures/parameters/analysis.js';
import { deferred, turn, type Deferred } from '../../test/async.js';

// Class names are datastore domains (classData): keep them unique in this file.

describe('the seed example', () => {
  test('test_data stores and emits the data frame', async () => {
    const test = new AnalysisTest(Parameters);
    await test.trigger('test_data', ['light', 'red']);
    assert.deepStrictEqual(test.emittedMessages.at(-1), ['data', { light: 'red' }]);
  });

  test('an instance works as well as a class (the seed passes Parameters())', async () => {
    const test = new AnalysisTest(new Parameters());
    await test.trigger('test_data', ['light', 'red']);
    assert.deepStrictEqual(test.emittedMessages.at(-1), ['data', { light: 'red' }]);
    assert.ok(test.analysisInstance instanceof Parameters);
  });

  test('__process_id: 3 records start, the data frame, then end, in that order', async () => {
    const test = new AnalysisTest(Parameters);
    await test.trigger('test_data', { key: 'light', value: 'red', __process_id: 3 });
    assert.deepStrictEqual(test.emittedMessages, [
      ['__process', { id: 3, status: 'start' }],
      ['data', { light: 'red' }],
      ['__process', { id: 3, status: 'end' }],
    ]);
    assert.equal(test.analysisInstance.data.get('light'), 'red');
  });

  test('the other fixture actions', async () => {
    const test = new AnalysisTest(Parameters);
    await test.trigger('test_action');
    await test.trigger('test_state', ['a', 1]);
    await test.trigger('test_set_state', ['b', [2]]);
    await test.trigger('test_class_data', ['c', 'three']);
    assert.deepStrictEqual(test.emittedMessages, [
      ['test_action_ack'],
      ['data', { a: 1 }],
      ['data', { b: [2] }],
      ['class_data', { c: 'three' }],
    ]);
    assert.deepStrictEqual(test.analysisInstance.data.toObject(), { a: 1, b: [2] });
    await test.close();
  });
});

describe('setup: connect, args, connected', () => {
  class Setup extends Analysis {
    order: unknown[] = [];
    override on_connect() {
      this.order.push(['connect']);
    }
    override on_args(cli_args: string[] = [], request_args: Record<string, string[]> = {}) {
      super.on_args(cli_args, request_args);
      this.order.push(['args', cli_args, request_args]);
    }
    override async on_connected() {
      this.order.push(['connected', this.cliArgs, this.requestArgs]);
      await this.data.init({ greeting: 'hello' });
    }
    on_report() {
      return this.emit('report', { cli: this.cliArgs, request: this.requestArgs });
    }
  }

  test('runs connect, args and connected in order before the first trigger', async () => {
    const test = new AnalysisTest(Setup);
    await test.trigger('report');
    assert.deepEqual(test.analysisInstance.order, [
      ['connect'],
      ['args', [], {}],
      ['connected', [], {}],
    ]);
    assert.deepEqual(test.emittedMessages, [
      ['data', { greeting: 'hello' }],
      ['report', { cli: [], request: {} }],
    ]);
  });

  test('cliArgs and requestArgs options reach the instance', async () => {
    const requestArgs = { light: ['red', 'green'], n: ['1'] };
    const test = new AnalysisTest(Setup, { cliArgs: ['--flag', 'value'], requestArgs });
    await test.ready;
    assert.deepEqual(test.analysisInstance.cliArgs, ['--flag', 'value']);
    assert.deepEqual(test.analysisInstance.requestArgs, requestArgs);
    assert.deepEqual(test.analysisInstance.order[1], ['args', ['--flag', 'value'], requestArgs]);
    assert.deepEqual(test.analysisInstance.order[2], [
      'connected',
      ['--flag', 'value'],
      requestArgs,
    ]);
    await test.trigger('report');
    assert.deepEqual(test.emittedMessages.at(-1), [
      'report',
      { cli: ['--flag', 'value'], request: requestArgs },
    ]);
  });

  test('the default on_args sets cliArgs and requestArgs', async () => {
    class PlainArgs extends Analysis {}
    const test = new AnalysisTest(PlainArgs, { cliArgs: ['x'], requestArgs: { q: ['1'] } });
    await test.ready;
    assert.deepEqual(test.analysisInstance.cliArgs, ['x']);
    assert.deepEqual(test.analysisInstance.requestArgs, { q: ['1'] });
  });

  test('a meta option runs every action, setup included', async () => {
    const calls: unknown[][] = [];
    const meta = {
      runProcess(analysis: Analysis, action: string, message?: unknown): Promise<void> {
        calls.push([action, message]);
        return Meta.runProcess(analysis, action, message);
      },
    };
    const test = new AnalysisTest(Parameters, { meta, cliArgs: ['c'], requestArgs: { r: ['1'] } });
    await test.trigger('test_fn', [1, 2]);
    assert.deepEqual(calls, [
      ['connect', undefined],
      ['args', { cli_args: ['c'], request_args: { r: ['1'] } }],
      ['connected', undefined],
      ['test_fn', [1, 2]],
    ]);
    assert.deepEqual(test.emittedMessages, [['test_fn', [1, 2]]]);
  });
});

describe('Meta', () => {
  test('keeps what it was constructed with, with defaults', () => {
    const meta = new Meta('parameters', Parameters, '/analyses/parameters');
    assert.equal(meta.name, 'parameters');
    assert.equal(meta.analysisClass, Parameters);
    assert.equal(meta.analysisPath, '/analyses/parameters');
    assert.deepEqual(meta.extraRoutes, []);
    assert.deepEqual(meta.cliArgs, []);
    const routes: Meta['extraRoutes'] = [['/extra', () => undefined]];
    const full = new Meta('p', Parameters, '/p', routes, ['--x']);
    assert.equal(full.extraRoutes, routes);
    assert.deepEqual(full.cliArgs, ['--x']);
  });

  test('runProcess runs an action and its __process frames on an instance', async () => {
    const test = new AnalysisTest(Parameters);
    await test.ready;
    await Meta.runProcess(test.analysisInstance, 'test_action', { __process_id: 'abc' });
    assert.deepEqual(test.emittedMessages, [
      ['__process', { id: 'abc', status: 'start' }],
      ['test_action_ack'],
      ['__process', { id: 'abc', status: 'end' }],
    ]);
  });
});

describe('ordering', () => {
  const gates = new Map<string, Deferred>();
  const startedGates = new Map<string, Deferred>();
  function gate(map: Map<string, Deferred>, name: string): Deferred {
    let d = map.get(name);
    if (!d) map.set(name, (d = deferred()));
    return d;
  }

  class Sequential extends Analysis {
    events: string[] = [];
    async on_step(name: string) {
      this.events.push(`${name} start`);
      gate(startedGates, name).resolve();
      await gate(gates, name).promise;
      this.events.push(`${name} end`);
    }
    on_quick(name: string) {
      this.events.push(`${name} quick`);
    }
  }

  test('async handlers of one session run one after the other', async () => {
    const test = new AnalysisTest(Sequential);
    const events = test.analysisInstance.events;
    const first = test.trigger('step', 'seq-a');
    const second = test.trigger('step', 'seq-b');
    const third = test.trigger('quick', 'seq-c');

    await gate(startedGates, 'seq-a').promise;
    await turn();
    assert.deepEqual(events, ['seq-a start'], 'the second action started while the first awaited');

    gate(gates, 'seq-a').resolve();
    await first;
    await gate(startedGates, 'seq-b').promise;
    await turn();
    assert.deepEqual(events, ['seq-a start', 'seq-a end', 'seq-b start']);

    gate(gates, 'seq-b').resolve();
    await Promise.all([second, third]);
    assert.deepEqual(events, [
      'seq-a start',
      'seq-a end',
      'seq-b start',
      'seq-b end',
      'seq-c quick',
    ]);
  });

  test('an awaiting handler does not block another session', async () => {
    const blocked = new AnalysisTest(Sequential);
    const free = new AnalysisTest(Sequential);
    const stuck = blocked.trigger('step', 'block-a');
    await gate(startedGates, 'block-a').promise;
    await free.trigger('quick', 'other session');
    assert.deepEqual(free.analysisInstance.events, ['other session quick']);
    assert.deepEqual(blocked.analysisInstance.events, ['block-a start']);
    gate(gates, 'block-a').resolve();
    await stuck;
    assert.deepEqual(blocked.analysisInstance.events, ['block-a start', 'block-a end']);
  });

  test('close waits for queued actions, then runs on_disconnected', async () => {
    class Closing extends Sequential {
      override on_disconnected() {
        this.events.push('disconnected');
      }
    }
    const test = new AnalysisTest(Closing);
    const running = test.trigger('step', 'close-a');
    const closing = test.close();
    await gate(startedGates, 'close-a').promise;
    await turn();
    assert.deepEqual(test.analysisInstance.events, ['close-a start']);
    gate(gates, 'close-a').resolve();
    await Promise.all([running, closing]);
    assert.deepEqual(test.analysisInstance.events, [
      'close-a start',
      'close-a end',
      'disconnected',
    ]);
    await assert.rejects(test.trigger('quick', 'too late'), /closed/);
    await test.close();
  });
});

describe('AnalysisTest: the user who opened the page', () => {
  class Whoami extends Analysis {
    override on_connected() {
      return this.emit('user', this.user ?? null);
    }
  }

  test('the user option is this.user, set before connect; without it there is none', async () => {
    const alice = new AnalysisTest(Whoami, { user: { id: 'alice', groups: ['analysts'] } });
    await alice.ready;
    assert.deepEqual(alice.emittedMessages, [['user', { id: 'alice', groups: ['analysts'] }]]);
    await alice.close();
    const nobody = new AnalysisTest(Whoami);
    await nobody.ready;
    assert.deepEqual(nobody.emittedMessages, [['user', null]]);
    await nobody.close();
  });
});
