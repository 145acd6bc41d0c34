// Bounds per page, against a real server and real sockets: a value larger
// than a page can receive fails that page's connect (and no other page's),
// and parallel actions run a bounded number at once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient, until, within, wsUrlOf } from '../helpers.ts';
import { pythonSkip } from '../python.ts';

/** The page's send bound of the server under test: a 5 MB value is larger. */
const HARD_BYTES = 4 << 20;

/**
 * A page of `echo` that sends an echo and awaits it, over and over, until
 * stopped: the longest round trip says whether the server stalled.
 */
async function watch(server: DatabenchServer): Promise<{ stop: () => Promise<number> }> {
  const { client } = await TestClient.connect(wsUrlOf(server, 'echo'));
  let running = true;
  let longest = 0;
  let count = 0;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const start = performance.now();
      client.send('echo', i);
      await client.waitFor((f) => f.signal === 'echo' && f.load === i, `echo ${i}`, 10_000);
      longest = Math.max(longest, performance.now() - start);
      count++;
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      client.close();
      assert.ok(count > 0, 'the watching page got an answer');
      return longest;
    },
  };
}

describe('a value larger than a page can receive', () => {
  let server: DatabenchServer;
  const logger = createMemoryLogger();
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: FIXTURES + 'page-bounds',
      logger,
      sendBufferHardBytes: HARD_BYTES,
    });
  });
  after(() => server.close());

  for (const [name, skip] of [
    ['big', false],
    ['big_worker', false],
    ['big_py', pythonSkip],
  ] as const) {
    test(
      `${name}: an open page and a connecting page are told the key and closed; other pages keep being answered`,
      { skip },
      async () => {
        // the page open when it is stored is told which key, and closed
        const { client: filler } = await TestClient.connect(wsUrlOf(server, name));
        filler.send('fill', { key: 'huge', mb: 5 });
        assert.equal((await filler.closed(30_000)).code, 1011);
        assert.match(
          String(filler.frames.find((f) => f.signal === 'error')?.load),
          /class_data key "huge" now holds \d+ bytes or more, more than a page can receive \(4194304/,
        );
        assert.ok(!filler.frames.some((f) => f.signal === 'class_data'), 'no class_data frame');

        const watching = await watch(server);
        const page = await TestClient.open(wsUrlOf(server, name));
        page.sendJson({ __connect: null, __request_args: '' });
        const { code } = await within(
          page.closed(30_000),
          30_000,
          "the close of the page's socket",
        );
        const longest = await watching.stop();

        assert.equal(code, 1011);
        assert.ok(
          !page.frames.some((f) => f.signal === '__connect' || f.signal === 'class_data'),
          `no connect reply and no class_data: ${page.frames.map((f) => f.signal).join(', ')}`,
        );
        const error = page.frames.find((f) => f.signal === 'error');
        assert.match(
          String(error?.load),
          /class_data key "huge" holds \d+ bytes or more, more than a page can receive \(4194304/,
        );
        assert.ok(
          logger.lines.some(([level, l]) => level === 'error' && l.includes('key "huge"')),
          'a log line names the key',
        );
        // a liveness cap, not a measurement: a stalled server answers in seconds
        assert.ok(longest < 2000, `another page waited ${Math.round(longest)} ms for an echo`);
      },
    );
  }
});

describe('parallel actions of one page', () => {
  let server: DatabenchServer;
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: FIXTURES + 'page-bounds',
      logger: createMemoryLogger(),
    });
  });
  after(() => server.close());

  /** `started` frames of `action` received so far. */
  const started = (client: TestClient, action: string): number =>
    client.frames.filter(
      (f) => f.signal === 'started' && (f.load as { action: string }).action === action,
    ).length;

  /** How many holds run now, asked with a queued action that runs beside them. */
  const count = async (client: TestClient): Promise<unknown> => {
    client.send('count');
    return (await client.next('count')).load;
  };

  for (const name of ['gate', 'gate_worker']) {
    for (const [action, max, calls] of [
      ['hold', 16, 20],
      ['hold2', 2, 5],
    ] as const) {
      test(`${name}: ${max} calls of "${action}" run at once, the others wait and run in turn`, async () => {
        const { client } = await TestClient.connect(wsUrlOf(server, name));
        for (let i = 0; i < calls; i++) client.send(action, { __process_id: i });
        await until(() => started(client, action) >= max, `${max} started ${action}s`);
        // every call has arrived before `count` (frames are handled in order)
        assert.equal(await count(client), max);
        assert.equal(started(client, action), max, 'no more started than the bound');
        // one ends: the next waiting one starts
        client.send('release', 1);
        await until(() => started(client, action) === max + 1, 'the next call to start');
        assert.equal(await count(client), max);
        // the ones that run end: the rest start (fewer than the bound), then end too
        client.send('release', calls);
        await until(() => started(client, action) === calls, `all ${calls} calls to start`);
        client.send('release', calls);
        await until(
          () =>
            client.frames.filter(
              (f) => f.signal === '__process' && (f.load as { status: string }).status === 'end',
            ).length === calls,
          `${calls} end frames`,
        );
        const most = Math.max(
          ...client.frames
            .filter((f) => f.signal === 'started')
            .map((f) => (f.load as { running: number }).running),
        );
        assert.equal(most, max, 'never more running than the bound');
        client.close();
      });
    }
  }
});
