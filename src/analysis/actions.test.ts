import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Analysis, on, onAction } from 'databench-ts';
import { AnalysisTest } from 'databench-ts/testing';
import { actionTable } from './actions.js';

// Class names are datastore domains (classData): keep them unique in this file.

/** Messages emitted after the setup (connect, args, connected). */
async function started<A extends Analysis>(cls: new () => A): Promise<AnalysisTest<A>> {
  const test = new AnalysisTest(cls);
  await test.ready;
  test.emittedMessages.length = 0;
  return test;
}

describe('on_<action> methods', () => {
  class Verbatim extends Analysis {
    on_test_fn(value: unknown) {
      return this.emit('handled', ['test_fn', value]);
    }
    on_fn(value: unknown) {
      return this.emit('handled', ['fn', value]);
    }
    on_CamelCase() {
      return this.emit('handled', ['CamelCase']);
    }
  }

  test('the action name is the method name after on_, verbatim', async () => {
    const test = await started(Verbatim);
    await test.trigger('test_fn', 1);
    await test.trigger('fn', 2);
    await test.trigger('CamelCase');
    assert.deepEqual(test.emittedMessages, [
      ['handled', ['test_fn', 1]],
      ['handled', ['fn', 2]],
      ['handled', ['CamelCase']],
    ]);
  });

  test('no other spelling reaches the handler', async () => {
    const test = await started(Verbatim);
    // @ts-expect-error: no such action: the type says so too
    await test.trigger('test');
    // @ts-expect-error: no such action (one edit from test_fn)
    await test.trigger('testFn');
    // @ts-expect-error: no such action (CamelCase differs in case)
    await test.trigger('camelcase');
    assert.deepEqual(test.emittedMessages, [
      ['warn', 'no handler for test'],
      ['warn', 'no handler for testFn'],
      ['warn', 'no handler for camelcase'],
    ]);
  });

  test('an override in a subclass replaces the base handler; inherited handlers still run', async () => {
    class BaseHandlers extends Analysis {
      on_greet() {
        return this.emit('from', 'base greet');
      }
      on_inherited() {
        return this.emit('from', 'base inherited');
      }
    }
    class DerivedHandlers extends BaseHandlers {
      override on_greet() {
        return this.emit('from', 'derived greet');
      }
    }
    const test = await started(DerivedHandlers);
    await test.trigger('greet');
    await test.trigger('inherited');
    assert.deepEqual(test.emittedMessages, [
      ['from', 'derived greet'],
      ['from', 'base inherited'],
    ]);
  });
});

describe('@on and @onAction', () => {
  class Decorated extends Analysis {
    calls: unknown[] = [];

    @on
    run(n: number) {
      this.calls.push(['@on run', n]);
    }

    @onAction('run')
    alsoRun(n: number) {
      this.calls.push(['@onAction(run) alsoRun', n]);
    }

    on_run(n: number) {
      this.calls.push(['on_run', n]);
    }

    @onAction('stop')
    @onAction('halt')
    finish() {
      this.calls.push(['finish']);
    }

    @onAction('ping')
    on_ping() {
      this.calls.push(['on_ping']);
    }

    @onAction('async-action')
    async later(value: string) {
      await Promise.resolve();
      this.calls.push(['later', value]);
    }

    /** Not decorated and not on_: not a handler. */
    helper() {
      this.calls.push(['helper']);
    }
  }

  test('@on handles the action named like the method', async () => {
    class OnlyOn extends Analysis {
      @on
      compute(x: number) {
        return this.emit('computed', x * 2);
      }
    }
    const test = await started(OnlyOn);
    await test.trigger('compute', 21);
    assert.deepEqual(test.emittedMessages, [['computed', 42]]);
  });

  test('@onAction(name) handles the named action, not the method name', async () => {
    class OnlyOnAction extends Analysis {
      @onAction('do-it')
      internalName() {
        return this.emit('done');
      }
    }
    const test = await started(OnlyOnAction);
    // (an @onAction name unlike its method's is not in the class's type)
    await test.trigger('do-it' as never);
    await test.trigger('internalName');
    assert.deepEqual(test.emittedMessages, [['done'], ['warn', 'no handler for internalName']]);
  });

  test('every handler of one action runs', async () => {
    const test = await started(Decorated);
    await test.trigger('run', 7);
    const calls = test.analysisInstance.calls.map((c) => JSON.stringify(c)).sort();
    assert.deepEqual(calls, ['["@on run",7]', '["@onAction(run) alsoRun",7]', '["on_run",7]']);
  });

  test('one method can handle several actions', async () => {
    const test = await started(Decorated);
    // (@onAction names unlike the method's are not in the class's type)
    await test.trigger('stop' as never);
    await test.trigger('halt' as never);
    assert.deepEqual(test.analysisInstance.calls, [['finish'], ['finish']]);
    assert.deepEqual(test.emittedMessages, []);
  });

  test('on_x decorated with @onAction("x") runs once', async () => {
    const test = await started(Decorated);
    await test.trigger('ping');
    assert.deepEqual(test.analysisInstance.calls, [['on_ping']]);
  });

  test('a decorated async method is awaited', async () => {
    const test = await started(Decorated);
    // (an @onAction name unlike its method's is not in the class's type)
    await test.trigger('async-action' as never, 'v');
    assert.deepEqual(test.analysisInstance.calls, [['later', 'v']]);
  });

  test('a method that is neither on_ nor decorated is not a handler', async () => {
    const test = await started(Decorated);
    await test.trigger('helper');
    assert.deepEqual(test.analysisInstance.calls, []);
    assert.deepEqual(test.emittedMessages, [['warn', 'no handler for helper']]);
  });

  test('@onAction refuses an empty name', () => {
    assert.throws(() => onAction(''), TypeError);
  });

  test('maxParallel: a positive integer or Infinity, with concurrency parallel only', () => {
    for (const maxParallel of [0, -1, 1.5, Number.NaN, '4' as unknown as number]) {
      assert.throws(
        () => on({ concurrency: 'parallel', maxParallel }),
        /maxParallel must be a positive integer or Infinity/,
      );
    }
    assert.throws(
      () => onAction('x', { concurrency: 'latest', maxParallel: 2 }),
      /maxParallel goes with concurrency: 'parallel'/,
    );
    assert.doesNotThrow(() => on({ concurrency: 'parallel', maxParallel: Infinity }));
    assert.doesNotThrow(() => on({ concurrency: 'parallel', maxParallel: 1 }));
  });

  test("a '*' handler runs for every action with (action, message)", async () => {
    class Wildcard extends Analysis {
      seen: unknown[][] = [];

      @onAction('*')
      all(...args: unknown[]) {
        this.seen.push(args);
      }

      on_known(a: number, b: number) {
        this.seen.push(['known handler', a, b]);
      }
    }
    const test = new AnalysisTest(Wildcard);
    await test.ready;
    const setup = test.analysisInstance.seen.map((args) => args[0]);
    assert.deepEqual(setup, ['connect', 'args', 'connected']);
    test.analysisInstance.seen.length = 0;

    await test.trigger('known', { a: 1, b: 2 });
    // (what only a '*' handler takes is not in the class's type)
    await test.trigger('unknown' as never, [1, 2]);
    await test.trigger('bare' as never);
    await test.trigger('with-process' as never, { x: 1, __process_id: 5 });
    assert.deepEqual(test.analysisInstance.seen, [
      ['known handler', 1, 2],
      ['known', { a: 1, b: 2 }],
      ['unknown', [1, 2]],
      ['bare', undefined],
      ['with-process', { x: 1 }],
    ]);
    // an action that only '*' handles is handled: no warning
    assert.deepEqual(test.emittedMessages, [
      ['__process', { id: 5, status: 'start' }],
      ['__process', { id: 5, status: 'end' }],
    ]);
  });
});

describe('argument binding', () => {
  class Binding extends Analysis {
    calls: unknown[] = [];

    on_positional(a: unknown, b: unknown, c: unknown) {
      this.calls.push([a, b, c]);
    }

    on_keywords(
      first: unknown,
      second: unknown = 'second-default',
      third: unknown = 'third-default',
    ) {
      this.calls.push([first, second, third]);
    }

    on_scalar(value: unknown, ...rest: unknown[]) {
      this.calls.push([value, rest.length]);
    }

    on_count(...args: unknown[]) {
      this.calls.push(args.length);
    }

    on_whole({ a, b, c = 'c-default' }: { a?: unknown; b?: unknown; c?: unknown }) {
      this.calls.push([a, b, c]);
    }

    on_tricky(
      a: unknown = ')',
      b: unknown = { close: '(', list: [1, 2] },
      c: unknown = ((n: number) => n + 1)(1),
    ) {
      this.calls.push([a, b, c]);
    }

    async on_async_keywords(x: unknown, y: unknown = 'y-default') {
      await Promise.resolve();
      this.calls.push([x, y]);
    }
  }

  test('a list is positional arguments', async () => {
    const test = await started(Binding);
    await test.trigger('positional', [1, 'two', { three: 3 }]);
    await test.trigger('keywords', ['p1', 'p2']);
    await test.trigger('count', []);
    assert.deepEqual(test.analysisInstance.calls, [
      [1, 'two', { three: 3 }],
      ['p1', 'p2', 'third-default'],
      0,
    ]);
  });

  test('an object is keyword arguments matched by name, in any order', async () => {
    const test = await started(Binding);
    await test.trigger('positional', { c: 3, a: 1, b: 2 });
    await test.trigger('async_keywords', { y: 'why', x: 'ex' });
    assert.deepEqual(test.analysisInstance.calls, [
      [1, 2, 3],
      ['ex', 'why'],
    ]);
    assert.deepEqual(test.emittedMessages, []);
  });

  test('defaults are honoured for keywords not given, also before a given one', async () => {
    const test = await started(Binding);
    await test.trigger('keywords', { first: 1 });
    await test.trigger('keywords', { first: 1, third: 3 });
    await test.trigger('async_keywords', { x: 'only x' });
    assert.deepEqual(test.analysisInstance.calls, [
      [1, 'second-default', 'third-default'],
      [1, 'second-default', 3],
      ['only x', 'y-default'],
    ]);
  });

  test('defaults holding brackets, objects and calls are read by a real parser', async () => {
    const test = await started(Binding);
    await test.trigger('tricky', {});
    await test.trigger('tricky', { c: 'given' });
    await test.trigger('tricky', { b: 'bee' });
    assert.deepEqual(test.analysisInstance.calls, [
      [')', { close: '(', list: [1, 2] }, 2],
      [')', { close: '(', list: [1, 2] }, 'given'],
      [')', 'bee', 2],
    ]);
    assert.deepEqual(test.emittedMessages, []);
  });

  test('any other message is the first argument', async () => {
    const test = await started(Binding);
    await test.trigger('scalar', 'text');
    await test.trigger('scalar', 3.5);
    await test.trigger('scalar', false);
    await test.trigger('scalar', null);
    await test.trigger('scalar', 0);
    assert.deepEqual(test.analysisInstance.calls, [
      ['text', 0],
      [3.5, 0],
      [false, 0],
      [null, 0],
      [0, 0],
    ]);
  });

  test('no message means no arguments', async () => {
    const test = await started(Binding);
    await test.trigger('count');
    await test.trigger('tricky');
    assert.deepEqual(test.analysisInstance.calls, [0, [')', { close: '(', list: [1, 2] }, 2]]);
  });

  test('a required positional parameter left without a value is an error frame naming it (0.7 raised TypeError)', async () => {
    const test = await started(Binding);
    // @ts-expect-error: keywords needs its first argument: the type says so too
    await test.trigger('keywords');
    // @ts-expect-error: positional needs three
    await test.trigger('positional', [1]);
    await test.trigger('async_keywords', []);
    assert.deepEqual(test.analysisInstance.calls, [], 'no handler ran with undefined');
    const errors = test.emittedMessages.filter(([s]) => s === 'error').map(([, m]) => m);
    assert.deepEqual(errors, [
      'action "keywords": missing argument "first" (0 given); the handler takes (first, second = …, third = …)',
      'action "positional": missing arguments "b", "c" (1 given); the handler takes (a, b, c)',
      'action "async_keywords": missing argument "x" (0 given); the handler takes (x, y = …)',
    ]);
    await test.trigger('keywords', 'one');
    assert.deepEqual(test.analysisInstance.calls, [['one', 'second-default', 'third-default']]);
  });

  test('a handler whose only parameter is a destructuring pattern receives the object whole', async () => {
    const test = await started(Binding);
    await test.trigger('whole', { a: 1, b: 2 });
    // @ts-expect-error: a key the pattern ignores is not in its type
    await test.trigger('whole', { b: 'bee', c: 'see', extra: 'ignored by the pattern' });
    assert.deepEqual(test.analysisInstance.calls, [
      [1, 2, 'c-default'],
      [undefined, 'bee', 'see'],
    ]);
    assert.deepEqual(test.emittedMessages, []);
  });

  test('a handler with only a rest parameter receives the object whole', async () => {
    class RestOnly extends Analysis {
      got: unknown[][] = [];
      on_rest(...args: unknown[]) {
        this.got.push(args);
      }
    }
    const test = await started(RestOnly);
    await test.trigger('rest', { any: 'key' });
    assert.deepEqual(test.analysisInstance.got, [[{ any: 'key' }]]);
  });

  test('the seed fixture: on_test_fn binds lists, keywords and its default', async () => {
    const { Parameters } = await import('../../test/fixtures/parameters/analysis.js');
    const test = await started(Parameters);
    await test.trigger('test_fn', [1, 2]);
    await test.trigger('test_fn', [1]);
    await test.trigger('test_fn', { first_param: 'a' });
    await test.trigger('test_fn', { second_param: 'b', first_param: 'a' });
    await test.trigger('test_fn', 'scalar');
    assert.deepEqual(test.emittedMessages, [
      ['test_fn', [1, 2]],
      ['test_fn', [1, 100]],
      ['test_fn', ['a', 100]],
      ['test_fn', ['a', 'b']],
      ['test_fn', ['scalar', 100]],
    ]);
  });
});

describe('bad inputs', () => {
  class Strict extends Analysis {
    calls: unknown[] = [];
    on_needs(alpha: unknown, beta: unknown, gamma: unknown = 'g') {
      this.calls.push([alpha, beta, gamma]);
    }
    on_nothing() {
      this.calls.push('nothing');
    }
    on_ok() {
      return this.emit('ok');
    }
  }

  test('an unknown keyword is an error signal naming the action and its parameters', async () => {
    const test = await started(Strict);
    await test.trigger('needs', { alpha: 1, beta: 2, bogus: 3 });
    assert.deepEqual(test.analysisInstance.calls, [], 'the handler ran with a dropped keyword');
    assert.equal(test.emittedMessages.length, 1);
    const [signal, message] = test.emittedMessages[0]!;
    assert.equal(signal, 'error');
    assert.equal(typeof message, 'string');
    for (const word of ['needs', 'bogus', 'alpha', 'beta', 'gamma']) {
      assert.ok((message as string).includes(word), `"${word}" missing from: ${String(message)}`);
    }
    assert.ok(
      test.logs.some(([, line]) => line.includes('bogus')),
      'the error is not in the server log',
    );
  });

  test('a keyword for a handler without parameters is an error', async () => {
    const test = await started(Strict);
    // @ts-expect-error: nothing takes no keywords
    await test.trigger('nothing', { surprise: 1 });
    assert.deepEqual(test.analysisInstance.calls, []);
    assert.equal(test.emittedMessages[0]?.[0], 'error');
    assert.match(String(test.emittedMessages[0]?.[1]), /nothing/);
    assert.match(String(test.emittedMessages[0]?.[1]), /surprise/);
  });

  test('a missing argument without a default is an error signal naming it', async () => {
    const test = await started(Strict);
    await test.trigger('needs', { alpha: 1 });
    await test.trigger('needs', { gamma: 1 });
    assert.deepEqual(test.analysisInstance.calls, []);
    assert.equal(test.emittedMessages.length, 2);
    const [first, second] = test.emittedMessages as [[string, string], [string, string]];
    assert.equal(first[0], 'error');
    assert.match(first[1], /needs/);
    assert.match(first[1], /"beta"/);
    assert.doesNotMatch(first[1], /missing[^;]*"alpha"/);
    assert.equal(second[0], 'error');
    assert.match(second[1], /"alpha"/);
    assert.match(second[1], /"beta"/);
  });

  test('a bad binding inside a process ends it with error: true; the next action works', async () => {
    const test = await started(Strict);
    await test.trigger('needs', { bogus: 1, __process_id: 9 });
    await test.trigger('ok');
    assert.deepEqual(test.emittedMessages[0], ['__process', { id: 9, status: 'start' }]);
    assert.equal(test.emittedMessages[1]?.[0], 'error');
    assert.deepEqual(test.emittedMessages[2], ['__process', { id: 9, status: 'end', error: true }]);
    assert.deepEqual(test.emittedMessages[3], ['ok']);
    assert.equal(test.emittedMessages.length, 4);
  });

  test('a bad binding for one handler does not stop the other handlers of the action', async () => {
    class TwoHandlers extends Analysis {
      got: unknown[] = [];
      on_multi(only: unknown) {
        this.got.push(['on_multi', only]);
      }
      @onAction('multi')
      everything(...args: unknown[]) {
        this.got.push(['everything', ...args]);
      }
    }
    const test = await started(TwoHandlers);
    await test.trigger('multi', { other: 1 });
    assert.deepEqual(test.analysisInstance.got, [['everything', { other: 1 }]]);
    assert.equal(test.emittedMessages.length, 1);
    assert.equal(test.emittedMessages[0]![0], 'error');
  });

  test('an unknown action is a warn "no handler for <action>"', async () => {
    const test = await started(Strict);
    // @ts-expect-error: no such action
    await test.trigger('does_not_exist', { a: 1 });
    assert.deepEqual(test.emittedMessages, [['warn', 'no handler for does_not_exist']]);
    assert.ok(
      test.logs.some(([level, line]) => level === 'warn' && line.includes('does_not_exist')),
    );
  });

  test('an unknown action inside a process still gets both process frames', async () => {
    const test = await started(Strict);
    // @ts-expect-error: no such action
    await test.trigger('does_not_exist', { __process_id: 'p' });
    assert.deepEqual(test.emittedMessages, [
      ['__process', { id: 'p', status: 'start' }],
      ['warn', 'no handler for does_not_exist'],
      ['__process', { id: 'p', status: 'end' }],
    ]);
  });

  test('the built-in actions are no unknown actions', async () => {
    const test = await started(Strict);
    await test.trigger('connect');
    await test.trigger('connected');
    assert.deepEqual(test.emittedMessages, []);
  });
});

describe('concurrency options', () => {
  test('exclusive goes with latest only, and must be a boolean', () => {
    assert.throws(() => on({ concurrency: 'queue', exclusive: true }), /exclusive goes with/);
    assert.throws(() => on({ concurrency: 'parallel', exclusive: true }), /exclusive goes with/);
    assert.throws(
      () => onAction('x', { concurrency: 'latest', exclusive: 'yes' as unknown as boolean }),
      /exclusive must be true or false/,
    );
    on({ concurrency: 'latest', exclusive: true });
  });

  test('the action table has every declared concurrency (queue too) and the exclusive ones', () => {
    class Declared extends Analysis {
      @on({ concurrency: 'queue' })
      ordered() {}
      @on({ concurrency: 'latest', exclusive: true })
      after() {}
      @onAction('slide', { concurrency: 'latest' })
      moved() {}
      free() {}
    }
    const table = actionTable(Declared);
    assert.deepEqual(Object.fromEntries(table.concurrency), {
      ordered: 'queue',
      after: 'latest',
      slide: 'latest',
    });
    assert.deepEqual([...table.exclusive], ['after']);
  });
});
