// Deltas in real Chromium: the page's client announces `__deltas`, the
// server sends appends as `__delta` frames (seen on the page's socket), and
// both a wired widget (`<pre data-signal="data:xs">`) and an on('data')
// listener see the whole list after every append, with each kernel.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chromiumSkip as skip, launchChromium, type ChromiumSession } from '../chromium.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES } from '../helpers.ts';
import { pythonSkip } from '../python.ts';

const TIMEOUT = 20_000;
const N = 200;

describe('e2e: deltas reach widgets and listeners as whole values', { skip }, () => {
  let server: DatabenchServer;
  let chromium: ChromiumSession;
  const pageErrors: string[] = [];
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: FIXTURES + 'deltas',
      logger: createMemoryLogger(),
    });
    chromium = await launchChromium();
    chromium.page.on('pageerror', (error) => pageErrors.push(error.message));
  });
  after(async () => {
    await chromium?.close();
    await server?.close();
  });

  for (const [name, kernelSkip] of [
    ['inproc', false],
    ['work', false],
    ['py', pythonSkip],
  ] as const) {
    test(
      `kernel "${name}": after ${N} appends the widget shows the whole list and every listener call got the whole list so far`,
      { skip: kernelSkip },
      async () => {
        const { page } = chromium;
        const signals: string[] = [];
        let connectFrame = '';
        page.once('websocket', (ws) => {
          ws.on('framesent', (f) => {
            if (typeof f.payload === 'string' && f.payload.includes('__connect'))
              connectFrame = f.payload;
          });
          ws.on('framereceived', (f) => {
            if (typeof f.payload === 'string') {
              signals.push((JSON.parse(f.payload) as { signal: string }).signal);
            }
          });
        });
        await page.goto(`${server.url}/${name}/`, { timeout: TIMEOUT });
        await page.waitForFunction('window.d && window.d.connected', undefined, {
          timeout: TIMEOUT,
        });
        assert.match(connectFrame, /"__deltas":1/, 'the client announces deltas');
        await page.evaluate(`window.d.emit('grow', [${N}])`);
        const expected = JSON.stringify(Array.from({ length: N }, (_, i) => i));
        await page.waitForFunction(
          `document.querySelector('#xs').textContent.replace(/\\s/g, '') === ${JSON.stringify(expected)}`,
          undefined,
          { timeout: TIMEOUT },
        );
        const seen = await page.evaluate<number[][]>('window.seen');
        assert.ok(
          seen.length >= 2,
          `the listener ran for the first list and for appends: ${seen.length}`,
        );
        assert.deepEqual(seen.at(-1), JSON.parse(expected));
        for (const list of seen) {
          assert.deepEqual(
            list,
            Array.from({ length: list.length }, (_, i) => i),
            'each call got a whole list',
          );
        }
        assert.ok(
          signals.includes('__delta'),
          `the appends came as __delta frames: ${[...new Set(signals)].join(', ')}`,
        );
        assert.deepEqual(pageErrors, []);
      },
    );
  }
});
