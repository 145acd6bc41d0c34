// What the page tells the user, in Chromium against the real server (a copy
// of test/fixtures/feedback, so that saves can break and fix it): progress,
// Stop, disabled busy buttons, `latest` sliders, handler errors with the .ts
// file:line, load errors over the socket and on a fresh load (both recover
// by themselves), interactive plots updated in place, a page of a missing
// analysis. With DATABENCH_UPDATE_DOCS=1 the screenshots of the error panel
// and of the progress bar are also written to docs/.
//
// Code run inside the page is given as strings: this project's tsconfig has
// no DOM types outside src/client.
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { chromiumSkip as skip, launchChromium, type ChromiumSession } from '../chromium.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, reloadWaiter } from '../helpers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const DIR = join(ROOT, 'test-artifacts', `feedback-${process.pid}`);
const ARTIFACTS = join(ROOT, 'test-artifacts/e2e');
const DOCS = process.env['DATABENCH_UPDATE_DOCS'] === '1' ? join(ROOT, 'docs') : undefined;
const TIMEOUT = 15_000;

const BROKEN_FRAGILE = `import { Analysis } from 'databench-ts';

export class Fragile extends Analysis {
  on_hello() {
    const x = ;
  }
}
`;
const GOOD_FRAGILE = `import { Analysis } from 'databench-ts';

export class Fragile extends Analysis {
  async on_hello() {
    await this.emit('hello', 'fixed');
  }
}
`;

/** The number `selector`'s text shows. */
async function numberIn(page: Page, selector: string): Promise<number> {
  return Number((await page.locator(selector).textContent())?.trim());
}

describe('e2e: the page tells the user what is happening', { skip }, () => {
  let browser: ChromiumSession | undefined;
  let page: Page;
  let server: DatabenchServer | undefined;
  const logger = createMemoryLogger();
  const pageErrors: string[] = [];
  const reloads = reloadWaiter();
  const nextReload = reloads.next;

  before(async () => {
    await rm(DIR, { recursive: true, force: true });
    await cp(join(FIXTURES, 'feedback'), DIR, { recursive: true });
    await mkdir(join(DIR, 'fragile'), { recursive: true });
    await writeFile(join(DIR, 'fragile', 'analysis.ts'), BROKEN_FRAGILE);
    await writeFile(join(DIR, 'fragile', 'index.html'), '{% extends "analysis.html" %}');
    await writeFile(
      join(DIR, 'index.yaml'),
      (await readFile(join(DIR, 'index.yaml'), 'utf8')) + '  - name: fragile\n',
    );
    await mkdir(ARTIFACTS, { recursive: true });
    server = await createServer({
      port: 0,
      analyses: DIR,
      logger,
      watch: true,
      onReload: reloads.onReload,
    });
    browser = await launchChromium();
    page = browser.page;
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await rm(DIR, { recursive: true, force: true });
  });

  for (const name of ['tasks', 'tasks_worker']) {
    test(`${name}: the progress bar moves and ends; the busy button is a Stop button`, async () => {
      await page.goto(`${server!.url}/${name}/`);
      await page.waitForFunction('window.d && window.d.connected');
      await page.evaluate(
        `document.querySelector('#long').databenchUI.actionFormat = (m) => ({ ...m, steps: 60, stepMs: 25 })`,
      );
      await page.click('#long');
      await page.waitForSelector('#long.db-stop[aria-busy="true"]');
      assert.equal(await page.textContent('#long'), 'Stop');
      await page.waitForFunction(
        `Number(getComputedStyle(document.querySelector('#long')).getPropertyValue('--db-progress')) > 0.2`,
      );
      await page.waitForFunction(
        `document.querySelector('progress[data-process="long"]').value > 0.2`,
      );
      const message = await page.textContent('.db-process-message');
      assert.match(message ?? '', /^step \d+ of 60$/);
      if (DOCS && name === 'tasks') {
        await page.locator('main').screenshot({ path: join(DOCS, 'progress.png') });
      }
      await page.waitForSelector('#long[aria-busy="false"]:not(.db-stop)');
      assert.equal(await page.textContent('#long'), 'Long', 'its own label is back');
      assert.equal(
        await page.evaluate(`document.querySelector('progress[data-process="long"]').value`),
        1,
      );
      assert.equal(await page.textContent('[data-signal="data:long"]'), 'done');
    });

    test(`${name}: Stop cancels a cooperative handler; the end frame says cancelled`, async () => {
      await page.goto(`${server!.url}/${name}/`);
      await page.waitForFunction('window.d && window.d.connected');
      await page.evaluate(`
        window.ends = [];
        d.on('__process', (p) => { if (p.status === 'end') window.ends.push(p); });
        document.querySelector('#long').databenchUI.actionFormat = (m) => ({ ...m, steps: 400, stepMs: 20 });
      `);
      await page.click('#long');
      await page.waitForFunction(
        `document.querySelector('progress[data-process="long"]').value > 0`,
      );
      await page.click('#long.db-stop');
      await page.waitForFunction(`window.ends.length === 1`);
      const [end] = await page.evaluate<Array<Record<string, unknown>>>('window.ends');
      assert.equal(end?.['cancelled'], true);
      await page.waitForSelector('#long[aria-busy="false"]');
      assert.equal(await page.textContent('.db-process-message'), 'Cancelled');
      await page.waitForFunction(
        `/^stopped at \\d+$/.test(document.querySelector('[data-signal="data:long"]').textContent)`,
      );
    });

    test(`${name}: a busy button with data-no-cancel is disabled; a second click runs nothing`, async () => {
      await page.goto(`${server!.url}/${name}/`);
      await page.waitForFunction('window.d && window.d.connected');
      const sent: string[] = [];
      page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(String(f.payload))));
      await page.reload();
      await page.waitForFunction('window.d && window.d.connected');
      await page.evaluate(
        `document.querySelector('#nocancel').databenchUI.actionFormat = (m) => ({ ...m, steps: 20, stepMs: 20 })`,
      );
      await page.click('#nocancel');
      await page.waitForSelector('#nocancel[disabled][aria-busy="true"]');
      await page.click('#nocancel', { force: true }).catch(() => undefined);
      await page.waitForSelector('#nocancel[aria-busy="false"]:not([disabled])');
      assert.equal(sent.filter((f) => f.includes('"long"')).length, 1, 'one run: ' + sent.join());
    });

    test(`${name}: latest: 50 rapid slider moves run only the last one to its end`, async () => {
      const slid: unknown[] = [];
      const listener = (ws: import('playwright-core').WebSocket) =>
        ws.on('framereceived', (f) => {
          const frame = JSON.parse(String(f.payload)) as { signal: string; load?: unknown };
          const load = frame.load as Record<string, unknown> | undefined;
          if (frame.signal === 'data' && load && 'slid' in load) slid.push(load['slid']);
        });
      page.on('websocket', listener);
      await page.goto(`${server!.url}/${name}/`);
      await page.waitForFunction('window.d && window.d.connected');
      await page.waitForFunction(`document.querySelector('#slides').textContent === '0'`);
      await page.evaluate(`
        const s = document.querySelector('#slide');
        for (let i = 0; i < 50; i++) {
          s.value = String(i);
          s.dispatchEvent(new Event('input'));
          s.dispatchEvent(new Event('change'));
        }
      `);
      await page.waitForFunction(`document.querySelector('#slid').textContent === '49'`);
      page.off('websocket', listener);
      assert.deepEqual(
        slid.filter((v) => v !== null),
        [49],
        'only the last move ran to its end',
      );
      // the replaced calls were dropped while queued, or aborted as they started
      const slides = await numberIn(page, '#slides');
      assert.ok(slides >= 1 && slides < 50, `${slides} of 50 moves started`);
    });

    test(`${name}: a handler error shows its action, message and the .ts file:line; repeats count; dismissable`, async () => {
      await page.goto(`${server!.url}/${name}/`);
      await page.waitForFunction('window.d && window.d.connected');
      await page.click('button[data-action="boom"]');
      await page.waitForSelector('#databench-errors .db-error');
      assert.equal(await page.textContent('.db-error-name'), 'Action "boom" failed');
      assert.equal(await page.textContent('.db-error-text'), 'Error: boom');
      assert.equal(await page.textContent('.db-error-location'), 'tasks/analysis.ts:74:11');
      await page.click('button[data-action="boom"]');
      await page.waitForSelector('.db-error-count');
      assert.equal(await page.textContent('.db-error-count'), '×2');
      assert.equal(await page.locator('.db-error').count(), 1);
      if (DOCS && name === 'tasks') {
        await page.locator('main').screenshot({ path: join(DOCS, 'error-panel.png') });
      }
      await page.click('.db-error-dismiss');
      assert.equal(await page.locator('.db-error').count(), 0);
    });
  }

  test('an interactive plot: rendered in the browser, updated in place, the zoom kept', async () => {
    await page.goto(`${server!.url}/tasks/`);
    await page.waitForFunction('window.d && window.d.connected');
    await page.click('button[data-action="chart"]');
    await page.waitForFunction(`document.querySelector('#chart').databenchUI.view !== undefined`);
    const plot = page.locator('#chart canvas, #chart svg').first();
    const box = await plot.boundingBox();
    assert.ok(box && box.width > 100, 'the plot has a size');
    const domain = () =>
      page.evaluate<number[]>(
        `document.querySelector('#chart').databenchUI.view.scale('x').domain()`,
      );
    assert.deepEqual(await domain(), [0, 100]);
    // the user zooms in with the wheel
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -400);
    await page.waitForFunction(
      `(() => { const d = document.querySelector('#chart').databenchUI.view.scale('x').domain(); return d[1] - d[0] < 90; })()`,
    );
    const zoomed = await domain();
    // the server changes only the data
    await page.evaluate(`window.view0 = document.querySelector('#chart').databenchUI.view`);
    await page.click('button[data-action="points"]');
    await page.waitForFunction(
      `document.querySelector('#chart').databenchUI.view.data('pts').length === 40`,
    );
    assert.equal(
      await page.evaluate(`document.querySelector('#chart').databenchUI.view === window.view0`),
      true,
      'the same view',
    );
    assert.equal(await page.evaluate(`document.querySelector('#chart').databenchUI.renders`), 1);
    assert.deepEqual(await domain(), zoomed, 'the zoom is kept');
    // tooltips: vega-embed's handler is installed
    assert.equal(
      await page.evaluate(`typeof document.querySelector('#chart').databenchUI.view.tooltip()`),
      'function',
    );
  });

  test('a broken save shows the error panel on the open page at once; the fix clears it and reloads', async () => {
    await page.goto(`${server!.url}/tasks/`);
    await page.waitForFunction('window.d && window.d.connected');
    await page.evaluate('window.marker = 1');
    const file = join(DIR, 'tasks', 'analysis.ts');
    const good = await readFile(file, 'utf8');
    let reload = nextReload();
    await writeFile(file, good.replace('async on_peek() {', 'async on_peek() { const x = ;'));
    await reload;
    await page.waitForSelector('#databench-errors .db-error .db-code-frame');
    assert.match((await page.textContent('.db-error-name')) ?? '', /failed to reload/);
    assert.match(
      (await page.textContent('.db-error-location')) ?? '',
      /^tasks\/analysis\.ts:\d+:\d+$/,
    );
    assert.match((await page.textContent('.db-code-frame')) ?? '', /> *\d+ \| .*const x = ;/);
    assert.equal(await page.evaluate('window.marker'), 1, 'no reload of the page');
    if (DOCS) await page.locator('main').screenshot({ path: join(DOCS, 'load-error.png') });
    reload = nextReload();
    await writeFile(file, good);
    await reload;
    await page.waitForFunction('window.marker === undefined && window.d && window.d.connected');
    assert.equal(await page.locator('.db-error').count(), 0, 'the panel is empty');
  });

  test('a broken analysis shows the panel on a fresh load, and recovers by itself once fixed', async () => {
    const response = await page.goto(`${server!.url}/fragile/`);
    assert.equal(response?.status(), 500);
    await page.waitForSelector('#databench-errors .db-error .db-code-frame');
    assert.match(
      (await page.textContent('.db-error-location')) ?? '',
      /^fragile\/analysis\.ts:5:15$/,
    );
    const reload = nextReload();
    await writeFile(join(DIR, 'fragile', 'analysis.ts'), GOOD_FRAGILE);
    await reload;
    await page.waitForFunction(
      `!document.querySelector('.db-error') && document.querySelector('#log')`,
    );
  });

  test('a page of a missing analysis says so instead of retrying forever', async () => {
    await page.goto(`${server!.url}/static/orphan.html`);
    await page.waitForFunction(
      `/There is no analysis at \\/static\\/ on this server/.test(document.querySelector('#databench-alerts').textContent)`,
    );
    assert.doesNotMatch((await page.textContent('#databench-alerts')) ?? '', /Retrying/);
    assert.deepEqual(pageErrors, []);
  });
});
