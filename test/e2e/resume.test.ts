// What survives a save, in Chromium against the real server watching a copy
// of its analyses (written here, so that saves can change and break them):
// a page reloaded by a save, or refreshed, resumes its session and shows its
// `data` again (TypeScript in-process and in a worker, Python); `?fresh` and
// the status line's Start fresh button start anew; a duplicated tab starts a
// session of its own; `resume_on_reload: false` opts out. A page opened or
// refreshed while a save is broken shows the error and reloads once, when a
// save fixes it. A frame larger than the server reads is refused with a
// message naming the limit, in the page and in the server's log.
//
// Code run inside the page is given as strings: this project's tsconfig has
// no DOM types outside src/client.
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { chromiumSkip as skip, launchChromium, type ChromiumSession } from '../chromium.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { reloadWaiter } from '../helpers.ts';
import { assertPython, pythonSkip } from '../python.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const DIR = join(ROOT, 'test-artifacts', `resume-${process.pid}`);
const TIMEOUT = 20_000;
/** The server reads frames of at most this many bytes (64 KiB): the oversize tests stay small. */
const MAX_FRAME = 64 * 1024;

/** A counter in TypeScript; `version` tells which save of the code runs. */
const counterTs = (
  cls: string,
  version: number,
): string => `import { Analysis } from 'databench-ts';

export class ${cls} extends Analysis<{ clicks: number }> {
  override async on_connected() {
    await this.emit('connected', { resumed: this.resumed, version: VERSION });
    await this.data.init({ clicks: 0 });
  }

  async on_count() {
    await this.data.set('clicks', this.data.get('clicks', 0) + 1);
  }

  async on_ping() {
    await this.emit('pong', VERSION);
  }

  async on_paste(text: string) {
    await this.emit('pasted', text.length);
  }
}

const VERSION = ${version};
`;

/** The same counter in Python. */
const counterPy = (version: number): string => `import databench

VERSION = ${version}


class CounterPy(databench.Analysis):
    def on_connected(self):
        self.emit('connected', {'resumed': self.resumed, 'version': VERSION})
        self.data.init({'clicks': 0})

    def on_count(self):
        self.data['clicks'] = self.data.get('clicks', 0) + 1

    def on_ping(self):
        self.emit('pong', VERSION)
`;

const PAGE = `{% extends "analysis.html" %}
{% block analysis %}
<p><button data-action="count">Count</button> <button data-action="ping" id="ping">Ping</button></p>
<p>clicks <span id="clicks" data-signal="data:clicks">0</span>,
resumed <span id="resumed"></span>, version <span id="version"></span>, pong <span id="pong"></span></p>
{% endblock %}
{% block scripts %}
<script>
  window.d = new Databench.Connection();
  Databench.ui.wire(d);
  d.on('connected', (c) => {
    document.querySelector('#resumed').textContent = String(c.resumed);
    document.querySelector('#version').textContent = String(c.version);
  });
  d.on('pong', (v) => (document.querySelector('#pong').textContent = String(v)));
  d.connect();
</script>
{% endblock %}
`;

const INDEX_YAML = `analyses:
  - name: counter
  - name: counter_worker
    kernel: worker
    threads: 1
  - name: counter_py
    kernel: py
  - name: once
    resume_on_reload: false
  - name: fragile
  - name: fragile_py
    kernel: py
`;

/** The text of `selector`. */
function text(page: Page, selector: string): Promise<string | null> {
  return page.textContent(selector);
}

/** Wait until the page is connected and its analysis said which version runs. */
async function connected(page: Page, version: number): Promise<void> {
  await page.waitForFunction(
    `window.d && window.d.connected && document.querySelector('#version').textContent === '${version}'`,
  );
}

/** Click Count until the page shows `n`. */
async function countTo(page: Page, n: number): Promise<void> {
  for (let i = Number(await text(page, '#clicks')); i < n; i++) {
    await page.click('button[data-action="count"]');
    await page.waitForFunction(`document.querySelector('#clicks').textContent === '${i + 1}'`);
  }
}

/**
 * A round trip to the analysis (ping → pong with its version): whatever the
 * page was going to do on its `__connect` (a reload) has happened by then.
 */
async function roundTrip(page: Page, version: number): Promise<void> {
  await page.evaluate(`document.querySelector('#pong').textContent = ''`);
  await page.click('#ping');
  await page.waitForFunction(`document.querySelector('#pong').textContent === '${version}'`);
}

describe('e2e: what survives a save', { skip }, () => {
  let browser: ChromiumSession | undefined;
  let page: Page;
  let server: DatabenchServer | undefined;
  const logger = createMemoryLogger();
  const pageErrors: string[] = [];
  const reloads = reloadWaiter(30_000);

  const write = (name: string, file: string, source: string): Promise<void> =>
    writeFile(join(DIR, name, file), source);
  /** Save `source` as the analysis of `name` and wait for the server's reload. */
  const save = async (name: string, file: string, source: string): Promise<void> => {
    const reloaded = reloads.next();
    await write(name, file, source);
    await reloaded;
  };

  before(async () => {
    await rm(DIR, { recursive: true, force: true });
    await mkdir(DIR, { recursive: true });
    await writeFile(join(DIR, 'index.yaml'), INDEX_YAML);
    for (const name of [
      'counter',
      'counter_worker',
      'counter_py',
      'once',
      'fragile',
      'fragile_py',
    ]) {
      await mkdir(join(DIR, name));
      await write(name, 'index.html', PAGE);
    }
    await write('counter', 'analysis.ts', counterTs('Counter', 1));
    await write('counter_worker', 'analysis.ts', counterTs('CounterWorker', 1));
    await write('counter_py', 'analysis.py', counterPy(1));
    await write('once', 'analysis.ts', counterTs('Once', 1));
    await write('fragile', 'analysis.ts', counterTs('Fragile', 1));
    await write('fragile_py', 'analysis.py', counterPy(1));
    server = await createServer({
      port: 0,
      analyses: DIR,
      logger,
      watch: true,
      maxFrameBytes: MAX_FRAME,
      onReload: reloads.onReload,
    });
    browser = await launchChromium();
    page = browser.page;
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await rm(DIR, { recursive: true, force: true });
  });

  const cases = [
    { name: 'counter', file: 'analysis.ts', source: (v: number) => counterTs('Counter', v) },
    {
      name: 'counter_worker',
      file: 'analysis.ts',
      source: (v: number) => counterTs('CounterWorker', v),
    },
    { name: 'counter_py', file: 'analysis.py', source: counterPy, python: true },
  ];
  for (const c of cases) {
    test(
      `${c.name}: clicked to 3, the code saved: the page reloads on the new code and shows 3 (this.resumed); a refresh too`,
      {
        skip: c.python ? pythonSkip : false,
      },
      async () => {
        if (c.python) assertPython();
        await page.goto(`${server!.url}/${c.name}/?fresh`);
        await connected(page, 1);
        assert.equal(await text(page, '#resumed'), 'false');
        await countTo(page, 3);
        await page.evaluate('window.marker = 1');
        await save(c.name, c.file, c.source(2));
        // reloaded by the save: a new page (no marker) on the new code
        await page.waitForFunction('window.marker === undefined');
        await connected(page, 2);
        assert.equal(await text(page, '#clicks'), '3', 'data came back');
        assert.equal(await text(page, '#resumed'), 'true', 'connected saw this.resumed');
        assert.equal(await text(page, '.db-session-state'), 'Session resumed');
        assert.doesNotMatch(page.url(), /[0-9a-f]{8}-/, 'no id in the address');
        // the user refreshes
        await page.reload();
        await connected(page, 2);
        assert.equal(await text(page, '#clicks'), '3');
        assert.equal(await text(page, '#resumed'), 'true');
        await countTo(page, 4);
        // back to version 1 for the next run of this file
        await page.evaluate('window.marker = 1');
        await save(c.name, c.file, c.source(1));
        await page.waitForFunction('window.marker === undefined');
        await connected(page, 1);
        assert.equal(await text(page, '#clicks'), '4');
        assert.deepEqual(pageErrors, []);
      },
    );
  }

  test('?fresh and the Start fresh button start a new session; the flag leaves the address', async () => {
    await page.goto(`${server!.url}/counter/`);
    await connected(page, 1);
    await countTo(page, 2);
    const first = await page.evaluate<string>('d.analysisId');
    await page.goto(`${server!.url}/counter/?x=1&fresh`);
    await connected(page, 1);
    assert.equal(await text(page, '#clicks'), '0');
    assert.equal(await text(page, '#resumed'), 'false');
    assert.equal(new URL(page.url()).search, '?x=1', 'the flag is gone, the rest kept');
    assert.equal(await page.evaluate<string>('location.search'), '?x=1');
    assert.notEqual(await page.evaluate<string>('d.analysisId'), first);
    await countTo(page, 2);
    // a reload now resumes again (the flag is not in the address any more)
    await page.reload();
    await connected(page, 1);
    assert.equal(await text(page, '#clicks'), '2');
    // the status line's button
    assert.equal(await page.isVisible('#databench-session'), true);
    await page.evaluate('window.marker = 1');
    await page.click('.db-session-fresh');
    await page.waitForFunction('window.marker === undefined');
    await connected(page, 1);
    assert.equal(await text(page, '#clicks'), '0');
    assert.equal(await text(page, '.db-session-state'), 'New session');
  });

  test('a tab opened from an open page (its sessionStorage copied) starts a session of its own', async () => {
    await page.goto(`${server!.url}/counter/?fresh`);
    await connected(page, 1);
    await countTo(page, 2);
    const [popup] = await Promise.all([
      browser!.context.waitForEvent('page'),
      page.evaluate(`window.open(location.href)`),
    ]);
    popup.setDefaultTimeout(TIMEOUT);
    await connected(popup, 1);
    assert.equal(await text(popup, '#clicks'), '0');
    assert.notEqual(
      await popup.evaluate<string>('d.analysisId'),
      await page.evaluate<string>('d.analysisId'),
    );
    // the first page was not taken over: it still counts
    await countTo(page, 3);
    await popup.close();
  });

  test('resume_on_reload: false: a save or a refresh starts a new session; no status button', async () => {
    await page.goto(`${server!.url}/once/`);
    await connected(page, 1);
    await countTo(page, 2);
    assert.equal(await page.isVisible('#databench-session'), false);
    assert.equal(await page.evaluate(`sessionStorage.getItem('databench:/once/ws')`), null);
    await page.evaluate('window.marker = 1');
    await save('once', 'analysis.ts', counterTs('Once', 2));
    await page.waitForFunction('window.marker === undefined');
    await connected(page, 2);
    assert.equal(await text(page, '#clicks'), '0');
    assert.equal(await text(page, '#resumed'), 'false');
  });

  const fragile = [
    {
      name: 'fragile',
      good: (v: number) => counterTs('Fragile', v),
      broken: counterTs('Fragile', 1).replace('async on_ping() {', 'async on_ping() { const x = ;'),
      file: 'analysis.ts',
    },
    {
      name: 'fragile_py',
      good: counterPy,
      broken: counterPy(1).replace('def on_ping(self):', 'def on_ping(self) oops:'),
      file: 'analysis.py',
      python: true,
    },
  ];
  for (const f of fragile) {
    test(
      `${f.name}: a page opened or refreshed while a save is broken shows the error, does not reload itself, and reloads once when a save fixes it`,
      {
        skip: f.python ? pythonSkip : false,
      },
      async () => {
        if (f.python) assertPython();
        await page.goto(`${server!.url}/${f.name}/`);
        await connected(page, 1);
        await save(f.name, f.file, f.broken);
        // the open page is told at once
        await page.waitForSelector('#databench-errors .db-error');
        let loads = 0;
        const counted = (): void => void loads++;
        page.on('load', counted);
        try {
          // opened while broken: the last good version serves it, with the error
          await page.goto(`${server!.url}/${f.name}/`);
          await page.waitForSelector('#databench-errors .db-error');
          assert.match((await text(page, '.db-error-name')) ?? '', /failed to reload/);
          await connected(page, 1);
          await roundTrip(page, 1);
          assert.equal(loads, 1, 'opened once, not reloaded by its own connect');
          // refreshed while broken
          await page.reload();
          await page.waitForSelector('#databench-errors .db-error');
          await connected(page, 1);
          await roundTrip(page, 1);
          assert.equal(loads, 2, 'refreshed once, not reloaded by its own connect');
          // the fix: one reload, onto the new code, the panel empty
          await page.evaluate('window.marker = 1');
          await save(f.name, f.file, f.good(2));
          await page.waitForFunction('window.marker === undefined');
          await connected(page, 2);
          await roundTrip(page, 2);
          assert.equal(loads, 3, 'reloaded once by the fix');
          assert.equal(await page.locator('.db-error').count(), 0);
        } finally {
          page.off('load', counted);
        }
        await page.evaluate('window.marker = 1');
        await save(f.name, f.file, f.good(1));
        await page.waitForFunction('window.marker === undefined');
        await connected(page, 1);
      },
    );
  }

  test('a frame larger than the server reads: refused in the page with the limit, logged; one that reaches the server closes the socket with 1009 and the page says so', async () => {
    await page.goto(`${server!.url}/counter/?fresh`);
    await connected(page, 1);
    await countTo(page, 2);
    assert.equal(await page.evaluate('d.maxFrameBytes'), MAX_FRAME, 'the reply tells the limit');
    // a big paste through emit: not sent, the page and the log say why
    await page.evaluate(`d.emit('paste', 'x'.repeat(100000))`);
    await page.waitForSelector('#databench-errors .db-error');
    assert.equal(await text(page, '.db-error-name'), 'Action "paste" failed');
    const message = (await text(page, '.db-error-text')) ?? '';
    assert.match(message, /"paste" was not sent: its message is 100\.\d kB, more than the 64 KiB/);
    assert.match(message, /--max-frame-bytes/);
    assert.equal(await page.evaluate('d.connected'), true, 'the connection stays open');
    // the page's `warn` action, logged by the analysis, ran before this ping
    await roundTrip(page, 1);
    assert.ok(
      logger.lines.some(([level, line]) => level === 'warn' && /"paste" was not sent/.test(line)),
      'the server log says it too',
    );
    // a frame that bypasses the check (sent on the socket itself) reaches the server
    await page.click('.db-error-dismiss');
    await page.evaluate(
      `d.socket.send(JSON.stringify({ signal: 'paste', load: ['x'.repeat(100000)] }))`,
    );
    await page.waitForSelector('#databench-errors .db-error');
    assert.match(
      (await text(page, '.db-error-text')) ?? '',
      /the server closed the connection: a message from this page was larger than the 64 KiB it reads in one message \(its --max-frame-bytes\)/,
    );
    assert.ok(
      logger.lines.some(
        ([level, line]) =>
          level === 'warn' &&
          line.includes(
            `a frame from the page is larger than the ${MAX_FRAME} bytes the server reads`,
          ) &&
          line.includes('--max-frame-bytes'),
      ),
      'the server logs it',
    );
    // the page reconnects and resumes
    await page.waitForFunction('window.d.connected');
    await roundTrip(page, 1);
    assert.equal(await text(page, '#clicks'), '2');
  });
});
