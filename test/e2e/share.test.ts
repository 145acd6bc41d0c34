// A share link in real Chromium: the owner's page makes it with the status
// line's Share button, a second page opens it and follows the owner's slider
// with its own slider disabled, and "Stop sharing" ends the view.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chromiumSkip as skip, launchChromium, type ChromiumSession } from '../chromium.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES } from '../helpers.ts';

const TIMEOUT = 20_000;

describe('e2e: a read-only share link', { skip }, () => {
  let server: DatabenchServer;
  let chromium: ChromiumSession;
  const pageErrors: string[] = [];
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: FIXTURES + 'share',
      logger: createMemoryLogger(),
    });
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    await server?.close();
  });

  test("a viewer page follows the owner's slider; its own slider is disabled; Stop sharing ends it", async () => {
    const owner = chromium.page;
    const viewer = await chromium.context.newPage();
    for (const page of [owner, viewer]) {
      page.on('pageerror', (error) => pageErrors.push(error.message));
    }
    await owner.goto(`${server.url}/board/`, { timeout: TIMEOUT });
    await owner.waitForFunction('window.d && window.d.connected', undefined, { timeout: TIMEOUT });
    await owner.locator('#x').fill('30');
    await owner.waitForFunction(
      "document.querySelector('label[for=x]').textContent.includes('30')",
    );

    // the status line's Share button makes the link and shows it
    await owner.locator('.db-session-share').click({ timeout: TIMEOUT });
    const link = owner.locator('.db-session-share-link');
    await link.waitFor({ state: 'visible', timeout: TIMEOUT });
    const url = await link.getAttribute('href');
    assert.ok(url !== null);
    assert.match(url, /\/board\/\?__share=[A-Za-z0-9_-]{24}$/);

    await viewer.goto(url, { timeout: TIMEOUT });
    await viewer.waitForFunction('window.d && window.d.connected', undefined, { timeout: TIMEOUT });
    assert.equal(await viewer.evaluate('window.d.viewing'), true);
    // the owner's state, the viewer's controls disabled, the status line says what it is
    await viewer.waitForFunction("document.querySelector('#x').value === '30'", undefined, {
      timeout: TIMEOUT,
    });
    assert.equal(await viewer.locator('#x').isDisabled(), true, "the viewer's slider is disabled");
    assert.equal(await viewer.locator('button[data-action=visit]').isDisabled(), true);
    assert.match(
      (await viewer.locator('#databench-session').textContent()) ?? '',
      /Read-only view of a shared page/,
    );
    assert.equal(await viewer.locator('.db-session-share').count(), 0, 'a viewer cannot share');

    // the owner moves the slider: the viewer's follows, live
    await owner.locator('#x').fill('72');
    await viewer.waitForFunction(
      "document.querySelector('#x').value === '72' && document.querySelector('label[for=x]').textContent.includes('72')",
      undefined,
      { timeout: TIMEOUT },
    );
    // the owner's class counter too
    await owner.locator('button[data-action=visit]').click();
    await viewer.waitForFunction(
      "document.querySelector('#visits').textContent.trim() === '1'",
      undefined,
      { timeout: TIMEOUT },
    );

    // Stop sharing: the viewer's page says its view ended
    await owner.locator('.db-session-share-stop').click();
    await viewer.waitForFunction(
      "document.querySelector('#databench-alerts').textContent.includes('This shared view has ended')",
      undefined,
      { timeout: TIMEOUT },
    );
    // the owner's page offers to share again once the server confirmed the revocation
    await owner.locator('.db-session-share').waitFor({ state: 'visible', timeout: TIMEOUT });
    assert.equal(await owner.locator('.db-session-share-link').isVisible(), false);
    assert.deepEqual(pageErrors, []);
    await viewer.close();
  });
});
