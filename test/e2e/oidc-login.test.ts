// The OpenID Connect login in real Chromium against a real provider (on
// another site: localhost, databench on 127.0.0.1), under the pages' real
// Content-Security-Policy: a page without a session goes to the provider,
// the browser fills its sign-in and consent forms, comes back to the page,
// whose socket works and whose analysis sees the user; signing out ends the
// session (the page goes to the provider's sign-in again). A login the user
// denies at the provider, and a user an allow rule refuses, get 403 pages
// and no socket.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { chromiumSkip as skip, launchChromium, type ChromiumSession } from '../chromium.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient } from '../helpers.ts';
import { ACCOUNTS, CLIENT, listenProvider, type ListeningProvider } from '../openid.ts';

const TIMEOUT = 15_000;
const SECRET = 'a-secret-of-at-least-thirty-two-characters';

/** Fill the provider's sign-in form as `account` and submit it. */
async function signInAtProvider(page: Page, issuer: string, account: string): Promise<void> {
  await page.waitForSelector('input[name="login"]', { timeout: TIMEOUT });
  assert.ok(page.url().startsWith(`${issuer}/interaction/`), page.url());
  await page.fill('input[name="login"]', account);
  await page.fill('input[name="password"]', ACCOUNTS[account]?.password ?? '');
  await page.click('button[type="submit"]');
}

/** Answer the provider's consent form: `allow` or `deny`. */
async function consent(page: Page, decision: 'allow' | 'deny'): Promise<void> {
  await page.waitForSelector(`button[value="${decision}"]`, { timeout: TIMEOUT });
  await page.click(`button[value="${decision}"]`);
}

/** Whether a socket to `url` opens from `page` (its cookies, its origin): `open` or `refused`. */
function trySocket(page: Page, url: string): Promise<string> {
  return page.evaluate(
    (target) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(target);
        ws.onopen = () => {
          ws.close();
          resolve('open');
        };
        ws.onerror = () => resolve('refused');
      }),
    url,
  );
}

describe('the OpenID login in Chromium against a real provider', { skip }, () => {
  let provider: ListeningProvider;
  let server: DatabenchServer;
  let chromium: ChromiumSession;
  const violations: string[] = [];
  const logger = createMemoryLogger();

  before(async () => {
    // the provider is another site (localhost), as it is in a deployment
    provider = await listenProvider('127.0.0.1', 'localhost');
    provider.mode = 'forms';
    server = await createServer({
      port: 0,
      analyses: FIXTURES + 'oidc_login',
      logger,
      secret: SECRET,
      oidc: { issuer: provider.issuer, clientId: CLIENT.id, clientSecret: CLIENT.secret },
    });
    provider.start([server.url]);
    // the pages' own policy in force: a redirect it forbids would fail here as in use
    chromium = await launchChromium(undefined, { bypassCSP: false });
    chromium.page.on('console', (m) => {
      if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text());
    });
  });
  after(async () => {
    await chromium?.close();
    await server?.close();
    await provider?.close();
  });

  const sessionCookies = async (): Promise<string[]> =>
    (await chromium.context.cookies(server.url))
      .filter((c) => c.name.startsWith('databench-session-'))
      .map((c) => c.name);

  test('sign in at the provider, use the page, sign out', async () => {
    const { page, context } = chromium;
    // every Referer the browser sends on the way, to either site
    const referers: string[] = [];
    const onRequest = (r: { headers(): Record<string, string> }): void => {
      const referer = r.headers()['referer'];
      if (referer !== undefined) referers.push(referer);
    };
    context.on('request', onRequest);
    const response = await page.goto(`${server.url}/hello/`, { timeout: TIMEOUT });
    assert.equal(response?.status(), 200);
    // without a session: the provider's sign-in form, then its consent form
    await signInAtProvider(page, provider.issuer, 'alice');
    await consent(page, 'allow');
    // back on the page, signed in: the analysis sees the user, the socket carries an action
    await page.waitForSelector('#user:has-text("Alice (alice)")', { timeout: TIMEOUT });
    assert.equal(page.url(), `${server.url}/hello/`);
    const [cookie] = (await context.cookies(server.url)).filter((c) =>
      c.name.startsWith('databench-session-'),
    );
    assert.ok(cookie, 'a session cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
    await page.click('#ping');
    await page.waitForSelector('#pong:has-text("pong for alice")', { timeout: TIMEOUT });
    // the callback's URL held the code and state: no Referer carries them anywhere
    context.off('request', onRequest);
    assert.ok(referers.length > 0, 'the pages loaded something with a Referer');
    for (const referer of referers) {
      assert.ok(!/[?&](code|state)=/.test(referer) && !referer.includes('/_auth/'), referer);
    }
    // sign out: the session ends here and at the provider, and the page asks for a login again
    await page.click('#logout');
    await page.waitForSelector('button[name="logout"]', { timeout: TIMEOUT });
    assert.ok(page.url().startsWith(provider.issuer), page.url());
    await page.click('button[name="logout"]');
    await page.waitForSelector('input[name="login"]', { timeout: TIMEOUT });
    assert.ok(page.url().startsWith(`${provider.issuer}/interaction/`), page.url());
    assert.deepEqual(await sessionCookies(), []);
    // the page itself now goes to the provider
    await page.goto(`${server.url}/hello/`, { timeout: TIMEOUT });
    await page.waitForSelector('input[name="login"]', { timeout: TIMEOUT });
    assert.ok(page.url().startsWith(provider.issuer), page.url());
    assert.deepEqual(violations, []);
    assert.ok(logger.lines.some(([, line]) => line === 'signed in: alice'));
  });

  test('a login the user denies at the provider is a 403 page, with no session', async () => {
    const { page, context } = chromium;
    await context.clearCookies();
    await page.goto(`${server.url}/hello/`, { timeout: TIMEOUT });
    await signInAtProvider(page, provider.issuer, 'bob');
    await consent(page, 'deny');
    await page.waitForSelector('h1:has-text("Sign-in refused")', { timeout: TIMEOUT });
    assert.ok(page.url().startsWith(`${server.url}/_auth/oidc/callback?`), page.url());
    assert.match((await page.textContent('body')) ?? '', /access_denied \(the user said no\)/);
    assert.deepEqual(await sessionCookies(), []);
    assert.equal(await trySocket(page, `${server.url.replace('http', 'ws')}/hello/ws`), 'refused');
  });

  test('a user the allow rule refuses gets a 403 page, an index without it, and no socket', async () => {
    const { page, context } = chromium;
    await context.clearCookies();
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await page.goto(`${server.url}/hello/`, { timeout: TIMEOUT });
    await signInAtProvider(page, provider.issuer, 'bob');
    // the page the login comes back to (after the callback's redirect)
    const refused = page.waitForResponse((r) => r.url() === `${server.url}/hello/`, {
      timeout: TIMEOUT,
    });
    await consent(page, 'allow');
    // signed in (bob is in sales), but hello is for group:analysts
    assert.equal((await refused).status(), 403);
    await page.waitForURL(`${server.url}/hello/`, { timeout: TIMEOUT });
    assert.equal((await sessionCookies()).length, 1, 'bob is signed in');
    assert.deepEqual(sockets, [], 'the 403 page opens no socket');
    assert.equal(await trySocket(page, `${server.url.replace('http', 'ws')}/hello/ws`), 'refused');
    // the same cookie from Node: the upgrade is refused with 403 before any analysis code runs
    const cookie = (await context.cookies(server.url))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
    await assert.rejects(
      TestClient.open(`${server.url.replace('http', 'ws')}/hello/ws`, {
        headers: { Cookie: cookie, Origin: server.url },
      }),
      /HTTP 403/,
    );
    await page.goto(`${server.url}/`, { timeout: TIMEOUT });
    assert.equal(await page.locator('a[href="/hello/"]').count(), 0);
  });
  test("another site's page: the session cookie stays home and its socket is refused", async () => {
    const { page, context } = chromium;
    await context.clearCookies();
    provider.mode = 'forms';
    await page.goto(`${server.url}/hello/`, { timeout: TIMEOUT });
    await signInAtProvider(page, provider.issuer, 'alice');
    await consent(page, 'allow');
    await page.waitForSelector('#user:has-text("Alice (alice)")', { timeout: TIMEOUT });
    // what reaches the server: each upgrade's Origin and whether it carried the session
    const upgrades: Array<{ origin: string; session: boolean }> = [];
    const onUpgrade = (req: IncomingMessage): void => {
      upgrades.push({
        origin: String(req.headers.origin),
        session: /databench-session-/.test(req.headers.cookie ?? ''),
      });
    };
    server.httpServer.on('upgrade', onUpgrade);
    try {
      // a page of another site (the provider's host, localhost) in the same browser
      await page.goto(`${provider.issuer}/.well-known/openid-configuration`, { timeout: TIMEOUT });
      const ws = `${server.url.replace('http', 'ws')}/hello/ws`;
      assert.equal(await trySocket(page, ws), 'refused');
      assert.equal(upgrades.length, 1, JSON.stringify(upgrades));
      assert.deepEqual(upgrades[0], { origin: provider.issuer, session: false });
      // its requests to the server do not carry the session either (SameSite=Lax)
      const requests: boolean[] = [];
      const onRequest = (req: IncomingMessage): void => {
        if (req.url === '/hello/')
          requests.push(/databench-session-/.test(req.headers.cookie ?? ''));
      };
      server.httpServer.on('request', onRequest);
      try {
        await page.evaluate(
          (url) => fetch(url, { credentials: 'include', mode: 'no-cors' }).then(() => 'sent'),
          `${server.url}/hello/`,
        );
      } finally {
        server.httpServer.off('request', onRequest);
      }
      assert.deepEqual(requests, [false]);
      // back on the server's own site, the same browser is still signed in
      await page.goto(`${server.url}/hello/`, { timeout: TIMEOUT });
      await page.waitForSelector('#user:has-text("Alice (alice)")', { timeout: TIMEOUT });
    } finally {
      server.httpServer.off('upgrade', onUpgrade);
    }
  });
});
