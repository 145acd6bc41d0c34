// Pages written for databench 0.7 (test/fixtures/v07: Tornado templates that
// fill `head`, put their scripts in `footer`, load /_static/databench.js
// themselves, read d3 through the static map), in real Chromium against the
// real server: no console errors, the title and styles are there, and they work.
//
// Code run inside the page is given as strings: this project's tsconfig has
// no DOM types outside src/client.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { chromiumSkip as skip, launchChromium, type ChromiumSession } from '../chromium.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, makeFakeD3 } from '../helpers.ts';

const TIMEOUT = 15_000;

describe('databench 0.7 pages in Chromium', { skip }, () => {
  let server: DatabenchServer;
  let chromium: ChromiumSession;
  const logger = createMemoryLogger();
  const problems: string[] = [];

  before(async () => {
    await makeFakeD3();
    server = await createServer({ port: 0, analyses: join(FIXTURES, 'v07'), logger });
    chromium = await launchChromium();
    const watch = (page: Page): void => {
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`${page.url()}: console error: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`${page.url()}: page error: ${e.message}`));
      page.on('response', (r) => {
        if (r.status() >= 400) problems.push(`${r.url()}: HTTP ${r.status()}`);
      });
    };
    watch(chromium.page);
    chromium.context.on('page', watch);
  });
  after(async () => {
    await chromium?.close();
    await server?.close();
  });

  async function open(path: string): Promise<Page> {
    const page = chromium.page;
    problems.length = 0;
    await page.goto(server.url + path, { waitUntil: 'load' });
    return page;
  }

  function assertNoProblems(): void {
    assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
  }

  test('the index: the 0.7 override renders with our title and styles', async () => {
    const page = await open('/');
    assert.equal(await page.title(), 'Databench 0.7 examples');
    const styled = await page.evaluate<{ box: string; footer: string }>(`({
      box: getComputedStyle(document.querySelector('.d-box')).display,
      footer: getComputedStyle(document.querySelector('.db-footer')).display,
    })`);
    assert.equal(styled.box, 'block', 'the page head style applies');
    assert.notEqual(styled.footer, 'inline', 'databench.css applies (the footer is styled)');
    // the README's handlers are gone from the page (its image loads, so a kept
    // onerror would not run: ask the element, not a flag it would set)
    assert.deepEqual(
      await page.evaluate(`(() => {
        const img = document.querySelector('img[alt="no handler"]');
        return [img !== null, img && img.hasAttribute('onerror'), typeof window.__readmeScript];
      })()`),
      [true, false, 'undefined'],
    );
    assertNoProblems();
  });

  test('simplepi: head styles, footer scripts, d3 from the static map; the slider and the button work', async () => {
    const page = await open('/simplepi/');
    assert.equal(await page.title(), 'Simple π');
    assert.equal(
      await page.evaluate(`getComputedStyle(document.getElementById('pi')).color`),
      'rgb(200, 0, 100)',
      'analysis.css from the head block applies',
    );
    assert.equal(await page.textContent('#d3-version'), 'fixture-d3');
    // the slider: the server echoes its value (0.7's set_state) into the label
    await page.waitForFunction('window.databench && window.databench.connected', undefined, {
      timeout: TIMEOUT,
    });
    await page.evaluate(`(() => {
      const s = document.getElementById('samples');
      s.value = '10000';
      s.dispatchEvent(new Event('input'));
      s.dispatchEvent(new Event('change'));
    })()`);
    await page.waitForFunction(
      `document.querySelector('label[for=samples]').textContent.includes('10000')`,
      undefined,
      { timeout: TIMEOUT },
    );
    await page.click('button[data-action="run"]');
    // 100 × 100 grid points: 7857 inside the quarter circle
    await page.waitForFunction(`document.getElementById('pi').textContent === '3.14'`, undefined, {
      timeout: TIMEOUT,
    });
    await page.waitForFunction(
      `!document.querySelector('button[data-action="run"]').classList.contains('disabled')`,
      undefined,
      { timeout: TIMEOUT },
    );
    await page.waitForFunction(
      `document.getElementById('log').textContent.includes('7857')`,
      undefined,
      { timeout: TIMEOUT },
    );
    assert.ok(
      logger.lines.some(([, line]) => /\{ inside: 7857, samples: 10000 \}/.test(line)),
      'emit("log", {…}) is readable in the server log',
    );
    assertNoProblems();
  });

  test('widgets: one client though databench.js loads three times; 0.7 UI API; initial input value', async () => {
    const page = await open('/widgets/');
    assert.equal(await page.title(), 'Widgets');
    assert.equal(
      await page.evaluate(`getComputedStyle(document.getElementById('greeting')).color`),
      'rgb(0, 128, 0)',
    );
    assert.equal(
      await page.evaluate('window.Databench === window.__firstDatabench'),
      true,
      'a later load of the bundle leaves the first client in place',
    );
    await page.waitForFunction('window.d && window.d.connected', undefined, { timeout: TIMEOUT });
    // connected, the server has sent its state: the HTML's value is still shown
    assert.equal(await page.inputValue('#name'), 'Ada');
    assert.equal(
      await page.evaluate(`document.getElementById('name').databenchUI.getValue()`),
      'Ada',
    );

    await page.fill('#name', 'Grace');
    await page.press('#name', 'Enter');
    await page.click('#greet');
    await page.waitForFunction(
      `document.getElementById('greeting').textContent === 'Hello Grace!'`,
      undefined,
      { timeout: TIMEOUT },
    );
    await page.waitForFunction(`window.__nothing === null`, undefined, { timeout: TIMEOUT });
    await page.waitForFunction(
      `document.getElementById('plot').databenchUI.getSrc().startsWith('data:image/svg+xml')`,
      undefined,
      { timeout: TIMEOUT },
    );

    const api = await page.evaluate<Record<string, unknown>>(`(() => {
      const ui = Databench.ui;
      const input = document.getElementById('name').databenchUI;
      const slider = document.getElementById('count').databenchUI;
      const image = document.getElementById('plot').databenchUI;
      const button = document.getElementById('greet').databenchUI;
      const text = document.getElementById('greeting').databenchUI;
      input.setValue('Hopper');
      slider.setValue(7);
      image.setSrc('/_static/logo.svg');
      const idle = button.state();
      button.state(ui.ButtonState.Active);
      const active = [button.state(), button.node.classList.contains('disabled')];
      button.state(ui.ButtonState.Idle);
      text.setValue('set by the page');
      return {
        input: [input.getValue(), document.getElementById('name').value],
        slider: [slider.getValue(), document.getElementById('count').value],
        image: image.getSrc().endsWith('/_static/logo.svg'),
        states: [ui.ButtonState.Idle, ui.ButtonState.Active, ui.ButtonState[2]],
        idle, active,
        idleAgain: button.node.classList.contains('disabled'),
        text: text.getValue(),
      };
    })()`);
    assert.deepEqual(api, {
      input: ['Hopper', 'Hopper'],
      slider: [7, '7'],
      image: true,
      states: [1, 2, 'Active'],
      idle: 1,
      active: [2, true],
      idleAgain: false,
      text: 'set by the page',
    });
    assertNoProblems();
  });
});
