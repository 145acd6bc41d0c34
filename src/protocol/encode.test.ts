import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeValue } from './encode.ts';
import { DatabenchError } from './errors.ts';

/** The code of the DatabenchError encoding `value` throws. */
function codeOf(value: unknown): string {
  try {
    encodeValue(value, 'k');
  } catch (error) {
    assert.ok(error instanceof DatabenchError, String(error));
    return error.code;
  }
  assert.fail('encoded');
}

test('a cycle is ENCODE_CYCLE, through objects, arrays, Sets and Maps', () => {
  const object: Record<string, unknown> = {};
  object['self'] = object;
  const list: unknown[] = [];
  list.push({ list });
  const set = new Set<unknown>();
  set.add([set]);
  const map = new Map<string, unknown>();
  map.set('m', { map });
  for (const value of [object, list, set, map]) assert.equal(codeOf(value), 'ENCODE_CYCLE');
});

test('other failures are ENCODE, even a TypeError that talks of a circle', () => {
  assert.equal(codeOf({ f: () => 1 }), 'ENCODE');
  const odd = {
    toJSON(): never {
      throw new TypeError('circular argument');
    },
  };
  assert.equal(codeOf({ odd }), 'ENCODE');
  // a shared object twice is not a cycle
  const shared = { x: 1 };
  assert.equal(encodeValue([shared, shared]), '[{"x":1},{"x":1}]');
});
