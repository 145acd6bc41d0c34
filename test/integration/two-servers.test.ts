// Two servers in one process share no outbound state: each batches its own
// pages' frames, bounds its own slow pages and keeps working when the other
// one is slow or closes. Real servers, real sockets.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import type { Session } from '../../src/server/session.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient, until, type Frame } from '../helpers.ts';

const SOFT = 64 * 1024;

function streamerServer(soft = SOFT): Promise<DatabenchServer> {
  return createServer({
    port: 0,
    analyses: FIXTURES + 'analyses',
    logger: createMemoryLogger(),
    sendBufferSoftBytes: soft,
  });
}

function wsUrl(server: DatabenchServer): string {
  return `${server.url.replace('http', 'ws')}/streamer/ws`;
}

/** The values of `key` in the page's `data` frames, in the order they arrived. */
function values(frames: Frame[], key: string): unknown[] {
  return frames
    .filter((f) => f.signal === 'data' && key in (f.load as object))
    .map((f) => (f.load as Record<string, unknown>)[key]);
}

/** Server `server`'s one session (the page just connected). */
function onlySession(server: DatabenchServer): Session {
  assert.equal(server.sessions.size, 1);
  return [...server.sessions][0]!;
}

describe('two servers in one process', () => {
  test("a paused page of server A holds up nothing of server B's: B's page gets every frame, in order", async () => {
    const a = await streamerServer();
    // B's soft bound is past all B's page will get (5000 frames of about 40
    // bytes): B never coalesces them, however slowly this process reads
    const b = await streamerServer(1 << 20);
    try {
      const slow = (await TestClient.connect(wsUrl(a))).client;
      slow.ws.pause();
      // A's analysis writes on and on to a page that does not read: A holds
      // it, coalesces its updates and batches them every turn
      slow.send('blobs', [20_000, 1024]);
      const slowSession = onlySession(a);
      await until(() => slowSession.ws.bufferedAmount > SOFT, "A's page is slow");

      const fast = (await TestClient.connect(wsUrl(b))).client;
      fast.send('stream', [5000]);
      assert.equal((await fast.next('stream_done', 30_000)).load, 5000);
      assert.deepEqual(
        values(fast.frames, 'count'),
        Array.from({ length: 5000 }, (_, i) => i),
        "every update of B's page arrives, once and in order",
      );
      assert.equal(values(fast.frames, 'blob').length, 0, "none of A's frames reaches B's page");
      assert.equal(slow.ws.readyState, slow.ws.OPEN, "A's slow page is still open");

      // A's page reads again: its coalesced updates end with the latest value
      slow.ws.resume();
      await slow.next('blobs_done', 30_000);
      const blobs = values(slow.frames, 'blob') as string[];
      assert.ok(blobs.at(-1)!.startsWith('19999:'), 'the latest value arrives');
      assert.ok(blobs.length < 20_000, `A coalesced: ${blobs.length} frames for 20000 writes`);
      slow.close();
      fast.close();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test("closing server A while server B's pages are busy leaves B's outbound path working", async () => {
    const a = await streamerServer();
    const b = await streamerServer();
    try {
      // both servers busy: A streams to a page that reads, B to one that does not
      const onA = (await TestClient.connect(wsUrl(a))).client;
      onA.send('stream', [100_000]);
      await onA.next('data');
      const onB = (await TestClient.connect(wsUrl(b))).client;
      onB.ws.pause();
      onB.send('blobs', [2000, 16 * 1024]);
      const bSession = onlySession(b);
      // B holds a batch for its slow page (queued, coalescing, polled for drain)
      await until(() => bSession.ws.bufferedAmount > SOFT, "B's page is slow");

      await a.close();
      assert.equal((await onA.closed()).code, 1001);

      // B's page reads again: B's held batch goes out and its writer finishes
      onB.ws.resume();
      await onB.next('blobs_done', 30_000);
      const blobs = values(onB.frames, 'blob') as string[];
      assert.ok(blobs.at(-1)!.startsWith('1999:'), 'the latest value arrives');
      // and a new stream on B is batched and sent as before
      onB.send('stream', [3000]);
      assert.equal((await onB.next('stream_done', 30_000)).load, 3000);
      // in order, the latest before stream_done (a page that reads slower than the
      // stream for a moment gets the latest values, coalesced: the page here shares
      // its process with both servers)
      const counts = values(onB.frames, 'count') as number[];
      assert.equal(counts[0], 0);
      assert.equal(counts.at(-1), 2999, 'the latest value arrives before stream_done');
      assert.ok(
        counts.every((c, i) => i === 0 || c > counts[i - 1]!),
        'the values arrive in order',
      );
      onB.close();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
