// Type errors reach the open page when the check ends, in Chromium against
// the real server and the CLI's type check reporter: a save with a syntax
// error (the page shows the load error) followed at once by a save with a
// type error shows the type error in the page's error panel when the check
// of that save ends, and never a warning about the syntax error the second
// save fixed; a save that fixes the type error takes it off the panel.
//
// Code run inside the page is given as strings: this project's tsconfig has
// no DOM types outside src/client.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { chromiumSkip as skip, launchChromium, type ChromiumSession } from '../chromium.ts';
import { prepareTypeCheck, type TypeCheckReporter } from '../../src/cli/typecheck.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { reloadWaiter, writeCheckoutTsconfig } from '../helpers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const TIMEOUT = 20_000;
/** How long a check may take on a busy machine before the test gives up (a liveness cap). */
const CHECK_CAP_MS = 90_000;

/** The analysis, with `value` as its STEP: a number, a string (a type error), or nothing (a syntax error). */
const source = (value: string): string =>
  `import { Analysis } from 'databench-ts';\n` +
  `export class Hello extends Analysis {\n  async on_which() { await this.emit('which', STEP); }\n}\n` +
  `const STEP: number = ${value};\n`;

const PAGE = `{% extends "analysis.html" %}
{% block analysis %}<p>which <span id="which"></span></p>{% endblock %}
{% block scripts %}
<script>
  window.d = new Databench.Connection();
  Databench.ui.wire(d);
  d.on('which', (v) => (document.querySelector('#which').textContent = String(v)));
  d.connect();
</script>
{% endblock %}
`;

/** A `__type_errors` frame the page got, and when. */
interface Seen {
  at: number;
  text: string | null;
}

describe('e2e: type errors reach open pages when the check ends', { skip }, () => {
  let dir: string;
  let browser: ChromiumSession | undefined;
  let page: Page;
  let server: DatabenchServer | undefined;
  let reporter: TypeCheckReporter | undefined;
  const logger = createMemoryLogger();
  const reloads = reloadWaiter(30_000);
  const seen: Seen[] = [];

  before(async () => {
    // inside the checkout: 'databench-ts' resolves to it (no package.json of its own here)
    await mkdir(join(ROOT, 'test-artifacts'), { recursive: true });
    dir = await mkdtemp(join(ROOT, 'test-artifacts', 'typecheck-live-'));
    await mkdir(join(dir, 'hello'));
    await writeFile(join(dir, 'index.yaml'), 'analyses:\n  - name: hello\n');
    await writeFile(join(dir, 'hello', 'index.html'), PAGE);
    await writeFile(join(dir, 'hello', 'analysis.ts'), source('5'));
    await writeCheckoutTsconfig(dir);
    reporter = await prepareTypeCheck({
      mode: 'warn',
      explicit: true,
      dir,
      packaged: false,
      cwd: dir,
      logger,
    });
    assert.ok(reporter, 'typescript is installed (a dev dependency)');
    server = await createServer({
      port: 0,
      analyses: dir,
      watch: true,
      logger,
      onReload: (app) => {
        reporter?.reloaded(app);
        reloads.onReload(app);
      },
    });
    reporter.attach(server);
    browser = await launchChromium();
    page = browser.page;
    page.setDefaultTimeout(TIMEOUT);
    page.on('websocket', (ws) =>
      ws.on('framereceived', (f) => {
        const frame = JSON.parse(String(f.payload)) as { signal: string; load?: unknown };
        if (frame.signal === '__type_errors') {
          seen.push({ at: Date.now(), text: (frame.load as { text: string | null }).text });
        }
      }),
    );
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await reporter?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const save = async (value: string): Promise<number> => {
    const reloaded = reloads.next();
    await writeFile(join(dir, 'hello', 'analysis.ts'), source(value));
    const at = Date.now();
    await reloaded;
    return at;
  };

  test('a syntax error then at once a type error: the type error shows when its check ends, the fixed syntax error never', async (t) => {
    await reporter!.idle();
    await page.goto(`${server!.url}/hello/`);
    await page.waitForFunction('window.d && window.d.connected');
    // mid-typing: a save that does not compile; the open page shows the load error
    await save('');
    await page.waitForSelector('#databench-errors .db-error');
    // the next keystrokes: valid syntax, a type error; the page reloads onto it
    await page.evaluate('window.marker = 1');
    const saved = await save('"five"');
    await page.waitForFunction('window.marker === undefined && window.d && window.d.connected');
    const warning = page.locator('#databench-errors .db-warning');
    await warning.waitFor({ timeout: CHECK_CAP_MS });
    const shownAfter = Date.now() - saved;
    t.diagnostic(`the type error showed ${shownAfter} ms after the save`);
    for (const [, line] of logger.lines) if (/type check done/.test(line)) t.diagnostic(line);
    assert.match((await warning.textContent()) ?? '', /Type errors in analysis "hello"/);
    assert.match((await warning.textContent()) ?? '', /analysis\.ts:5:7 - error TS2322/);
    // the code still runs
    await page.evaluate(`d.emit('which')`);
    await page.waitForFunction(`document.querySelector('#which').textContent === 'five'`);
    assert.deepEqual(
      seen.filter((s) => s.text !== null && !/TS2322/.test(s.text)),
      [],
      'no frame about an error a later save had fixed (the syntax error)',
    );
    assert.equal(
      logger.lines.some(([, line]) => /TS1109|Expression expected/.test(line)),
      false,
      'the check of the syntax error was given up, not reported',
    );

    // the fix: the page reloads; it shows no type error, and the check says none any more
    const before = seen.length;
    await page.evaluate('window.marker = 1');
    await save('5');
    await page.waitForFunction('window.marker === undefined && window.d && window.d.connected');
    await reporter!.idle();
    assert.equal(await page.locator('#databench-errors .db-warning').count(), 0);
    assert.deepEqual(
      seen.slice(before).filter((s) => s.text !== null),
      [],
      'nothing stale after the fix',
    );
  });
});
