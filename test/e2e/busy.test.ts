// A page stays responsive while its analysis is busy, and says which action
// it meant: in Chromium against the real server, for the in-process, worker
// and Python kernels (test/fixtures/busy). A wired slider whose action
// declares no concurrency answers while a long run of the page goes on; a
// button naming an action no handler has shows in the error panel with the
// nearest handler's name.
//
// Code run inside the page is given as strings: this project's tsconfig has
// no DOM types outside src/client.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { chromiumSkip, launchChromium, type ChromiumSession } from '../chromium.ts';
import { FIXTURES } from '../helpers.ts';
import { pythonSkip } from '../python.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';

const TIMEOUT = 15_000;
const KERNELS = [
  ['counter', 'Counter'],
  ['counter_worker', 'Counter'],
  ['counter_py', 'CounterPy'],
] as const;

describe('e2e: a busy page answers, and names the action it meant', { skip: chromiumSkip }, () => {
  let browser: ChromiumSession | undefined;
  let page: Page;
  let server: DatabenchServer | undefined;
  const pageErrors: string[] = [];

  before(async () => {
    server = await createServer({
      port: 0,
      analyses: FIXTURES + 'busy',
      logger: createMemoryLogger(),
    });
    browser = await launchChromium();
    page = browser.page;
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the pages');
  });

  for (const [name, className] of KERNELS) {
    const skip = name === 'counter_py' ? pythonSkip : false;

    test(
      `${name}: a slider answers at once while the page's long run goes on`,
      { skip },
      async () => {
        await page.goto(`${server!.url}/${name}/`);
        await page.waitForFunction('window.d && window.d.connected');
        await page.waitForFunction(`document.querySelector('#state').textContent === 'idle'`);
        // a run of 10000 steps of 20 ms: 200 s, far longer than this test may wait
        await page.click('#run');
        await page.waitForFunction(`document.querySelector('#state').textContent === 'running'`);
        await page.waitForSelector('#run[aria-busy="true"]');
        await page.evaluate(`
        const s = document.querySelector('#level');
        s.value = '7';
        s.dispatchEvent(new Event('input'));
        s.dispatchEvent(new Event('change'));
      `);
        await page.waitForFunction(`document.querySelector('#shown').textContent === '7'`);
        assert.equal(await page.textContent('#state'), 'running', 'the run still goes on');
        // the run's progress (shown after its button) and Stop still belong to it
        const message = `document.querySelector('#run + .db-process-message')`;
        const shown = await page.evaluate(`${message}?.textContent ?? ''`);
        await page.waitForFunction(
          `/^step \\d+$/.test(${message}?.textContent ?? '') && ${message}.textContent !== ${JSON.stringify(shown)}`,
        );
        await page.click('#run');
        await page.waitForFunction(
          `document.querySelector('#state').textContent.startsWith('stopped at')`,
        );
        await page.waitForSelector('#run[aria-busy="false"]');
      },
    );

    test(
      `${name}: a button naming an action no handler has shows in the error panel with the nearest name`,
      { skip },
      async () => {
        await page.goto(`${server!.url}/${name}/`);
        await page.waitForFunction('window.d && window.d.connected');
        await page.click('#typo');
        await page.waitForSelector('#databench-errors .db-error');
        assert.equal(await page.textContent('.db-error-name'), 'Action "cuont" failed');
        assert.equal(
          await page.textContent('.db-error-text'),
          `no handler for 'cuont' on ${className} (did you mean 'count'?)`,
        );
        // the same from the page's own script
        await page.evaluate(`window.d.emit('runn')`);
        await page.waitForFunction(`document.querySelectorAll('.db-error').length === 2`);
        assert.equal(
          await page.textContent('.db-error >> nth=0 >> .db-error-text'),
          `no handler for 'runn' on ${className} (did you mean 'run'?)`,
        );
        // the page keeps working
        await page.click('button[data-action="count"]');
        await page.waitForFunction(`document.querySelector('#clicks').textContent === '1'`);
      },
    );
  }
});
