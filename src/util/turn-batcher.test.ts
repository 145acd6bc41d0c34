import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { turn } from '../../test/async.js';
import { TurnBatcher, type Batched } from './turn-batcher.js';

/** A queue that records its flushes into `log`. */
function queue(name: string, log: string[]): Batched {
  return { flush: () => void log.push(name) };
}

describe('TurnBatcher', () => {
  test('queued targets are flushed once, in order, at the next turn', async () => {
    const batcher = new TurnBatcher();
    const log: string[] = [];
    void batcher.add(queue('a', log));
    void batcher.add(queue('b', log));
    assert.deepEqual(log, [], 'nothing is flushed in the turn that queued it');
    await turn();
    assert.deepEqual(log, ['a', 'b']);
    await turn();
    assert.deepEqual(log, ['a', 'b'], 'a flushed batch is not flushed again');
  });

  test('within its slice a writer goes on at once; past it, it waits for the flush', async () => {
    const log: string[] = [];
    const within = new TurnBatcher(60_000);
    const wentOn = within.add(queue('a', log)).then(() => log.includes('a'));
    assert.equal(await wentOn, false, 'the writer went on before its queue was flushed');
    // a slice of 0: every writer waits, and goes on only after its queue went out
    const past = new TurnBatcher(0);
    const waited = past.add(queue('b', log)).then(() => log.includes('b'));
    assert.equal(await Promise.race([waited, turn().then(() => 'waiting')]), true);
    assert.equal(await past.wait(), undefined, 'after the flush nothing is waited for');
  });

  test('an early flush sends now, lets the writers go on, and the turn flushes nothing twice', async () => {
    const batcher = new TurnBatcher(0);
    const log: string[] = [];
    let resumed = false;
    void batcher.add(queue('a', log)).then(() => (resumed = true));
    batcher.flush();
    assert.deepEqual(log, ['a']);
    await Promise.resolve();
    assert.equal(resumed, true, 'the writer went on without waiting a turn');
    await turn();
    assert.deepEqual(log, ['a']);
  });

  test('a target queued while a batch is flushed goes into the next batch', async () => {
    const batcher = new TurnBatcher();
    const log: string[] = [];
    const late = queue('late', log);
    void batcher.add({
      flush: () => {
        log.push('first');
        void batcher.add(late);
      },
    });
    await turn();
    assert.deepEqual(log, ['first']);
    await turn();
    assert.deepEqual(log, ['first', 'late']);
  });

  test('the turn number moves on once, at the turn after a frame went out at once', async () => {
    const batcher = new TurnBatcher();
    const at = batcher.markTurn();
    assert.equal(batcher.markTurn(), at, 'still the same turn');
    await turn();
    assert.equal(batcher.turnNo, at + 1);
    await turn();
    assert.equal(batcher.turnNo, at + 1, 'no turn is counted while nothing happens');
  });

  test("two batchers share nothing: flushing one leaves the other's queues and writers to its own turn", async () => {
    const a = new TurnBatcher(0);
    const b = new TurnBatcher(0);
    const log: string[] = [];
    let bResumed = false;
    void a.add(queue('a', log));
    void b.add(queue('b', log)).then(() => (bResumed = true));
    a.flush();
    await Promise.resolve();
    assert.deepEqual(log, ['a'], "flushing one does not flush the other's queues");
    assert.equal(bResumed, false, "nor let the other's writers go on");
    const turnOfA = a.markTurn();
    await turn();
    assert.deepEqual(log, ['a', 'b'], 'the other flushes at its own turn');
    assert.equal(bResumed, true);
    assert.equal(a.turnNo, turnOfA + 1);
  });
});
