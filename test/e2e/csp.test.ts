// The packaged pages under the server's Content-Security-Policy:
// the index and dummypi render, connect, run and show the plot in real
// Chromium with no CSP violation (dummypi under the strict policy, its
// inline script allowed by the page's nonce only).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromiumSkip as skip, launchChromium, type ChromiumSession } from '../chromium.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';

const ANALYSES = join(new URL('../../', import.meta.url).pathname, 'analyses');
const TIMEOUT = 15_000;

describe('the packaged pages under the Content-Security-Policy', { skip }, () => {
  let server: DatabenchServer;
  let chromium: ChromiumSession;
  const violations: string[] = [];
  before(async () => {
    server = await createServer({ port: 0, analyses: ANALYSES, logger: createMemoryLogger() });
    chromium = await launchChromium(undefined, { bypassCSP: false });
    // every violation, reported by the page itself and by the console
    await chromium.context.addInitScript(`
      document.addEventListener('securitypolicyviolation', (e) => {
        (window.__csp ??= []).push(e.violatedDirective + ' ' + e.blockedURI);
      });
    `);
    chromium.page.on('console', (m) => {
      if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text());
    });
  });
  after(async () => {
    await chromium?.close();
    await server?.close();
  });

  test('the index renders with the policy in force and no violation', async () => {
    const { page } = chromium;
    const response = await page.goto(server.url + '/', { timeout: TIMEOUT });
    assert.match(String(response?.headers()['content-security-policy']), /default-src 'self'/);
    await page.waitForSelector('a[href="/dummypi/"]', { timeout: TIMEOUT });
    assert.deepEqual(await page.evaluate('window.__csp ?? []'), []);
    assert.deepEqual(violations, []);
  });

  test('dummypi connects, runs and shows its plot with no violation', async () => {
    const { page } = chromium;
    const response = await page.goto(server.url + '/dummypi/', { timeout: TIMEOUT });
    const csp = String(response?.headers()['content-security-policy']);
    assert.match(csp, /frame-ancestors 'self'/);
    // the strict policy: its inline script runs by the page's nonce, no other would
    assert.match(csp, /script-src 'self' 'nonce-[A-Za-z0-9+/=]+' 'unsafe-eval';/);
    await page.waitForSelector('button[data-action="run"]:not(.disabled)', { timeout: TIMEOUT });
    await page.click('button[data-action="run"]');
    // selectors, not page functions: Playwright evaluates those with eval, which the policy forbids
    // the PNG sits in a closed <details>: attached, not visible
    await page.waitForSelector('img[data-signal="data:plot"][src^="data:image/"]', {
      state: 'attached',
      timeout: TIMEOUT,
    });
    await page.waitForSelector('#pi:has-text("±")', { timeout: TIMEOUT });
    // the run sends a new plot every few hundred draws: a decode whose src is
    // replaced meanwhile rejects (EncodingError), so decode again, a few times
    const width = await page.$eval(
      'img[data-signal="data:plot"]',
      async (img: { decode(): Promise<void>; naturalWidth: number }) => {
        for (let i = 0; i < 20; i++) {
          try {
            await img.decode();
            return img.naturalWidth;
          } catch {
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
        return 0;
      },
    );
    assert.ok(width > 0, `the plot shows (naturalWidth ${width})`);
    assert.deepEqual(await page.evaluate('window.__csp ?? []'), []);
    assert.deepEqual(violations, []);
  });

  test('a policy that forbids inline scripts is reported: the check can fail', async () => {
    const strict = await createServer({
      port: 0,
      analyses: ANALYSES,
      logger: createMemoryLogger(),
      contentSecurityPolicy: "default-src 'self'",
    });
    try {
      const page = await chromium.context.newPage();
      await page.goto(strict.url + '/dummypi/', { timeout: TIMEOUT });
      // the inline script is blocked, and it is that block which is reported
      // (not any violation: a stray one would pass a check for "some")
      await page.waitForFunction(
        `(window.__csp ?? []).includes('script-src-elem inline')`,
        undefined,
        { timeout: TIMEOUT },
      );
      await page.close();
    } finally {
      await strict.close();
    }
  });
});
