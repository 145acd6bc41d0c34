import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeError, safeString } from './errors.ts';

describe('describeError', () => {
  test('an Error: name and message, and its stack', () => {
    const error = new TypeError('bad');
    assert.deepEqual(describeError(error), { message: 'TypeError: bad', stack: error.stack });
  });

  test('any thrown value is described, never throwing', () => {
    const throws = {
      get(): never {
        throw new Error('no');
      },
    };
    const throwingGetters: unknown = Object.create(Error.prototype, {
      name: throws,
      message: throws,
      stack: throws,
    });
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const cases: Array<[unknown, string]> = [
      [null, 'null'],
      [undefined, 'undefined'],
      ['text', 'text'],
      [42, '42'],
      [Symbol('s'), 'Symbol(s)'],
      [Object.create(null), '[object with a null prototype]'],
      [
        {
          toString() {
            throw new Error('no');
          },
        },
        '[object Object]',
      ],
      [{ [Symbol.toPrimitive]: () => ({}) }, '[object Object]'],
      [throwingGetters, 'Error'],
      [revoked.proxy, '[object]'],
      [{ message: 'like an error' }, 'like an error'],
    ];
    for (const [value, message] of cases) {
      const d = describeError(value);
      assert.equal(d.message, message);
      assert.equal(typeof d.stack, 'string');
    }
  });

  test('safeString', () => {
    assert.equal(safeString([1, 2]), '1,2');
    assert.equal(safeString(Object.create(null)), '[object with a null prototype]');
  });
});
