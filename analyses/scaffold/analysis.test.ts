import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnalysisTest } from 'databench-ts/testing';
import { Scaffold } from './analysis.js';

test('scaffold: counts clicks', async () => {
  const t = new AnalysisTest(Scaffold);
  await t.ready;
  assert.equal(t.analysisInstance.data.get('clicks'), 0);

  await t.trigger('count');
  await t.trigger('count');

  assert.equal(t.analysisInstance.data.get('clicks'), 2);
  // the page got each change as a `data` signal
  assert.deepEqual(t.emittedMessages.at(-1), ['data', { clicks: 2 }]);
  await t.close();
});
