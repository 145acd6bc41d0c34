import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Analysis } from './analysis.js';
import { parseParams, readParams, simpleParams } from './params.js';

/** Handler sources the reader without a parser answers: acorn must read the same list. */
const SIMPLE = [
  'on_connected() {}',
  'on_x(a) { return a; }',
  'on_x(a, b = 100) {}',
  "on_args(cli_args = [], request_args = {}) { this.x = ')'; }",
  'async on_stream(n) { await n; }',
  'async *gen(a, b) {}',
  '*gen(a) {}',
  'async(a) {}',
  'function named(a, $b, _c = null) {}',
  'function (a = -1.5, b = true, c = "x y", d = \'z\', e = undefined) {}',
  'async function f(a) {}',
  '(a, b) => a + b',
  'async (a) => a',
  '() => 1',
];

/** Sources it leaves to acorn (null), each of which acorn reads. */
const PARSED = [
  'on_x({ a, b }) {}',
  'on_x([a, b]) {}',
  'on_x(...rest) {}',
  'on_x(a, ...rest) {}',
  'on_x(a = f(1)) {}',
  'on_x(a = [1, 2]) {}',
  "on_x(a = 'a,b') {}",
  'on_x(a /* the first */, b) {}',
  'on_x(a,) {}',
  'a => a',
  'get value() { return 1; }',
  '[Symbol.iterator](a) {}',
  'on_x(a = 1e3) {}',
];

describe('simpleParams', () => {
  test('reads plain names with literal defaults as acorn does', () => {
    for (const source of SIMPLE) {
      const simple = simpleParams(source);
      assert.notEqual(simple, null, source);
      assert.deepEqual(simple, parseParams(source), source);
    }
  });

  test('leaves every other shape to acorn', () => {
    for (const source of PARSED) assert.equal(simpleParams(source), null, source);
    assert.deepEqual(parseParams('on_x({ a }, ...rest) {}'), [
      { name: '', hasDefault: false, rest: false, pattern: true },
      { name: 'rest', hasDefault: false, rest: true, pattern: false },
    ]);
  });

  test('native and bound functions stay unreadable (null), as acorn has them', () => {
    const bound = function (this: unknown, a: number) {
      return a;
    }.bind(null);
    for (const fn of [Math.max, bound]) {
      assert.equal(simpleParams(Function.prototype.toString.call(fn)), null);
      assert.equal(readParams(fn), null);
    }
  });

  test('the built-in handlers are read without acorn, as acorn reads them', () => {
    const proto = Analysis.prototype as unknown as Record<string, Function>;
    for (const name of ['on_connect', 'on_args', 'on_connected', 'on_disconnected']) {
      const source = Function.prototype.toString.call(proto[name]);
      assert.notEqual(simpleParams(source), null, name);
      assert.deepEqual(simpleParams(source), parseParams(source), name);
    }
  });
});
