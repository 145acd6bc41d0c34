// Data in, data out, in Chromium against the real server: a file chosen in
// an <input type="file" data-action> arrives byte for byte in a TypeScript
// handler (in-process and in a worker thread) and in a Python one (compared
// by hash), a file past the server's limit is refused with the limit on the
// page, a <table data-table> sorts, pages and updates in place without
// losing either, and a <select data-options> takes its options from data.
//
// Code run inside the page is given as strings: this project's tsconfig has
// no DOM types outside src/client.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { chromiumSkip as skip, launchChromium, type ChromiumSession } from '../chromium.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES } from '../helpers.ts';

const TIMEOUT = 20_000;
/** The server's per-file limit in this suite: the 5 MB file passes, a 7 MB one does not. */
const LIMIT = 6 << 20;

async function open(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForFunction('window.d && window.d.connected');
}

/** The texts of the table's cells in `column` (0-based) on the page shown. */
async function columnTexts(page: Page, column: number): Promise<string[]> {
  return page.locator(`#rows tbody tr td:nth-child(${column + 1})`).allTextContents();
}

describe('e2e: uploads, tables and selects with options from data', { skip }, () => {
  let browser: ChromiumSession | undefined;
  let page: Page;
  let server: DatabenchServer | undefined;
  const pageErrors: string[] = [];

  before(async () => {
    server = await createServer({
      port: 0,
      analyses: FIXTURES + 'upload',
      logger: createMemoryLogger(),
      maxUploadBytes: LIMIT,
    });
    browser = await launchChromium();
    page = browser.page;
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const file = randomBytes(5 * 1000 * 1000);
  const sha256 = createHash('sha256').update(file).digest('hex');

  for (const name of ['upload', 'upload_worker', 'upload_py']) {
    test(`${name}: a 5 MB file arrives byte for byte in the handler`, async () => {
      await open(page, `${server!.url}/${name}/`);
      await page.setInputFiles('#csv', {
        name: 'big.bin',
        mimeType: 'application/octet-stream',
        buffer: file,
      });
      await page.waitForFunction(
        `document.querySelector('#sha256').textContent === ${JSON.stringify(sha256)}`,
      );
      assert.equal(await page.textContent('#name'), 'big.bin');
      assert.equal(await page.textContent('#filesize'), String(file.length));
      // the status follows the handler's run to its end; the bar is gone
      await page.waitForFunction(
        `document.querySelector('.db-upload-status').textContent.endsWith(': done')`,
      );
      assert.equal(await page.textContent('.db-upload-status'), 'big.bin (5.0 MB): done');
      assert.equal(await page.$('label.db-uploading'), null);
      assert.equal(await page.$('.db-upload-cancel'), null, 'Cancel is gone');
      assert.deepEqual(pageErrors, []);
    });
  }

  test('a file past the limit is refused before it is sent; the page says the limit', async () => {
    await open(page, `${server!.url}/upload/`);
    const before = await page.textContent('#sha256');
    await page.setInputFiles('#csv', {
      name: 'huge.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.alloc(7 << 20),
    });
    await page.waitForFunction(
      `/at most/.test(document.querySelector('.db-upload-status').textContent)`,
    );
    assert.equal(
      await page.textContent('.db-upload-status'),
      `huge.bin (7.3 MB): "huge.bin" is 7.3 MB; this server takes files of at most 6 MiB (6.3 MB): the server's --max-upload-mb raises it`,
    );
    assert.equal(await page.textContent('#sha256'), before, 'no handler ran');
  });

  test('several files of an <input multiple> arrive as one list', async () => {
    await open(page, `${server!.url}/upload_py/`);
    await page.setInputFiles('#many', [
      { name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('alpha') },
      { name: 'b.txt', mimeType: 'text/plain', buffer: Buffer.alloc(70_000, 1) },
    ]);
    await page.waitForFunction(`document.querySelector('#names').textContent !== ''`);
    assert.equal(await page.textContent('#names'), '["a.txt:5","b.txt:70000"]');
  });

  test('a table sorts, pages and keeps both when its rows change; cells are text', async () => {
    await open(page, `${server!.url}/upload/`);
    await page.evaluate(`d.emit('make_rows', 37)`);
    await page.waitForFunction(`document.querySelectorAll('#rows tbody tr').length === 10`);
    assert.equal(await page.textContent('.db-table-count'), 'rows 1–10 of 37');
    assert.deepEqual(await page.locator('#rows thead th').allTextContents(), [
      'id',
      'value',
      'label',
    ]);
    // cells are text: a value with markup shows the markup, makes no element
    assert.equal((await columnTexts(page, 2))[0], '<b>row 0</b>');
    assert.equal(await page.$('#rows tbody b'), null);

    // sort by value, then reverse it
    await page.click('#rows thead th:nth-child(2) button');
    assert.deepEqual((await columnTexts(page, 1)).slice(0, 3), ['0', '3', '6']);
    await page.click('#rows thead th:nth-child(2) button');
    assert.equal(await page.getAttribute('#rows thead th:nth-child(2)', 'aria-sort'), 'descending');
    const descending = (await columnTexts(page, 1)).map(Number);
    assert.deepEqual(
      descending,
      [...descending].sort((a, b) => b - a),
    );
    // the second page
    await page.click('.db-table-footer button:has-text("Next")');
    assert.equal(await page.textContent('.db-table-count'), 'rows 11–20 of 37');
    const page2 = await columnTexts(page, 0);
    // a mark on the first row element: it stays when the element is reused
    await page.evaluate(`document.querySelector('#rows tbody tr').dataset.mark = 'kept'`);

    // new rows from the server (one value changed): sort and page stay, rows are updated in place
    await page.evaluate(`d.emit('bump', Number(${JSON.stringify(page2[0])}))`);
    await page.waitForFunction(
      `document.querySelector('#rows tbody tr td:nth-child(1)').textContent !== ${JSON.stringify(page2[0])}`,
    );
    assert.equal(await page.textContent('.db-table-count'), 'rows 11–20 of 37');
    assert.equal(await page.getAttribute('#rows thead th:nth-child(2)', 'aria-sort'), 'descending');
    assert.equal(
      await page.evaluate(`document.querySelector('#rows tbody tr').dataset.mark`),
      'kept',
      'the row element is reused, not rebuilt',
    );
    // the bumped row (now 1000) leads page 1
    await page.click('.db-table-footer button:has-text("Previous")');
    assert.deepEqual((await columnTexts(page, 0))[0], page2[0]);
    assert.equal((await columnTexts(page, 1))[0], '1000');
    assert.deepEqual(pageErrors, []);
  });

  test('a select takes its options from data; the selection is sent and kept', async () => {
    await open(page, `${server!.url}/upload/`);
    await page.setInputFiles('#csv', {
      name: 'small.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from('alpha,beta,gamma\n1,2,3\n4,5,6\n'),
    });
    await page.waitForFunction(`document.querySelectorAll('#column option').length === 3`);
    assert.deepEqual(await page.locator('#column option').allTextContents(), [
      'alpha',
      'beta',
      'gamma',
    ]);
    // the analysis set `column` with the columns: it is selected
    assert.equal(await page.inputValue('#column'), 'alpha');
    assert.equal(await page.textContent('.db-table-count'), '2 rows');

    await page.evaluate(
      `window.echo = new Promise((resolve) => d.on({ data: 'column' }, resolve)); undefined`,
    );
    await page.selectOption('#column', 'gamma');
    assert.equal(await page.evaluate(`window.echo`), 'gamma', 'the analysis got the selection');
    // new options that still have the selection keep it
    await page.evaluate(`d.emit('set_columns', { columns: ['delta', 'gamma'] })`);
    await page.waitForFunction(`document.querySelectorAll('#column option').length === 2`);
    assert.equal(await page.inputValue('#column'), 'gamma');
    assert.deepEqual(pageErrors, []);
  });
});
