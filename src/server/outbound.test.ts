import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { turn } from '../../test/async.ts';
import { TurnBatcher } from '../util/turn-batcher.ts';
import { Outbound, OutboundBudget } from './outbound.ts';

/** A real socket pair: the server's end (for the Outbound) and the frames the page got. */
async function socketPair(): Promise<{
  server: WebSocket;
  received: string[];
  next(count: number): Promise<void>;
  close(): Promise<void>;
}> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  const { port } = wss.address() as AddressInfo;
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
  const page = new WebSocket(`ws://127.0.0.1:${port}`);
  const received: string[] = [];
  let waiting: { count: number; resolve(): void } | undefined;
  page.on('message', (data: Buffer) => {
    received.push(data.toString());
    if (waiting !== undefined && received.length >= waiting.count) waiting.resolve();
  });
  await once(page, 'open');
  const [server] = await accepted;
  return {
    server,
    received,
    next: (count) =>
      received.length >= count
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`the page got ${received.length} of ${count} frames`)),
              5000,
            );
            waiting = {
              count,
              resolve: () => {
                clearTimeout(timer);
                resolve();
              },
            };
          }),
    close: async () => {
      page.close();
      await once(page, 'close');
      wss.close();
    },
  };
}

const LIMITS = { softBufferBytes: 1 << 20, hardBufferBytes: 64 << 20, drainPollMs: 20 };
const OWNER = {
  overflow: () => assert.fail('no page here reads too slowly'),
  closeOverBudget: () => assert.fail('no page here reads too slowly'),
};

test("a page's frame begins a turn: the first frame of its handlers goes out at once, the next ones of that turn together after it", async () => {
  const pair = await socketPair();
  const batcher = new TurnBatcher();
  const out = new Outbound(
    pair.server,
    undefined,
    LIMITS,
    new OutboundBudget(1 << 30),
    batcher,
    OWNER,
  );
  try {
    batcher.arrived();
    void out.frame('{"signal":"a"}');
    assert.equal(out.pending, 0, 'the first frame went to the socket at once');
    void out.frame('{"signal":"b"}');
    void out.frame('{"signal":"c"}');
    assert.ok(out.pending > 0, 'the next frames of the turn wait for the flush');
    await pair.next(3);
    assert.deepEqual(pair.received, ['{"signal":"a"}', '{"signal":"b"}', '{"signal":"c"}']);

    // another page's frame in a later task: at once again
    await turn();
    batcher.arrived();
    void out.frame('{"signal":"d"}');
    assert.equal(out.pending, 0);

    // a task no frame began (a timer) after a frame that went at once: batched, in order
    await turn();
    void out.frame('{"signal":"e"}');
    void out.frame('{"signal":"f"}');
    assert.ok(out.pending > 0, 'no turn began: the frame waits for the flush');
    await pair.next(6);
    assert.deepEqual(pair.received.slice(3), [
      '{"signal":"d"}',
      '{"signal":"e"}',
      '{"signal":"f"}',
    ]);
    // the flush was a turn: the next frame goes at once
    void out.frame('{"signal":"g"}');
    assert.equal(out.pending, 0);
    await pair.next(7);
  } finally {
    out.close();
    await pair.close();
  }
});
