// Debian's Chromium for the browser suites, started the one way this project
// starts it: headless, the flags this machine needs, a fresh profile.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const MISSING = `no Chromium at ${CHROMIUM}: apt-get install -y chromium`;

/**
 * The `skip` option of a Chromium suite: false when Chromium is there, and
 * under CI=true (where {@link launchChromium} then fails the suite); elsewhere
 * the one line that says what to install.
 */
export const chromiumSkip: false | string =
  existsSync(CHROMIUM) || process.env['CI'] === 'true' ? false : MISSING;

/** A running browser with its first page; `close()` also removes the profile. */
export interface ChromiumSession {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/**
 * Start Chromium. `bypassCSP` (default true) lets Playwright's polling
 * predicates, which the page's Content-Security-Policy would refuse as
 * `eval`, run; the CSP suite turns it off to see what a real page sees.
 */
export async function launchChromium(
  viewport: { width: number; height: number } = { width: 1000, height: 700 },
  { bypassCSP = true }: { bypassCSP?: boolean } = {},
): Promise<ChromiumSession> {
  if (!existsSync(CHROMIUM)) throw new Error(MISSING);
  const userDataDir = mkdtempSync(join(tmpdir(), 'databench-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport,
    bypassCSP,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
