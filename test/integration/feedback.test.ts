// What a page is told while its actions run, against a real server and real
// sockets, for the in-process kernel and the worker kernel (the same class
// behind both): progress frames, cancel, `latest` and `parallel`
// concurrency, a disconnect that aborts running actions, and handler errors
// with the file:line of the user's .ts source.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient, type Frame } from '../helpers.ts';

function wsUrl(server: DatabenchServer, name: string): string {
  return `${server.url.replace('http', 'ws')}/${name}/ws`;
}

type Load = Record<string, unknown>;
const load = (f: Frame): Load => (f.load ?? {}) as Load;
const isProcess = (id: number, status: string) => (f: Frame) =>
  f.signal === '__process' && load(f)['id'] === id && load(f)['status'] === status;
const dataKey = (key: string, value?: unknown) => (f: Frame) =>
  f.signal === 'data' &&
  key in load(f) &&
  (value === undefined || JSON.stringify(load(f)[key]) === JSON.stringify(value));

describe('feedback: progress, cancel, concurrency, errors', () => {
  let server: DatabenchServer;
  const logger = createMemoryLogger();
  before(async () => {
    server = await createServer({ port: 0, analyses: FIXTURES + 'feedback', logger });
  });
  after(() => server.close());

  for (const name of ['tasks', 'tasks_worker']) {
    describe(name, () => {
      test('progress frames carry the action, fraction and message; throttled; the last one arrives before the end', async () => {
        const { client } = await TestClient.connect(wsUrl(server, name));
        client.send('long', { steps: 40, stepMs: 5, __process_id: 1 });
        const end = await client.waitFor(isProcess(1, 'end'), 'the end frame');
        assert.deepEqual(end.load, { id: 1, status: 'end' });
        const progress = client.frames.filter(isProcess(1, 'progress')).map(load);
        assert.ok(progress.length >= 2, `some progress frames: ${progress.length}`);
        // 40 steps of 5 ms take about 200 ms: at 20 frames a second, far fewer than 40
        assert.ok(progress.length < 40, `throttled: ${progress.length} frames for 40 steps`);
        assert.deepEqual(progress.at(-1), {
          id: 1,
          status: 'progress',
          action: 'long',
          fraction: 1,
          message: 'step 40 of 40',
        });
        const endAt = client.frames.indexOf(end);
        const lastAt = client.frames.findIndex(
          (f) => isProcess(1, 'progress')(f) && load(f)['fraction'] === 1,
        );
        assert.ok(lastAt < endAt, 'the last progress frame precedes the end frame');
        client.close();
      });

      test('cancel by process id stops a cooperative handler; the end frame says cancelled', async () => {
        const { client } = await TestClient.connect(wsUrl(server, name));
        client.send('long', { steps: 200, stepMs: 20, __process_id: 2 });
        await client.waitFor(isProcess(2, 'progress'), 'a progress frame');
        client.send('__cancel', { id: 2 });
        const end = await client.waitFor(isProcess(2, 'end'), 'the end frame');
        assert.deepEqual(end.load, { id: 2, status: 'end', cancelled: true });
        await client.waitFor(
          (f) => dataKey('long')(f) && /^stopped at \d+$/.test(String(load(f)['long'])),
          'data long: stopped at N',
        );
        client.close();
      });

      test('cancel by action name; a queued call is dropped with its own end frame', async () => {
        const { client } = await TestClient.connect(wsUrl(server, name));
        client.send('long', { steps: 200, stepMs: 20, __process_id: 3 });
        client.send('long', { steps: 2, stepMs: 1, __process_id: 4 });
        await client.waitFor(isProcess(3, 'start'), 'the first start');
        client.send('__cancel', { action: 'long' });
        assert.deepEqual((await client.waitFor(isProcess(4, 'end'), 'end 4')).load, {
          id: 4,
          status: 'end',
          cancelled: true,
        });
        assert.deepEqual((await client.waitFor(isProcess(3, 'end'), 'end 3')).load, {
          id: 3,
          status: 'end',
          cancelled: true,
        });
        assert.equal(client.frames.filter(isProcess(4, 'start')).length, 0, '4 never started');
        client.close();
      });

      test('a handler that ignores the cancel keeps running and its frames arrive', async () => {
        const { client } = await TestClient.connect(wsUrl(server, name));
        client.send('stubborn', { ms: 150, __process_id: 5 });
        await client.waitFor(isProcess(5, 'start'), 'the start');
        client.send('__cancel', { id: 5 });
        const done = await client.waitFor((f) => f.signal === 'stubborn_done', 'its emit');
        assert.equal(done.load, true, 'its actionSignal was aborted');
        assert.deepEqual((await client.waitFor(isProcess(5, 'end'), 'the end')).load, {
          id: 5,
          status: 'end',
          cancelled: true,
        });
        client.close();
      });

      test('a bad __cancel is an error frame; the session lives', async () => {
        const { client } = await TestClient.connect(wsUrl(server, name));
        client.send('__cancel', 'everything');
        const error = await client.waitFor((f) => f.signal === 'error', 'an error frame');
        assert.match(String(error.load), /__cancel.*needs a load/);
        client.send('peek');
        await client.waitFor((f) => f.signal === 'peeked', 'peeked');
        client.close();
      });

      test('latest: 50 rapid slider moves run only the last few, and the last value wins', async () => {
        const { client } = await TestClient.connect(wsUrl(server, name));
        await client.waitFor(dataKey('slides', 0), 'the initial state');
        for (let i = 0; i < 50; i++) client.send('slide', [i]);
        await client.waitFor(dataKey('slid', 49), 'slid = 49', 8000);
        const runs = client.frames.filter(dataKey('slides')).map((f) => load(f)['slides']);
        const started = Math.max(...runs.map(Number));
        // how many start depends on how the 50 frames reach the kernel (one
        // read or several, a worker's message turns): on a loaded machine it
        // was 11 and 19; a queue would start all 50 (and finish all 50, below)
        assert.ok(started < 50, `calls were dropped: ${started} of 50 started`);
        const slid = client.frames.filter(dataKey('slid')).map((f) => load(f)['slid']);
        assert.deepEqual(
          slid.filter((v) => v !== null),
          [49],
          'no replaced call finished',
        );
        client.close();
      });

      test('latest: a slider answers at once while a queued long action runs', async () => {
        const { client } = await TestClient.connect(wsUrl(server, name));
        client.send('long', { steps: 500, stepMs: 20, __process_id: 10 });
        await client.waitFor(isProcess(10, 'progress'), 'the long call running');
        client.send('slide', [7]);
        await client.waitFor(dataKey('slid', 7), 'slid = 7 while long runs');
        assert.equal(client.frames.filter(isProcess(10, 'end')).length, 0, 'long still runs');
        // a frame that asks for latest: an action that declares nothing runs so
        client.sendJson({ signal: 'free', load: 3, concurrency: 'latest' });
        assert.equal((await client.next('freed')).load, 3);
        assert.equal(client.frames.filter(isProcess(10, 'end')).length, 0, 'long still runs');
        client.send('__cancel', { id: 10 });
        await client.waitFor(isProcess(10, 'end'), 'the long end');
        client.close();
      });

      test('latest with exclusive, and a declared queue, wait for the queued long action', async () => {
        const { client } = await TestClient.connect(wsUrl(server, name));
        client.send('long', { steps: 500, stepMs: 20, __process_id: 11 });
        await client.waitFor(isProcess(11, 'progress'), 'the long call running');
        client.send('slide_after', [5]);
        // the page asks for latest; the action declares queue: declared wins
        client.sendJson({ signal: 'ordered', load: 6, concurrency: 'latest' });
        // a latest call beside the queue answers within a turn or two: give it the
        // time of several progress frames of the long call (50 ms apart)
        const seen = client.frames.filter(isProcess(11, 'progress')).length;
        await client.waitFor(
          () => client.frames.filter(isProcess(11, 'progress')).length >= seen + 3,
          'three more progress frames',
        );
        assert.deepEqual(
          client.frames.filter((f) => f.signal === 'slid_after' || f.signal === 'ordered'),
          [],
          'both still wait',
        );
        client.send('__cancel', { id: 11 });
        await client.next('slid_after');
        await client.next('ordered');
        const end = client.frames.findIndex(isProcess(11, 'end'));
        const after = client.frames.findIndex((f) => f.signal === 'slid_after');
        assert.ok(end >= 0 && end < after, 'they ran after the long call ended');
        client.close();
      });

      test('parallel: runs while a queued action is busy; its start frame says so', async () => {
        const { client } = await TestClient.connect(wsUrl(server, name));
        client.send('long', { steps: 100, stepMs: 20, __process_id: 6 });
        await client.waitFor(isProcess(6, 'start'), 'the long start');
        client.send('peek', { __process_id: 7 });
        const start = await client.waitFor(isProcess(7, 'start'), 'the peek start');
        assert.deepEqual(start.load, { id: 7, status: 'start', concurrency: 'parallel' });
        await client.waitFor(isProcess(7, 'end'), 'the peek end');
        assert.equal(client.frames.filter(isProcess(6, 'end')).length, 0, 'long still runs');
        client.send('__cancel', { id: 6 });
        await client.waitFor(isProcess(6, 'end'), 'the long end');
        client.close();
      });

      test('a disconnect aborts every running action of the page', async () => {
        const before = logger.lines.length;
        const { client } = await TestClient.connect(wsUrl(server, name));
        client.send('long', { steps: 500, stepMs: 20, __process_id: 8 });
        await client.waitFor(isProcess(8, 'progress'), 'a progress frame');
        client.close();
        // an aborted handler returns at once: no grace-period warning in the log
        const { client: probe } = await TestClient.connect(wsUrl(server, name));
        probe.send('peek');
        await probe.waitFor((f) => f.signal === 'peeked', 'peeked');
        probe.close();
        await probe.closed();
        const warned = logger.lines.slice(before).some(([, l]) => l.includes('still runs after'));
        assert.equal(warned, false, 'the handler did not outlive its page');
      });

      test('a handler error: __error with the action, message and the .ts file:line; the stack in the log', async () => {
        const { client } = await TestClient.connect(wsUrl(server, name));
        client.send('boom', { __process_id: 9 });
        const error = await client.waitFor((f) => f.signal === '__error', 'a __error frame');
        assert.deepEqual(error.load, {
          action: 'boom',
          where: 'action "boom"',
          message: 'Error: boom',
          location: 'tasks/analysis.ts:74:11',
        });
        const text = await client.waitFor((f) => f.signal === 'error', 'the 0.7 error frame');
        assert.equal(text.load, 'action "boom" failed: Error: boom');
        assert.deepEqual((await client.waitFor(isProcess(9, 'end'), 'the end')).load, {
          id: 9,
          status: 'end',
          error: true,
        });
        assert.ok(
          logger.lines.some(([, l]) => l.includes('Error: boom') && l.includes('analysis.ts:74')),
          'the stack is in the log',
        );
        client.close();
      });
    });
  }
});

describe('feedback: error details off', () => {
  for (const [what, options] of [
    ['errorDetails: false', { errorDetails: false }],
    // (no token: what a page is shown, not who may connect, is under test here)
    ['bound to a non-loopback address', { host: '0.0.0.0', token: false }],
  ] as const) {
    test(`${what}: the page gets the message only`, async () => {
      const logger = createMemoryLogger();
      const server = await createServer({
        port: 0,
        analyses: FIXTURES + 'feedback',
        logger,
        allowOrigins: [],
        ...options,
      });
      try {
        const url = `ws://127.0.0.1:${new URL(server.url.replace('0.0.0.0', '127.0.0.1')).port}`;
        for (const name of ['tasks', 'tasks_worker']) {
          const { client } = await TestClient.connect(`${url}/${name}/ws`);
          client.send('boom');
          const error = await client.waitFor((f) => f.signal === '__error', 'a __error frame');
          assert.equal(load(error)['location'], null);
          assert.equal(load(error)['message'], 'Error: boom');
          client.close();
        }
        assert.ok(
          logger.lines.some(([, l]) => l.includes('analysis.ts:74')),
          'the log keeps the stack',
        );
      } finally {
        await server.close();
      }
    });
  }
});
