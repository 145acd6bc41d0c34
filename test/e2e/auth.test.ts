// The token flow in real Chromium, on a server bound off loopback: the
// printed URL signs the browser in (cookie, redirect to the URL without the
// token, no Referer carries it) and its page's socket opens; without the
// token, the login page's form signs in.
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { after, before, describe, test } from 'node:test';
import type { Page, WebSocket as PwWebSocket } from 'playwright-core';
import { chromiumSkip as skip, launchChromium, type ChromiumSession } from '../chromium.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES } from '../helpers.ts';

const TIMEOUT = 15_000;

function publicAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '0.0.0.0';
}

/** The first `user` frame the page's socket receives (its analysis ran: the socket was let in). */
async function userFrame(page: Page, navigate: () => Promise<unknown>): Promise<string> {
  const socket = page.waitForEvent('websocket', { timeout: TIMEOUT });
  await navigate();
  const ws: PwWebSocket = await socket;
  const frame = await ws.waitForEvent('framereceived', {
    predicate: (f) => String(f.payload).includes('"signal":"user"'),
    timeout: TIMEOUT,
  });
  return String(frame.payload);
}

describe('the token flow in Chromium', { skip }, () => {
  let server: DatabenchServer;
  let chromium: ChromiumSession;
  let base: string;
  before(async () => {
    server = await createServer({
      host: publicAddress(),
      port: 0,
      analyses: FIXTURES + 'auth',
      logger: createMemoryLogger(),
    });
    base = server.url.replace('0.0.0.0', '127.0.0.1');
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    await server?.close();
  });

  test('without the token the page is the login form, and no socket opens', async () => {
    const { page } = chromium;
    const response = await page.goto(`${base}/whoami/`, { timeout: TIMEOUT });
    assert.equal(response?.status(), 401);
    await page.waitForSelector('form input[name="token"]', { timeout: TIMEOUT });
  });

  test('the printed URL signs in: cookie, the URL without the token, no Referer with it', async () => {
    const { page, context } = chromium;
    const token = server.token ?? '';
    const referers: string[] = [];
    const onRequest = (r: { headers(): Record<string, string> }): void => {
      const referer = r.headers()['referer'];
      if (referer !== undefined) referers.push(referer);
    };
    page.on('request', onRequest);
    try {
      const frame = await userFrame(page, () =>
        page.goto(`${base}/whoami/?token=${token}`, { timeout: TIMEOUT }),
      );
      assert.match(frame, /"load":null/);
      assert.equal(page.url(), `${base}/whoami/`);
      const cookies = await context.cookies(base);
      const cookie = cookies.find((c) => c.name.startsWith('databench-token-'));
      assert.ok(cookie, `a databench cookie in ${JSON.stringify(cookies.map((c) => c.name))}`);
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Lax');
      assert.ok(!cookie.value.includes(token));
      // the page's scripts, styles and socket asked with a Referer: none has the token
      assert.ok(referers.length > 0, 'the page loaded something with a Referer');
      for (const referer of referers) assert.ok(!referer.includes(token), referer);
      assert.equal(await page.evaluate('document.cookie'), '', 'the cookie is HttpOnly');
    } finally {
      page.off('request', onRequest);
      await context.clearCookies();
    }
  });

  test("the login form's token signs in and goes back to the page", async () => {
    const { page, context } = chromium;
    await page.goto(`${base}/whoami/`, { timeout: TIMEOUT });
    await page.fill('input[name="token"]', 'not the token');
    await page.click('button[type="submit"]');
    await page.waitForSelector('.message', { timeout: TIMEOUT });
    assert.deepEqual(await context.cookies(base), []);
    await page.fill('input[name="token"]', server.token ?? '');
    const frame = await userFrame(page, () => page.click('button[type="submit"]'));
    assert.match(frame, /"load":null/);
    assert.equal(page.url(), `${base}/whoami/`);
    await context.clearCookies();
  });
});
