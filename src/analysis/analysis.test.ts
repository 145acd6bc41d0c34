import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Analysis, Datastore } from 'databench-ts';
import { AnalysisTest } from 'databench-ts/testing';

// Class names are datastore domains (classData): keep them unique in this file.

async function started<A extends Analysis>(cls: new () => A): Promise<AnalysisTest<A>> {
  const test = new AnalysisTest(cls);
  await test.ready;
  test.emittedMessages.length = 0;
  return test;
}

describe('emit', () => {
  class Emitter extends Analysis {
    on_bare() {
      return this.emit('bare');
    }
    on_with(message: unknown) {
      return this.emit('with', message);
    }
    on_null() {
      return this.emit('null', null);
    }
    async on_returns() {
      const result = this.emit('x', 1);
      await this.emit('is_promise', result instanceof Promise);
    }
    async on_logs(text: string) {
      await this.emit('log', `log ${text}`);
      await this.emit('warn', `warn ${text}`);
      await this.emit('error', `error ${text}`);
    }
  }

  test('with no message records [signal] only', async () => {
    const test = await started(Emitter);
    await test.trigger('bare');
    assert.deepEqual(test.emittedMessages, [['bare']]);
    assert.equal(test.emittedMessages[0]!.length, 1);
  });

  test('with a message records [signal, message]; null is a message', async () => {
    const test = await started(Emitter);
    await test.trigger('with', [{ a: [1] }]);
    await test.trigger('null');
    assert.deepEqual(test.emittedMessages, [
      ['with', { a: [1] }],
      ['null', null],
    ]);
    assert.equal(test.emittedMessages[1]!.length, 2);
  });

  test('returns a Promise', async () => {
    const test = await started(Emitter);
    await test.trigger('returns');
    assert.deepEqual(test.emittedMessages, [
      ['x', 1],
      ['is_promise', true],
    ]);
  });

  test('log, warn and error go to the page and to the server log', async () => {
    const test = await started(Emitter);
    const before = test.logs.length;
    await test.trigger('logs', 'abc');
    assert.deepEqual(test.emittedMessages, [
      ['log', 'log abc'],
      ['warn', 'warn abc'],
      ['error', 'error abc'],
    ]);
    const logged = test.logs.slice(before);
    assert.equal(logged.length, 3);
    assert.equal(logged[0]![0], 'info');
    assert.match(logged[0]![1], /log abc/);
    assert.equal(logged[1]![0], 'warn');
    assert.match(logged[1]![1], /warn abc/);
    assert.equal(logged[2]![0], 'error');
    assert.match(logged[2]![1], /error abc/);
  });

  test('other signals do not go to the log', async () => {
    const test = await started(Emitter);
    const before = test.logs.length;
    await test.trigger('with', 'quiet');
    assert.equal(test.logs.length, before);
  });

  test('the page logging to the server: log/warn/error actions are logged, not echoed', async () => {
    const test = await started(Emitter);
    const before = test.logs.length;
    await test.trigger('log', 'from page');
    await test.trigger('warn', ['two', 'parts']);
    await test.trigger('error', 'bad page');
    assert.deepEqual(test.emittedMessages, []);
    const logged = test.logs.slice(before);
    assert.deepEqual(
      logged.map(([level]) => level),
      ['info', 'warn', 'error'],
    );
    assert.match(logged[0]![1], /from page/);
    assert.match(logged[1]![1], /two parts/);
    assert.match(logged[2]![1], /bad page/);
  });
});

describe('datastore changes reach the page', () => {
  class Stateful extends Analysis {
    on_set(key: string, value: unknown) {
      return this.data.set(key, value);
    }
    on_set_class(key: string, value: unknown) {
      return this.classData.set(key, value);
    }
    on_delete(key: string) {
      return this.data.delete(key);
    }
  }

  test('data changes as data frames, classData changes as class_data frames', async () => {
    const test = await started(Stateful);
    await test.trigger('set', ['pi', { estimate: 3.14, uncertainty: 0.01 }]);
    await test.trigger('set_class', ['light', 'red']);
    await test.trigger('delete', 'pi');
    assert.deepEqual(test.emittedMessages, [
      ['data', { pi: { estimate: 3.14, uncertainty: 0.01 } }],
      ['class_data', { light: 'red' }],
      ['data', { pi: null }],
    ]);
  });

  test('setting an equal value sends no frame', async () => {
    const test = await started(Stateful);
    await test.trigger('set', ['k', [1, { a: 2 }]]);
    await test.trigger('set', ['k', [1, { a: 2 }]]);
    assert.deepEqual(test.emittedMessages, [['data', { k: [1, { a: 2 }] }]]);
  });

  test('data is scoped to the instance; its domain is the id', async () => {
    const one = await started(Stateful);
    const two = await started(Stateful);
    assert.notEqual(one.analysisInstance.id, two.analysisInstance.id);
    assert.equal(one.analysisInstance.data.domain, one.analysisInstance.id);
    await one.trigger('set', ['mine', 1]);
    assert.equal(two.analysisInstance.data.has('mine'), false);
    assert.deepEqual(two.emittedMessages, []);
    // another Datastore on the id sees the instance's data
    const view = new Datastore(one.analysisInstance.id);
    assert.equal(view.get('mine'), 1);
    view.close();
  });

  test('a change made through another Datastore on the id reaches the page', async () => {
    const test = await started(Stateful);
    const other = new Datastore(test.analysisInstance.id);
    await other.set('outside', 'in');
    assert.deepEqual(test.emittedMessages, [['data', { outside: 'in' }]]);
    other.close();
  });
});

describe('data_<key> and class_data_<key> transforms', () => {
  class Transforming extends Analysis {
    data_light(value: unknown) {
      return String(value).toUpperCase();
    }
    class_data_count(value: unknown) {
      return { wrapped: value };
    }
    data_broken(): unknown {
      throw new Error('transform failed on purpose');
    }
    on_set(key: string, value: unknown) {
      return this.data.set(key, value);
    }
    on_set_class(key: string, value: unknown) {
      return this.classData.set(key, value);
    }
  }

  test('data_<key> changes what the page gets, not the stored value', async () => {
    const test = await started(Transforming);
    await test.trigger('set', ['light', 'red']);
    await test.trigger('set', ['other', 'red']);
    assert.deepEqual(test.emittedMessages, [
      ['data', { light: 'RED' }],
      ['data', { other: 'red' }],
    ]);
    assert.equal(test.analysisInstance.data.get('light'), 'red');
  });

  test('class_data_<key> changes what the page gets, not the stored value', async () => {
    const test = await started(Transforming);
    await test.trigger('set_class', ['count', 5]);
    await test.trigger('set_class', ['plain', 5]);
    assert.deepEqual(test.emittedMessages, [
      ['class_data', { count: { wrapped: 5 } }],
      ['class_data', { plain: 5 }],
    ]);
    assert.equal(test.analysisInstance.classData.get('count'), 5);
  });

  test('a data_<key> transform does not apply to class_data (and the reverse)', async () => {
    const test = await started(Transforming);
    await test.trigger('set_class', ['light', 'red']);
    await test.trigger('set', ['count', 1]);
    assert.deepEqual(test.emittedMessages, [
      ['class_data', { light: 'red' }],
      ['data', { count: 1 }],
    ]);
  });

  test('a transform that throws is an error signal; the value is still stored', async () => {
    const test = await started(Transforming);
    await test.trigger('set', ['broken', 1]);
    assert.equal(test.emittedMessages.length, 1);
    assert.equal(test.emittedMessages[0]![0], 'error');
    assert.match(String(test.emittedMessages[0]![1]), /transform failed on purpose/);
    assert.equal(test.analysisInstance.data.get('broken'), 1);
  });
});

describe('classData', () => {
  class Shared extends Analysis {
    /** How often any instance forwarded a `phase` change (leaked callbacks would count too). */
    static forwarded = 0;
    class_data_phase(value: unknown) {
      Shared.forwarded++;
      return value;
    }
    on_set_class(key: string, value: unknown) {
      return this.classData.set(key, value);
    }
    override on_disconnected() {
      return this.emit('bye');
    }
  }
  class OtherShared extends Analysis {}

  test('is shared by every instance of a class and its frame reaches both', async () => {
    const one = await started(Shared);
    const two = await started(Shared);
    assert.equal(one.analysisInstance.classData.domain, 'Shared');
    await one.trigger('set_class', ['light', 'green']);
    assert.deepEqual(one.emittedMessages, [['class_data', { light: 'green' }]]);
    assert.deepEqual(two.emittedMessages, [['class_data', { light: 'green' }]]);
    assert.equal(two.analysisInstance.classData.get('light'), 'green');
    await one.close();
    await two.close();
  });

  test('is not shared with another class', async () => {
    const one = await started(Shared);
    const other = await started(OtherShared);
    await one.trigger('set_class', ['only', 'shared']);
    assert.equal(other.analysisInstance.classData.has('only'), false);
    assert.deepEqual(other.emittedMessages, []);
    await one.close();
    await other.close();
  });

  test('close() runs on_disconnected; afterwards classData changes no longer reach it', async () => {
    const staying = await started(Shared);
    const leaving = await started(Shared);
    Shared.forwarded = 0;
    await staying.trigger('set_class', ['phase', 1]);
    assert.deepEqual(leaving.emittedMessages, [['class_data', { phase: 1 }]]);
    assert.equal(Shared.forwarded, 2);

    await leaving.close();
    assert.deepEqual(leaving.emittedMessages.at(-1), ['bye']);
    const count = leaving.emittedMessages.length;
    Shared.forwarded = 0;
    await staying.trigger('set_class', ['phase', 2]);
    assert.equal(Shared.forwarded, 1, 'the closed instance still handled a classData change');
    assert.equal(leaving.emittedMessages.length, count, 'a closed instance still got a frame');
    assert.deepEqual(staying.emittedMessages.at(-1), ['class_data', { phase: 2 }]);
    assert.equal(leaving.analysisInstance.signal.aborted, true);
    await assert.rejects(leaving.trigger('set_class', ['phase', 3]), /closed/);
    await staying.close();
  });

  test('sessions that come and go leave no callbacks behind on classData', async () => {
    for (let i = 0; i < 50; i++) {
      const test = await started(Shared);
      await test.close();
    }
    const open = await started(Shared);
    Shared.forwarded = 0;
    await open.trigger('set_class', ['phase', Math.random()]);
    assert.equal(Shared.forwarded, 1);
    await open.close();
  });
});

describe('a handler that throws', () => {
  class Throwing extends Analysis {
    static thrown: Error[] = [];
    on_boom(msg: string) {
      const error = new Error(msg);
      Throwing.thrown.push(error);
      throw error;
    }
    async on_async_boom(msg: string) {
      await Promise.resolve();
      const error = new RangeError(msg);
      Throwing.thrown.push(error);
      throw error;
    }
    on_throw_string() {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- a non-Error throw is the point
      throw 'just a string';
    }
    on_fine() {
      return this.emit('fine');
    }
  }

  for (const action of ['boom', 'async_boom'] as const) {
    test(`${action}: error signal with the message, stack in the log, end frame with error: true`, async () => {
      const test = await started(Throwing);
      const message = `kaboom from ${action}`;
      await test.trigger(action, { msg: message, __process_id: 7 });
      const error = Throwing.thrown.at(-1)!;
      assert.equal(error.message, message);
      assert.equal(test.emittedMessages.length, 3);
      assert.deepEqual(test.emittedMessages[0], ['__process', { id: 7, status: 'start' }]);
      assert.equal(test.emittedMessages[1]![0], 'error');
      assert.ok(String(test.emittedMessages[1]![1]).includes(message));
      assert.deepEqual(test.emittedMessages[2], [
        '__process',
        { id: 7, status: 'end', error: true },
      ]);
      assert.ok(
        test.logs.some(([level, line]) => level === 'error' && line.includes(error.stack!)),
        'the stack is not in the log',
      );

      await test.trigger('fine');
      assert.deepEqual(test.emittedMessages.at(-1), ['fine']);
    });
  }

  test('the trigger promise still resolves, and a thrown non-Error is reported', async () => {
    const test = await started(Throwing);
    await test.trigger('throw_string');
    assert.equal(test.emittedMessages[0]![0], 'error');
    assert.match(String(test.emittedMessages[0]![1]), /just a string/);
  });

  test('other handlers of the same action still run', async () => {
    class PartlyThrowing extends Analysis {
      on_mixed() {
        throw new Error('first handler fails');
      }
      ['on_*'](action: string) {
        return this.emit('wildcard saw', action);
      }
    }
    const test = await started(PartlyThrowing);
    await test.trigger('mixed');
    assert.equal(test.emittedMessages[0]![0], 'error');
    assert.deepEqual(test.emittedMessages[1], ['wildcard saw', 'mixed']);
  });

  test('a successful process has no error key in its end frame', async () => {
    const test = await started(Throwing);
    await test.trigger('fine', { __process_id: 1 });
    assert.deepEqual(test.emittedMessages, [
      ['__process', { id: 1, status: 'start' }],
      ['fine'],
      ['__process', { id: 1, status: 'end' }],
    ]);
  });
});

describe('timers', () => {
  class Ticking extends Analysis {
    // what ran, recorded before any emit: after close, emits go nowhere
    fired: string[] = [];
    on_start() {
      this.setInterval(() => {
        this.fired.push('tick');
        return this.emit('tick');
      }, 100);
      this.setTimeout(() => {
        this.fired.push('once');
        return this.emit('once');
      }, 250);
    }
    on_failing_timer() {
      this.setTimeout(() => {
        throw new Error('timer exploded');
      }, 10);
      this.setTimeout(async () => {
        await Promise.resolve();
        throw new Error('async timer exploded');
      }, 20);
    }
    on_cleared() {
      const handle = this.setTimeout(() => this.emit('should not fire'), 10);
      this.clearTimer(handle);
      const interval = this.setInterval(() => this.emit('should not tick'), 10);
      this.clearTimer(interval);
    }
  }

  test('this.setTimeout and this.setInterval fire, and are cleared on close', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    const test = await started(Ticking);
    await test.trigger('start');
    t.mock.timers.tick(100);
    assert.deepEqual(test.emittedMessages, [['tick']]);
    t.mock.timers.tick(150);
    assert.deepEqual(test.emittedMessages, [['tick'], ['tick'], ['once']]);
    await test.close();
    const count = test.emittedMessages.length;
    // the callbacks' own record proves nothing runs at all, not only that nothing is sent
    t.mock.timers.tick(1000);
    assert.deepEqual(
      test.analysisInstance.fired,
      ['tick', 'tick', 'once'],
      'a timer ran after close',
    );
    assert.equal(test.emittedMessages.length, count);
  });

  test('a timeout that has not fired yet is cleared on close', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    const test = await started(Ticking);
    await test.trigger('start');
    await test.close();
    t.mock.timers.tick(1000);
    assert.deepEqual(test.analysisInstance.fired, []);
  });

  test('clearTimer stops a timeout and an interval', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    const test = await started(Ticking);
    await test.trigger('cleared');
    t.mock.timers.tick(100);
    assert.deepEqual(test.emittedMessages, []);
    await test.close();
  });

  test('a timer that throws (sync or async) becomes an error signal', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    const test = await started(Ticking);
    await test.trigger('failing_timer');
    t.mock.timers.tick(10);
    assert.equal(test.emittedMessages.length, 1);
    assert.equal(test.emittedMessages[0]![0], 'error');
    assert.match(String(test.emittedMessages[0]![1]), /timer exploded/);
    t.mock.timers.tick(10);
    // the async failure is reported when its promise rejects
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(test.emittedMessages.length, 2);
    assert.match(String(test.emittedMessages[1]![1]), /async timer exploded/);
    assert.ok(
      test.logs.some(([level, line]) => level === 'error' && line.includes('timer exploded')),
    );
    await test.close();
  });
});
