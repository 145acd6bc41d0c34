// An analysis's own members named like the framework's wiring (send,
// dispose, cancel, reportError, ...) are the user's alone: the instance
// that owns the analysis never calls them, and they replace nothing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Analysis, MemoryBackend } from 'databench-ts';
import { AnalysisTest } from 'databench-ts/testing';
import type { Change } from '../datastore/change.js';
import { AnalysisInstance, type PageSink } from './instance.js';

/** The names of what used to be public wiring methods of Analysis. */
const WIRING = [
  'setEmitFn',
  'send',
  'reportError',
  'wireDatastores',
  'handleDatastoreChange',
  'snapshotFrame',
  'cancel',
  'dispose',
] as const;

/** Actions shared by both classes below. */
class Actions extends Analysis {
  /** Timer callbacks that ran (after close, none may). */
  ticks = 0;
  disconnected = false;

  on_set(key: string, value: unknown) {
    return this.data.set(key, value);
  }
  on_shared(value: unknown) {
    return this.classData.set('shared', value);
  }
  on_fail() {
    throw new Error('own failure');
  }
  on_tick() {
    this.setInterval(() => void this.ticks++, 10);
  }
  override on_disconnected() {
    this.disconnected = true;
  }
}

/** Methods named like the wiring: they record that they ran, and do nothing else. */
class OwnMethods extends Actions {
  calls: string[] = [];
  setEmitFn() {
    this.calls.push('setEmitFn');
  }
  send() {
    this.calls.push('send');
  }
  reportError() {
    this.calls.push('reportError');
  }
  wireDatastores() {
    this.calls.push('wireDatastores');
  }
  handleDatastoreChange() {
    this.calls.push('handleDatastoreChange');
  }
  snapshotFrame() {
    this.calls.push('snapshotFrame');
  }
  cancel() {
    this.calls.push('cancel');
  }
  dispose() {
    this.calls.push('dispose');
  }
}

/** Fields named like the wiring, none of them a function. */
class OwnFields extends Actions {
  setEmitFn = 'mine';
  send = 1;
  reportError = null;
  wireDatastores = false;
  handleDatastoreChange = 'mine';
  snapshotFrame = { mine: true };
  cancel = 'mine';
  dispose = 2;
}

function ownFields(analysis: OwnFields): unknown[] {
  return WIRING.map((name) => analysis[name]);
}

describe("an analysis's own members named like the wiring", () => {
  for (const cls of [OwnMethods, OwnFields]) {
    test(`${cls.name}: actions run, data reaches the page, errors are reported, close disposes`, async (t) => {
      t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
      const test = new AnalysisTest<OwnMethods | OwnFields>(cls);
      const analysis = test.analysisInstance;
      const fieldsBefore = analysis instanceof OwnFields ? ownFields(analysis) : [];
      await test.trigger('set', { key: 'x', value: 1, __process_id: 7 });
      await test.trigger('shared', ['everyone']);
      await test.trigger('fail');
      await test.trigger('tick');
      t.mock.timers.tick(30);
      assert.equal(analysis.ticks, 3);
      assert.deepEqual(test.emittedMessages, [
        ['__process', { id: 7, status: 'start' }],
        ['data', { x: 1 }],
        ['__process', { id: 7, status: 'end' }],
        ['class_data', { shared: 'everyone' }],
        ['error', 'action "fail" failed: Error: own failure'],
      ]);
      assert.ok(
        test.logs.some(([level, line]) => level === 'error' && line.includes('own failure')),
        'the failure is in the log',
      );

      await test.close();
      assert.equal(analysis.disconnected, true, 'disconnected ran');
      assert.equal(analysis.signal.aborted, true, 'the signal aborted');
      t.mock.timers.tick(100);
      assert.equal(analysis.ticks, 3, 'the interval was cleared');
      assert.throws(() => analysis.data.set('y', 2), /closed/, 'the stores were closed');
      if (analysis instanceof OwnMethods) assert.deepEqual(analysis.calls, []);
      else
        assert.deepEqual(ownFields(analysis), fieldsBefore, 'the fields are as the user set them');
    });
  }

  test('served: snapshots, the error panel and the stores reach the page, not the own members', async () => {
    const frames: Array<[string, unknown]> = [];
    const page: PageSink = {
      emit(signal, message) {
        frames.push([signal, message]);
      },
      change(signal, change: Change) {
        frames.push([signal, { [change.key]: change.decode() }]);
      },
    };
    const backend = new MemoryBackend();
    const instance = new AnalysisInstance<OwnMethods>(page);
    const ready = instance.create(OwnMethods, {
      id: crypto.randomUUID(),
      backend,
      reporting: { details: true, root: import.meta.dirname },
    });
    assert.equal(ready, undefined, 'in memory, nothing to await');
    const analysis = instance.analysis!;
    await instance.lifecycle([], {});
    await instance.runAction('set', ['k', 'v']);
    assert.equal(instance.snapshotFrame('data'), '{"signal":"data","load":{"k":"v"}}');
    await instance.runAction('fail');
    assert.deepEqual(frames.slice(0, 2), [
      ['data', { k: 'v' }],
      ['error', 'action "fail" failed: Error: own failure'],
    ]);
    const [signal, load] = frames[2]!;
    assert.equal(signal, '__error');
    assert.equal((load as { action: string }).action, 'fail');
    assert.match(String((load as { location: string }).location), /instance\.test\.ts:\d+/);
    instance.abort();
    assert.equal(analysis.signal.aborted, true);
    instance.dispose();
    assert.deepEqual(analysis.calls, []);
    backend.dispose();
  });
});
