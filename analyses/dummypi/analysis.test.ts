import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnalysisTest } from 'databench/testing';
import { Dummypi, piEstimate } from './analysis.js';

test('dummypi: starts with 20000 samples', async () => {
  const t = new AnalysisTest(Dummypi);
  await t.ready;
  assert.equal(t.analysisInstance.data.get('samples'), 20_000);
  await t.close();
});

test('dummypi: streams an estimate every 1000 draws', async () => {
  const t = new AnalysisTest(Dummypi);
  await t.trigger('samples', 5000);
  await t.trigger('run');
  const pis = t.emittedMessages
    .filter(
      ([signal, load]) =>
        signal === 'data' && typeof load === 'object' && load !== null && 'pi' in load,
    )
    .map(([, load]) => (load as { pi: { estimate: number; uncertainty: number } }).pi);
  assert.equal(pis.length, 5);
  const last = pis.at(-1)!;
  assert.ok(
    Math.abs(last.estimate - Math.PI) < 6 * last.uncertainty + 0.01,
    `estimate ${last.estimate}`,
  );
  assert.deepEqual(
    t.emittedMessages
      .filter(([signal]) => signal === 'log')
      .map(([, line]) => String(line).split(':')[0]),
    ['run', 'done'],
  );
  await t.close();
});

test('dummypi: a bad sample count is an error on the page', async () => {
  const t = new AnalysisTest(Dummypi);
  await t.trigger('samples', -5);
  assert.equal(t.analysisInstance.data.get('samples'), 20_000);
  assert.ok(t.emittedMessages.some(([signal]) => signal === 'error'));
  await t.close();
});

test('piEstimate: four times the share inside, binomial uncertainty', () => {
  const { estimate, uncertainty } = piEstimate(3, 4);
  assert.equal(estimate, 3);
  assert.ok(Math.abs(uncertainty - Math.sqrt(0.75)) < 1e-12);
});
