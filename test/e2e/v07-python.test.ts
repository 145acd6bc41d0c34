// Two pages of a databench 0.7 project (test/fixtures/v07py: Python analyses
// without `kernel:`, pages that load /_static/databench.js and their own
// analysis.js in a Tornado `footer` block, d3 through the static map into the
// project's node_modules) in real Chromium against the real server and real
// Python kernels: no console errors or failed requests, and they work.
//
// Code run inside the page is given as strings: this project's tsconfig has
// no DOM types outside src/client.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { chromiumSkip, launchChromium, type ChromiumSession } from '../chromium.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, writeFakeD3 } from '../helpers.ts';
import { assertPython, tornadoSkip } from '../python.ts';

const TIMEOUT = 15_000;
const PROJECT = join(FIXTURES, 'v07py');

describe('databench 0.7 Python analyses in Chromium', { skip: chromiumSkip || tornadoSkip }, () => {
  let server: DatabenchServer;
  let chromium: ChromiumSession;
  const logger = createMemoryLogger();
  const problems: string[] = [];

  before(async () => {
    assertPython();
    await writeFakeD3(join(PROJECT, 'node_modules', 'd3'));
    server = await createServer({ port: 0, cwd: PROJECT, logger });
    chromium = await launchChromium();
    const page = chromium.page;
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`${page.url()}: console error: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`${page.url()}: page error: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${r.url()}: HTTP ${r.status()}`);
    });
  });
  after(async () => {
    await chromium?.close();
    await server?.close();
  });

  async function open(path: string): Promise<Page> {
    problems.length = 0;
    await chromium.page.goto(server.url + path, { waitUntil: 'load' });
    return chromium.page;
  }

  test('helloworld: the page of 0.7 shows what its Python analysis sets when the page connects', async () => {
    const page = await open('/helloworld/');
    assert.equal(await page.title(), 'Hello World');
    await page.waitForFunction(
      `document.getElementById('output').textContent === 'Hello World'`,
      undefined,
      { timeout: TIMEOUT },
    );
    assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
  });

  test("bagofchars: d3 from the project's node_modules; typing sends the sentence, the counts come back", async () => {
    const page = await open('/bagofchars/');
    assert.equal(await page.textContent('#d3version'), 'fixture-d3');
    // sent once connected (the client queues it until then)
    await page.fill('#sentence', 'hello');
    await page.waitForFunction(
      `document.getElementById('counts').textContent === 'e1 h1 l2 o1'`,
      undefined,
      { timeout: TIMEOUT },
    );
    assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
  });
});
