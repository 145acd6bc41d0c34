import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeLoad, encodeValue } from './encode.ts';
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

test('plain data and data that needs the replacer encode alike, however deep they sit', () => {
  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
  }
  const cases: Array<[unknown, string]> = [
    [[1, 2], '[1,2]'],
    [undefined, 'null'],
    [{ a: undefined, b: [undefined] }, '{"b":[null]}'],
    [{ n: [1, NaN, -Infinity] }, '{"n":[1,"NaN","-Infinity"]}'],
    [{ s: { t: new Set([1, 2]) } }, '{"s":{"t":[1,2]}}'],
    [[{ m: new Map([['k', Infinity]]) }], '[{"m":{"k":"Infinity"}}]'],
    [{ big: 2n }, '{"big":2}'],
    [{ when: new Date(0) }, '{"when":"1970-01-01T00:00:00.000Z"}'],
    [{ p: new Point(1, 2) }, '{"p":{"x":1,"y":2}}'],
    [{ own: { toJSON: () => NaN } }, '{"own":"NaN"}'],
    [{ typed: new Uint8Array([3, 4]) }, '{"typed":[3,4]}'],
    [Object.assign(Object.create(null) as object, { a: 1 }), '{"a":1}'],
  ];
  for (const [value, text] of cases) assert.equal(encodeValue(value), text);
  // deeper than the walk goes: the replacer still turns NaN into "NaN"
  let deep: unknown = [NaN];
  for (let i = 0; i < 40; i++) deep = { d: deep };
  assert.match(encodeValue(deep), /\["NaN"\]/);
  assert.equal(codeOf({ deep, f: () => 1 }), 'ENCODE');
});

test('a load that cannot be encoded names its signal', () => {
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  assert.throws(() => encodeLoad('plot', { cyclic }), /the load of signal "plot"/);
  assert.equal(encodeLoad('plot', [1, NaN]), '[1,"NaN"]');
});
