import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { escapeLogText } from './log-text.ts';

describe('escapeLogText', () => {
  test('newlines, control characters, separators and bidi controls are escaped', () => {
    assert.equal(
      escapeLogText('a\nINFO forged\r\x1b[31m\u2028\u202e\x00\x7f\x85'),
      'a\\nINFO forged\\r\\x1b[31m\\u2028\\u202e\\x00\\x7f\\x85',
    );
    assert.equal(escapeLogText('plain text, ünïcode ✓'), 'plain text, ünïcode ✓');
  });

  test('a long text is cut with a count of what was left out', () => {
    assert.equal(escapeLogText('x'.repeat(1005)), 'x'.repeat(1000) + '… (5 more chars)');
    assert.equal(escapeLogText('abcdef', 3), 'abc… (3 more chars)');
    // the cut does not split a surrogate pair
    assert.equal(escapeLogText('ab😀', 3), 'ab… (2 more chars)');
  });
});
