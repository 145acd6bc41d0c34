// Which call `actionSignal`, `currentAction` and `progress` name when a call
// runs beside the page's queue (a slider's `latest` call during a long run).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Analysis } from 'databench-ts';
import { ActionRun } from './action-run.js';
import { AnalysisInstance, type PageSink } from './instance.js';

/** A Promise and its resolve, for a handler to wait on what the test decides. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

const long = gate();
const side = gate();

class Overlap extends Analysis {
  seen: Array<[string, unknown]> = [];

  async on_long() {
    const mine = this.actionSignal;
    await long.wait;
    this.seen.push(['long: own signal after await', this.actionSignal === mine]);
    await this.progress(0.5, 'long');
  }

  async on_side() {
    this.seen.push(['side: before await', this.currentAction?.name]);
    await side.wait;
    await this.progress(0.5, 'side');
  }
}

test('a queued call keeps its signal and progress while a call beside the queue runs; that call has them once it runs alone', async () => {
  const frames: Array<[string, unknown]> = [];
  const sink: PageSink = {
    emit: (signal, message) => void frames.push([signal, message]),
    change: () => undefined,
  };
  const instance = new AnalysisInstance<Overlap>(sink);
  await instance.create(Overlap, {});
  const analysis = instance.analysis!;
  const longRun = instance.runAction('long', { __process_id: 1 }, new ActionRun('long', 1));
  const sideRun = instance.runAction(
    'side',
    { __process_id: 2 },
    new ActionRun('side', 2, 'latest', false),
  );
  // both have reached their first await; the side call started last
  long.open();
  await longRun;
  side.open();
  await sideRun;
  assert.deepEqual(analysis.seen, [
    ['side: before await', 'side'],
    ['long: own signal after await', true],
  ]);
  const progress = frames
    .filter(
      ([signal, load]) =>
        signal === '__process' && (load as { status: string }).status === 'progress',
    )
    .map(([, load]) => load as { id: number; message: string });
  assert.deepEqual(
    progress.map((p) => [p.id, p.message]),
    [
      [1, 'long'],
      [2, 'side'],
    ],
  );
  instance.dispose();
});
