// The bench's pages (bench/client.ts) against the bench's targets: every
// workload's frames are answered by the raw server, by ours with the bench
// analysis in-process, in a worker and in a Python kernel, and by the
// original databench 0.7.3 running the same analysis.py when
// DATABENCH_ORIGINAL names a checkout of it. `npm run bench` would otherwise
// only find out, after minutes, that a target stopped answering a workload.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  FanOut,
  Page,
  closeAll,
  echoFrame,
  isEcho,
  isState,
  openPages,
  roundTrips,
  stateFrame,
  stream,
  type Frame,
} from '../../bench/client.ts';
import { findOriginal, startOriginal, type OriginalServer } from '../../bench/original.ts';
import { startTarget, type Server } from '../../bench/servers.ts';
import { createServer, type DatabenchServer } from '../../src/index.ts';
import { createLogger } from '../../src/util/logger.ts';
import { pythonSkip } from '../python.ts';
import { within, wsUrlOf } from '../helpers.ts';

const ANALYSES = new URL('../../bench/analyses', import.meta.url).pathname;
const COUNT = 20;

/** The workloads' frames on one page of `url`, each bounded in time. */
async function exercise(url: string): Promise<void> {
  const page = await within(Page.open(url), 10_000, `the __connect reply of ${url}`);
  try {
    for (const [frame, isReply, what] of [
      [echoFrame, isEcho, 'W2 echoes'],
      [stateFrame, isState, 'W3 data frames'],
    ] as Array<[(i: number) => string, (f: Frame, i: number) => boolean, string]>) {
      const frames = Array.from({ length: COUNT }, (_, i) => Buffer.from(frame(i)));
      const times = new Float64Array(COUNT);
      await within(roundTrips(page, frames, isReply, times), 10_000, `${what} from ${url}`);
      assert.ok(
        times.every((t) => t > 0),
        `${what}: every round trip timed`,
      );
    }
    const gaps = new Float64Array(60);
    const streamed = await within(
      stream(page, '{"signal":"stream","load":[50]}', 'stream_done', gaps),
      10_000,
      `W4 stream_done from ${url}`,
    );
    assert.equal(streamed.frames, 51, 'W4: 50 data frames, then stream_done');
  } finally {
    await page.close();
  }
  const pages = await openPages(url, 3);
  try {
    const fan = new FanOut(pages, 'k');
    const ms = await within(fan.run(Date.now()), 10_000, `W5 class_data on 3 pages of ${url}`);
    assert.ok(ms > 0);
    fan.release();
  } finally {
    await closeAll(pages);
  }
}

describe('the bench targets answer every workload', () => {
  let ours: DatabenchServer;
  let raw: Server;
  before(async () => {
    ours = await createServer({ port: 0, analyses: ANALYSES, logger: createLogger('error') });
    raw = await startTarget('raw');
  });
  after(async () => {
    await ours?.close();
    await raw?.stop();
  });

  test('raw ws server', () => exercise(raw.url));
  test('ours, in-process', () => exercise(wsUrlOf(ours, 'bench')));
  test('ours, worker kernel', () => exercise(wsUrlOf(ours, 'bench_worker')));
  test('ours, Python kernel (0.7-style analysis.py)', { skip: pythonSkip }, () =>
    exercise(wsUrlOf(ours, 'bench_py')),
  );
});

const original = findOriginal();

test(
  'the original databench 0.7.3 runs bench_py/analysis.py',
  { skip: original.ok ? false : original.reason },
  async () => {
    if (!original.ok) return;
    let server: OriginalServer | undefined;
    try {
      server = await startOriginal(original);
      await exercise(`${server.base.replace('http', 'ws')}/bench/ws`);
    } finally {
      await server?.stop();
    }
  },
);
