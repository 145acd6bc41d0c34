import assert from 'node:assert/strict';
import { test } from 'node:test';
import { didYouMean, editDistance, nearestName } from './nearest.js';

test('editDistance counts insertions, deletions, replacements and swaps of neighbours', () => {
  assert.equal(editDistance('count', 'count'), 0);
  assert.equal(editDistance('cuont', 'count'), 1);
  assert.equal(editDistance('cont', 'count'), 1);
  assert.equal(editDistance('counts', 'count'), 1);
  assert.equal(editDistance('coumt', 'count'), 1);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('abc', ''), 3);
  assert.equal(editDistance('samples', 'run'), 7);
});

test('nearestName: the nearest candidate within a third of the length, ignoring case', () => {
  assert.equal(nearestName('cuont', ['reset', 'count']), 'count');
  assert.equal(nearestName('Count', ['count']), 'count');
  assert.equal(nearestName('smaples', ['samples', 'run']), 'samples');
  assert.equal(nearestName('zzz', ['count', 'run']), undefined);
  // two edits are too many for a five-letter name
  assert.equal(nearestName('cnut', ['count']), undefined);
  // the closest wins, then the first
  assert.equal(nearestName('runs', ['run', 'rune']), 'run');
  assert.equal(didYouMean('cuont', ['count']), " (did you mean 'count'?)");
  assert.equal(didYouMean('zzz', ['count']), '');
});
