import assert from 'node:assert/strict';
import { test } from 'node:test';
import { utils } from 'databench-ts';
import { AnalysisTest } from 'databench-ts/testing';
import { Dummypi, convergencePlot, piEstimate } from './analysis.js';

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

test('dummypi: streams a convergence plot every few chunks, and one at the end', async () => {
  const t = new AnalysisTest(Dummypi);
  await t.trigger('samples', 5000);
  await t.trigger('run');
  const loads = t.emittedMessages
    .filter(([signal, load]) => signal === 'data' && typeof load === 'object' && load !== null)
    .map(([, load]) => load as { pi?: unknown; plot?: string });
  const plots = loads.filter((load) => 'plot' in load).map((load) => load.plot!);
  // 5 chunks of 1000 draws: after the 2nd, the 4th and the last, each right after its estimate
  assert.equal(plots.length, 3);
  assert.deepEqual(
    loads.map((load) => Object.keys(load).join()).filter((keys) => keys !== 'samples'),
    ['pi', 'pi', 'plot', 'chart', 'pi', 'pi', 'plot', 'chart', 'pi', 'plot', 'chart'],
  );
  assert.ok('chart' in loads.at(-1)!, 'the last write carries the final plot');
  const chart = t.analysisInstance.data.get('chart') as unknown as {
    datasets: { points: unknown[] };
  };
  assert.equal(chart.datasets.points.length, 5, 'the interactive plot has every point');
  const plot = t.analysisInstance.data.get('plot');
  assert.equal(plot, plots.at(-1));
  assert.ok(plot?.startsWith('data:image/png;base64,'), plot?.slice(0, 40));
  const png = Buffer.from(plot!.slice('data:image/png;base64,'.length), 'base64');
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  // 480 CSS px of plot plus axes, at 2 pixels per CSS px (sharp on HiDPI screens)
  const width = png.readUInt32BE(16);
  assert.ok(width > 960 && width < 1200, `width ${width}`);
  await t.close();
});

test('dummypi: reports progress while it runs, the last at 1', async () => {
  const t = new AnalysisTest(Dummypi);
  await t.trigger('samples', 5000);
  await t.trigger('run', { __process_id: 1 });
  const progress = t.emittedMessages
    .filter(([s, l]) => s === '__process' && (l as { status: string }).status === 'progress')
    .map(([, l]) => l as { fraction: number; message: string });
  assert.ok(progress.length >= 1);
  assert.equal(progress.at(-1)?.fraction, 1);
  assert.equal(progress.at(-1)?.message, '5,000 of 5,000 draws');
  await t.close();
});

test('convergencePlot: the estimate, its band and π, as Vega-Lite', async () => {
  const spec = convergencePlot([{ draws: 1000, ...piEstimate(790, 1000) }]);
  const svg = decodeURIComponent((await utils.figToSrc(spec, { format: 'svg' })).split(',')[1]!);
  assert.ok(svg.includes('estimate of π'));
  assert.ok(svg.includes('draws'));
});
