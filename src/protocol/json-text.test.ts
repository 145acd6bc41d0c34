import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isJsonText } from './json-text.ts';

/** What JSON.parse says, the reference. */
function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const VALID = [
  '0',
  '-0',
  '1',
  '-12.5e+3',
  '1E-2',
  '3.14',
  'true',
  'false',
  'null',
  '""',
  '"a\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D"',
  '"ünïcode ✓ 😀"',
  '[]',
  '{}',
  ' [ 1 , [ ] , { } , "x" ] ',
  '{"a":{"b":[1,{"c":null}]},"d":"e"}',
  '\t\r\n{"k" : "v"}\n',
  '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
];

const INVALID = [
  '',
  ' ',
  '1},"signal":"evil","load":{"a":1',
  '1 2',
  '01',
  '1.',
  '.5',
  '1e',
  '+1',
  '-',
  'NaN',
  'Infinity',
  'tru',
  'nul',
  'True',
  '"unterminated',
  '"bad \\x escape"',
  '"\\u12G4"',
  '"raw\nnewline"',
  "'single'",
  '[1,]',
  '[,1]',
  '{"a":1,}',
  '{"a" 1}',
  '{a:1}',
  '{"a":1]',
  '[1}',
  '[',
  '{',
  '{"a":',
  ']',
  '{"a":1}}',
  '[1][2]',
  '"a" "b"',
];

describe('isJsonText', () => {
  test('accepts what JSON.parse accepts', () => {
    for (const text of VALID) {
      assert.equal(parses(text), true, `the reference refuses ${text}`);
      assert.equal(isJsonText(text), true, text);
    }
  });

  test('refuses what JSON.parse refuses, a frame injection among them', () => {
    for (const text of INVALID) {
      assert.equal(parses(text), false, `the reference accepts ${text}`);
      assert.equal(isJsonText(text), false, text);
    }
  });

  test('agrees with JSON.parse on every cut and one-character change of valid texts', () => {
    const alphabet = ['{', '}', '[', ']', ',', ':', '"', '\\', ' ', '1', '-', '.', 'e', 'x', '\n'];
    for (const text of VALID) {
      for (let cut = 0; cut <= text.length; cut++) {
        const t = text.slice(0, cut);
        assert.equal(isJsonText(t), parses(t), JSON.stringify(t));
      }
      for (let at = 0; at < text.length; at++) {
        for (const ch of alphabet) {
          const t = text.slice(0, at) + ch + text.slice(at + 1);
          assert.equal(isJsonText(t), parses(t), JSON.stringify(t));
          const inserted = text.slice(0, at) + ch + text.slice(at);
          assert.equal(isJsonText(inserted), parses(inserted), JSON.stringify(inserted));
        }
      }
    }
  });

  test('deep nesting is checked without recursion', () => {
    const depth = 200_000;
    assert.equal(isJsonText('['.repeat(depth) + ']'.repeat(depth)), true);
    assert.equal(isJsonText('['.repeat(depth) + ']'.repeat(depth - 1)), false);
    assert.equal(isJsonText('{"a":'.repeat(depth) + '1' + '}'.repeat(depth)), true);
  });
});
