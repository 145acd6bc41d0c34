// The packaged dummypi analysis, end to end: the real server (createServer on
// analyses/), the real client bundle, Debian's Chromium driven by
// playwright-core. Screenshots go to test-artifacts/e2e/ (gitignored); with
// DATABENCH_UPDATE_DOCS=1 the after-run screenshot is also written to
// docs/dummypi.png (the README's picture).
//
// Code run inside the page is given as strings: this project's tsconfig has
// no DOM types outside src/client.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page, WebSocket as PwWebSocket } from 'playwright-core';
import { chromiumSkip as skip, launchChromium, type ChromiumSession } from '../chromium.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const ANALYSES = join(ROOT, 'analyses');
const FIXTURES = join(ROOT, 'test/fixtures/e2e');
const ARTIFACTS = join(ROOT, 'test-artifacts/e2e');
const DOCS_SHOT = join(ROOT, 'docs/dummypi.png');

const TIMEOUT = 15_000;
const RUN = 'button[data-action="run"]';
const PLOT = 'img[data-signal="data:plot"]';
const XSS = '<img src=x onerror="window.__xss=1">';

/** One WebSocket frame the page sent or received, numbered by socket. */
interface WsFrame {
  socket: number;
  dir: 'sent' | 'received';
  payload: string;
  json: Record<string, unknown> | undefined;
}

/** Records every WebSocket frame of a page; waits for one without polling. */
class FrameLog {
  readonly frames: WsFrame[] = [];
  readonly closed = new Set<number>();
  private sockets = 0;
  private waiters: Array<() => void> = [];

  attach(page: Page): void {
    page.on('websocket', (ws: PwWebSocket) => {
      const socket = this.sockets++;
      const push = (dir: WsFrame['dir'], payload: string | Buffer): void => {
        const text = String(payload);
        let json: Record<string, unknown> | undefined;
        try {
          const parsed: unknown = JSON.parse(text);
          if (parsed !== null && typeof parsed === 'object')
            json = parsed as Record<string, unknown>;
        } catch {
          json = undefined;
        }
        this.frames.push({ socket, dir, payload: text, json });
        this.notify();
      };
      ws.on('framesent', (f) => push('sent', f.payload));
      ws.on('framereceived', (f) => push('received', f.payload));
      ws.on('close', () => {
        this.closed.add(socket);
        this.notify();
      });
    });
  }

  private notify(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }

  /** Resolve with the first value `check` returns (other than undefined); fail after `ms` naming `what`. */
  until<T>(what: string, check: () => T | undefined, ms = TIMEOUT): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== attempt);
        const seen = this.frames
          .map((f) => `  #${f.socket} ${f.dir}: ${f.payload.slice(0, 160)}`)
          .join('\n');
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; frames so far:\n${seen}`));
      }, ms);
      const attempt = (): void => {
        const value = check();
        if (value === undefined) {
          this.waiters.push(attempt);
          return;
        }
        clearTimeout(timer);
        resolve(value);
      };
      attempt();
    });
  }

  /** The first frame matching `test`, now or later. */
  frame(what: string, test: (f: WsFrame) => boolean, ms = TIMEOUT): Promise<WsFrame> {
    return this.until(what, () => this.frames.find(test), ms);
  }
}

/** Await `promise`; on failure, say what was awaited. */
async function step<T>(what: string, promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw new Error(`${what}: ${(error as Error).message.split('\n')[0] ?? ''}`, { cause: error });
  }
}

function connectReply(f: WsFrame): string | undefined {
  if (f.dir !== 'received' || f.json?.['signal'] !== '__connect') return undefined;
  const load = f.json['load'] as { analysis_id?: unknown } | undefined;
  return typeof load?.analysis_id === 'string' ? load.analysis_id : undefined;
}

/** The number in `#pi` ("3.142 ± 0.004"). */
async function piShown(page: Page): Promise<number> {
  return Number.parseFloat((await page.locator('#pi').textContent()) ?? '');
}

/**
 * Click Run and see it through: busy (class `disabled`, `aria-busy="true"`),
 * then idle, `#pi` changed while it ran. A MutationObserver records the busy
 * state, which a fast run may leave before a poll would see it.
 */
async function runOnce(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    const button = document.querySelector(${JSON.stringify(RUN)});
    const pi = document.getElementById('pi');
    window.__e2e = { busySeen: false, piChanges: 0 };
    const busy = () => button.classList.contains('disabled') && button.getAttribute('aria-busy') === 'true';
    new MutationObserver(() => { if (busy()) window.__e2e.busySeen = true; })
      .observe(button, { attributes: true });
    new MutationObserver(() => { window.__e2e.piChanges++; })
      .observe(pi, { childList: true, characterData: true, subtree: true });
  })()`);
  await page.click(RUN);
  await step(
    'the Run button never became busy (class disabled and aria-busy="true")',
    page.waitForFunction('window.__e2e.busySeen === true', undefined, { timeout: TIMEOUT }),
  );
  await step(
    'the Run button did not become idle again (no class disabled, aria-busy not "true")',
    page.waitForSelector(`${RUN}:not(.disabled):not([aria-busy="true"])`, { timeout: TIMEOUT }),
  );
  const changes = await page.evaluate('window.__e2e.piChanges');
  assert.ok(Number(changes) > 0, '#pi did not change during the run');
}

/** Fails unless the image has loaded and not all of its pixels are equal. */
async function assertNonBlank(page: Page, selector: string): Promise<void> {
  const result = await page.evaluate<{ w: number; h: number; distinct: number }>(`(async () => {
    const img = document.querySelector(${JSON.stringify(selector)});
    await img.decode();
    const w = img.naturalWidth || img.width || 300;
    const h = img.naturalHeight || img.height || 150;
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0, w, h);
    const px = ctx.getImageData(0, 0, w, h).data;
    let distinct = 0;
    for (let i = 4; i < px.length; i += 4) {
      if (px[i] !== px[0] || px[i + 1] !== px[1] || px[i + 2] !== px[2] || px[i + 3] !== px[3]) distinct++;
    }
    return { w, h, distinct };
  })()`);
  assert.ok(result.w > 0 && result.h > 0, `the plot has no size: ${JSON.stringify(result)}`);
  assert.ok(result.distinct > 0, `the plot is blank: all ${result.w}×${result.h} pixels are equal`);
}

describe('e2e: dummypi in Chromium against the real server', { skip }, () => {
  let browser: ChromiumSession | undefined;
  let page: Page;
  let server: DatabenchServer | undefined;
  let port: number;
  const frames = new FrameLog();
  const pageErrors: string[] = [];
  const logger = createMemoryLogger();
  let analysisId: string;

  const start = async (p: number): Promise<DatabenchServer> =>
    createServer({ port: p, analyses: ANALYSES, logger });

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
    page = browser.page;
    server = await start(0);
    port = Number(new URL(server.url).port);
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('dialog', (dialog) => void dialog.dismiss());
    frames.attach(page);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('slider to its maximum, Run: busy then idle, π within 0.05, log filled, plot drawn', async () => {
    await page.goto(`${server!.url}/dummypi/`);
    const reply = await frames.frame('the __connect reply', (f) => connectReply(f) !== undefined);
    analysisId = connectReply(reply)!;
    // the slider shows the server's initial value once connected
    await step(
      "the slider label never showed the server's samples (20000)",
      page.waitForFunction(
        `document.querySelector('label[for="samples"]').textContent.includes('20000')`,
        undefined,
        { timeout: TIMEOUT },
      ),
    );

    // a user: focus the slider, press End (input and change events fire)
    const max = await page.getAttribute('#samples', 'max');
    assert.equal(max, '200000');
    await page.focus('#samples');
    await page.keyboard.press('End');
    assert.equal(await page.inputValue('#samples'), max);
    await step(
      'the slider label does not show its maximum',
      page.waitForFunction(
        `document.querySelector('label[for="samples"]').textContent.includes('200000')`,
        undefined,
        { timeout: TIMEOUT },
      ),
    );
    await frames.frame('the server storing samples = 200000', (f) => {
      const load = f.json?.['load'] as { samples?: unknown } | undefined;
      return f.dir === 'received' && f.json?.['signal'] === 'data' && load?.samples === 200000;
    });

    await runOnce(page);
    const pi = await piShown(page);
    assert.ok(Math.abs(pi - Math.PI) < 0.05, `#pi shows ${pi}, not within 0.05 of π`);
    const log = (await page.locator('pre#log').textContent()) ?? '';
    assert.notEqual(log.trim(), '', 'pre#log is empty');
    assert.match(log, /run: 200000 draws/, "the log does not show a run at the slider's maximum");
    assert.match(log, /done: π = /);

    // the live plot
    const src = await page.getAttribute(PLOT, 'src');
    assert.match(src ?? '', /^data:image\/png;base64,/, 'the plot image has no PNG src');
    await assertNonBlank(page, PLOT);

    await page.screenshot({ path: join(ARTIFACTS, 'dummypi-run.png'), fullPage: true });
    if (process.env['DATABENCH_UPDATE_DOCS'] === '1') {
      mkdirSync(join(ROOT, 'docs'), { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'dummypi-viewport.png') });
      copyFileSync(join(ARTIFACTS, 'dummypi-viewport.png'), DOCS_SHOT);
    }
    assert.deepEqual(pageErrors, []);
  });

  test('kill and restart the server: the page reconnects with the same analysis id and works again', async () => {
    assert.ok(analysisId, 'the first test found no analysis id');
    const socketsBefore = Math.max(...frames.frames.map((f) => f.socket)) + 1;
    await server!.close();
    server = undefined;
    await frames.until("the page's socket to close", () =>
      frames.closed.size >= socketsBefore ? true : undefined,
    );
    server = await start(port);
    assert.equal(new URL(server.url).port, String(port));

    const hello = await frames.frame(
      `a new __connect from the page with analysis id ${analysisId}`,
      (f) =>
        f.socket >= socketsBefore &&
        f.dir === 'sent' &&
        f.json !== undefined &&
        '__connect' in f.json,
    );
    assert.equal(hello.json!['__connect'], analysisId, 'the page did not resume its analysis id');
    const reply = await frames.frame(
      'the __connect reply on the new socket',
      (f) => f.socket === hello.socket && connectReply(f) !== undefined,
    );
    assert.equal(connectReply(reply), analysisId, 'the server did not resume the analysis id');

    const runsBefore =
      ((await page.locator('pre#log').textContent()) ?? '').split('done: π').length - 1;
    await runOnce(page);
    await step(
      'the log shows no second finished run',
      page.waitForFunction(
        `document.getElementById('log').textContent.split('done: π').length - 1 > ${runsBefore}`,
        undefined,
        { timeout: TIMEOUT },
      ),
    );
    const pi = await piShown(page);
    assert.ok(
      Math.abs(pi - Math.PI) < 0.05,
      `#pi shows ${pi} after the restart, not within 0.05 of π`,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'dummypi-reconnected.png'), fullPage: true });
    // the page reconnected without reloading: still its first document
    assert.equal(
      frames.frames.filter((f) => f.dir === 'sent' && f.json?.['__connect'] === null).length,
      1,
    );
    assert.deepEqual(pageErrors, []);
  });
});

describe('e2e: a state value that looks like HTML is shown as text', { skip }, () => {
  let browser: ChromiumSession | undefined;
  let server: DatabenchServer | undefined;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
    server = await createServer({ port: 0, analyses: FIXTURES, logger: createMemoryLogger() });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('<img src=x onerror=…> is text, not an element, and never runs', async () => {
    const page = browser!.page;
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    await page.goto(`${server!.url}/xss/`);
    await step(
      'the <p data-signal="data:html"> never got the value',
      page.waitForFunction(`document.getElementById('html').childNodes.length > 0`, undefined, {
        timeout: TIMEOUT,
      }),
    );
    assert.equal(await page.locator('#html').textContent(), XSS);
    assert.equal(await page.locator('#html img').count(), 0, 'the value became an <img> element');
    assert.equal(
      await page.evaluate('typeof window.__xss'),
      'undefined',
      'the onerror handler ran',
    );
    assert.deepEqual(
      requested.filter((u) => new URL(u).pathname.endsWith('/x')),
      [],
      "the page requested the <img>'s src",
    );
    await page.screenshot({ path: join(ARTIFACTS, 'xss.png'), fullPage: true });
  });
});
