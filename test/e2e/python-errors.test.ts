// A Python handler's failure on the page, in Chromium against the real
// server: the error panel shows the action, the exception, the
// analysis.py file:line:column of the user's code and the lines around it,
// as it does for TypeScript analyses.
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { chromiumSkip, launchChromium, type ChromiumSession } from '../chromium.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES } from '../helpers.ts';
import { assertPython, pythonSkip } from '../python.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const DIR = join(ROOT, 'test-artifacts', `python-errors-${process.pid}`, 'analyses');
const SOURCE = join(FIXTURES, 'py07', 'analyses', 'errors');

describe('e2e: a Python handler’s error on the page', { skip: chromiumSkip || pythonSkip }, () => {
  let browser: ChromiumSession | undefined;
  let page: Page;
  let server: DatabenchServer | undefined;

  before(async () => {
    assertPython();
    await rm(DIR, { recursive: true, force: true });
    await mkdir(DIR, { recursive: true });
    await cp(SOURCE, join(DIR, 'errors'), { recursive: true });
    await writeFile(join(DIR, 'index.yaml'), 'analyses:\n  - name: errors\n    kernel: py\n');
    server = await createServer({ port: 0, analyses: DIR, logger: createMemoryLogger() });
    browser = await launchChromium();
    page = browser.page;
    page.setDefaultTimeout(15_000);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await rm(join(DIR, '..'), { recursive: true, force: true });
  });

  test('the error panel shows the action, the exception, analysis.py:line:column and the code around it', async () => {
    const lines = (await readFile(join(SOURCE, 'analysis.py'), 'utf8')).split('\n');
    const line = lines.findIndex((l) => l.includes("raise ValueError('plain failure')")) + 1;
    await page.goto(`${server!.url}/errors/`);
    await page.waitForFunction('window.d && window.d.connected');
    await page.click('button[data-action="plain_fail"]');
    await page.waitForSelector('#databench-errors .db-error .db-code-frame');
    assert.equal(await page.textContent('.db-error-name'), 'Action "plain_fail" failed');
    assert.equal(await page.textContent('.db-error-text'), 'ValueError: plain failure');
    assert.match(
      (await page.textContent('.db-error-location')) ?? '',
      new RegExp(`^errors/analysis\\.py:${line}(:\\d+)?$`),
    );
    const frame = (await page.textContent('.db-code-frame')) ?? '';
    assert.match(
      frame,
      new RegExp(`^> +${line} \\| {9}raise ValueError\\('plain failure'\\)$`, 'm'),
      'the failing line is marked',
    );
  });
});
