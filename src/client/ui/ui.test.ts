// Every widget once, in real Chromium, on a page that loads the real bundle
// (built in memory by scripts/build-client.js) and talks to a real `ws`
// server speaking docs/reference/protocol.md. Screenshots go to test-artifacts/client-ui/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import {
  chromiumSkip as skip,
  launchChromium,
  type ChromiumSession,
} from '../../../test/chromium.js';
import { startProtocolServer, type ProtocolServer } from '../protocol-server.test-helper.js';

const ARTIFACTS = new URL('../../../test-artifacts/client-ui/', import.meta.url).pathname;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>databench widgets</title>
<style>body{font-family:sans-serif;margin:1em} .disabled{opacity:.4} .alert{color:#a00}</style>
</head><body>
<div id="databench-alerts"></div>
<p><button data-action="run">Run</button> <button id="skipped" data-action="nope" data-skipwire="true">Skipped</button></p>
<p>pi: <span data-action="pi"></span> status: <b data-signal="status" id="status"></b></p>
<p id="unsafe" data-signal="data:unsafe"></p>
<div id="rich" data-signal="data:rich" data-html></div>
<pre data-action="obj" id="obj"></pre>
<p><input type="text" name="greeting" id="greeting"> <input type="text" name="search" id="search" data-keyup> <input id="other"></p>
<p><label for="samples">Samples:</label> <input type="range" id="samples" min="100" max="10000" step="100" value="1000"></p>
<p><input type="checkbox" name="verbose" id="verbose"> <select name="method" id="method"><option>mc</option><option>grid</option></select>
<progress id="done" max="1"></progress></p>
<img id="plot" alt="plot" data-signal="plot" width="40" height="40">
<pre id="log"></pre>
<script src="/_static/databench.js"></script>
<script>
  window.databench = new Databench.Connection(undefined, undefined, undefined, {
    reconnectInitialDelayMs: 50, reconnectMaxDelayMs: 200,
  });
  Databench.ui.wire(window.databench);
  window.databench.connect();
</script>
</body></html>`;

// a 1×1 red PNG
const RED_PIXEL =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

describe('ui widgets in Chromium', { skip }, () => {
  let browser: ChromiumSession | undefined;
  let page: Page;
  let server: ProtocolServer;
  let bundle: string;
  let port: number;
  const pageErrors: string[] = [];

  async function startServer(analysesVersion = '1'): Promise<ProtocolServer> {
    const s = await startProtocolServer({
      port,
      analysesVersion,
      pages: {
        '/page/': ['text/html; charset=utf-8', PAGE],
        '/_static/databench.js': ['text/javascript; charset=utf-8', bundle],
      },
    });
    port = s.port;
    return s;
  }

  async function shot(name: string): Promise<void> {
    await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
  }

  before(async () => {
    // a variable path: the build script is plain JS without type declarations
    const script = '../../../scripts/build-client.js';
    const { buildClientBundle } = (await import(script)) as {
      buildClientBundle: () => Promise<string>;
    };
    bundle = await buildClientBundle();
    port = 0;
    server = await startServer();
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchChromium({ width: 800, height: 600 });
    page = browser.page;
    page.setDefaultTimeout(5000);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('dialog', (dialog) => void dialog.dismiss());
    await page.goto(`${server.httpUrl}/page/?x=1`);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('connects to the guessed URL with the page query string', async () => {
    const hello = await server.takeConnect();
    assert.deepEqual(JSON.parse(hello.raw), {
      __connect: null,
      __request_args: '?x=1',
      __deltas: 1,
    });
    assert.equal(server.socketPaths[0], '/page/ws');
    await page.waitForFunction(
      () => (window as unknown as { databench: { connected: boolean } }).databench.connected,
    );
  });

  test('Button: sends its action with a __process_id and is busy while it runs', async () => {
    let end: () => void = () => undefined;
    server.onAction = ({ message, send }) => {
      const id = (message.load as { __process_id?: number } | undefined)?.__process_id;
      if (id === undefined) return;
      send('__process', { id, status: 'start' });
      end = () => send('__process', { id, status: 'end' });
    };
    await page.click('button[data-action=run]');
    const run = await server.takeAction('run');
    assert.equal(typeof (run.message.load as { __process_id: unknown }).__process_id, 'number');
    await page.waitForSelector('button[data-action=run].disabled[aria-busy=true]');
    await shot('button-busy');
    await page.click('button[data-action=run]'); // ignored while busy
    end();
    await page.waitForSelector('button[data-action=run][aria-busy=false]:not(.disabled)');
    await page.click('#skipped');
    await page.click('button[data-action=run]');
    const second = await server.takeAction('run');
    assert.notEqual(
      (second.message.load as { __process_id: number }).__process_id,
      (run.message.load as { __process_id: number }).__process_id,
    );
    end();
    assert.equal(
      server.received.filter((r) => r.message.kind === 'action' && r.message.signal === 'run')
        .length,
      2,
    );
    assert.equal(
      server.received.filter((r) => r.message.kind === 'action' && r.message.signal === 'nope')
        .length,
      0,
    );
    assert.equal(await page.$eval('#skipped', (n) => 'databenchUI' in n), false);
  });

  test('Button: a double click runs the action once; a lost connection does not leave it busy', async () => {
    server.onAction = ({ message, send }) => {
      const id = (message.load as { __process_id?: number } | undefined)?.__process_id;
      if (id !== undefined) send('__process', { id, status: 'start' }); // the end never comes
    };
    const before = server.received.filter(
      (r) => r.message.kind === 'action' && r.message.signal === 'run',
    ).length;
    await page.dblclick('button[data-action=run]');
    await server.takeAction('run');
    await page.waitForSelector('button[data-action=run][aria-busy=true]');
    for (const socket of server.sockets) socket.terminate();
    await page.waitForSelector('button[data-action=run][aria-busy=false]:not(.disabled)');
    assert.equal(
      server.received.filter((r) => r.message.kind === 'action' && r.message.signal === 'run')
        .length,
      before + 1,
      'a double click sent one action',
    );
    // the page reconnects (and resumes) before the next test
    await server.takeConnect();
  });

  test('Text: values as text, never as HTML unless data-html', async () => {
    const evil = '<img src=x onerror="window.__xss=1">';
    server.broadcast('data', {
      pi: 3.14159,
      unsafe: evil,
      rich: '<b>bold</b>',
      obj: { a: [1, 2] },
    });
    server.broadcast('status', 'ok');
    await page.waitForFunction(() => document.querySelector('#obj')?.textContent === '{"a":[1,2]}');
    assert.equal(await page.textContent('span[data-action=pi]'), '3.14159');
    assert.equal(await page.textContent('#unsafe'), evil);
    assert.equal(await page.$$eval('#unsafe *', (nodes) => nodes.length), 0);
    assert.equal(await page.textContent('#rich b'), 'bold');
    assert.equal(await page.textContent('#status'), 'ok');
    server.broadcast('data', { pi: 0 });
    await page.waitForFunction(
      () => document.querySelector('span[data-action=pi]')?.textContent === '0',
    );
    assert.equal(
      await page.evaluate(() => (window as unknown as { __xss?: number }).__xss),
      undefined,
    );
  });

  test('TextInput: sends on change (and on keyup with data-keyup), shows the server value', async () => {
    await page.fill('#greeting', 'hello');
    await page.focus('#other'); // blur → change
    assert.equal((await server.takeAction('greeting')).message.load, 'hello');
    await page.focus('#search');
    await page.keyboard.type('ab');
    const typed = await server.takeAction('search');
    assert.equal(typed.message.load, 'a');
    assert.equal(typed.message.concurrency, undefined, 'a text input asks for nothing');
    assert.equal((await server.takeAction('search')).message.load, 'ab');
    server.broadcast('data', { greeting: 'from server' });
    await page.waitForFunction(
      () => (document.querySelector('#greeting') as HTMLInputElement).value === 'from server',
    );
  });

  test('Slider: shows server values in its label and sends its value on change', async () => {
    server.broadcast('data', { samples: 5000 });
    await page.waitForFunction(
      () => (document.querySelector('#samples') as HTMLInputElement).value === '5000',
    );
    assert.equal(await page.textContent('label[for=samples]'), 'Samples: 5000');
    await page.focus('#samples');
    await page.keyboard.press('End'); // to the maximum, as a user would
    const moved = await server.takeAction('samples');
    assert.equal(moved.message.load, 10000);
    // a slider asks for a latest call: it answers while a long action runs
    assert.equal(moved.raw, '{"signal":"samples","load":10000,"concurrency":"latest"}');
    assert.equal(await page.textContent('label[for=samples]'), 'Samples: 10000');

    // the hooks: server values are twice the slider positions, the label formats them
    await page.evaluate(`(() => {
      const slider = document.querySelector('#samples').databenchUI;
      slider.valueToSlider = (value) => value / 2;
      slider.sliderToValue = (position) => position * 2;
      slider.formatFn = (value) => value + ' draws';
    })()`);
    server.broadcast('data', { samples: 4000 });
    await page.waitForFunction(
      () => (document.querySelector('#samples') as HTMLInputElement).value === '2000',
    );
    assert.equal(await page.textContent('label[for=samples]'), 'Samples: 4000 draws');
    await page.focus('#samples');
    await page.keyboard.press('Home');
    assert.equal((await server.takeAction('samples')).message.load, 200);
    assert.equal(await page.textContent('label[for=samples]'), 'Samples: 200 draws');
  });

  test('Image, Checkbox, Select, Progress', async () => {
    server.broadcast('plot', RED_PIXEL);
    await page.waitForFunction(
      () => (document.querySelector('#plot') as HTMLImageElement).naturalWidth === 1,
    );

    await page.click('#verbose');
    assert.equal((await server.takeAction('verbose')).message.load, true);
    server.broadcast('data', { verbose: false });
    await page.waitForFunction(
      () => !(document.querySelector('#verbose') as HTMLInputElement).checked,
    );

    await page.selectOption('#method', 'grid');
    assert.equal((await server.takeAction('method')).message.load, 'grid');
    server.broadcast('data', { method: 'mc' });
    await page.waitForFunction(
      () => (document.querySelector('#method') as HTMLSelectElement).value === 'mc',
    );

    server.broadcast('data', { done: 0.5 });
    await page.waitForFunction(
      () => (document.querySelector('#done') as HTMLProgressElement).value === 0.5,
    );
    server.broadcast('data', { done: null });
    await page.waitForFunction(() => !document.querySelector('#done')?.hasAttribute('value'));
  });

  test('Log: backend and frontend lines, bounded', async () => {
    server.broadcast('log', 'hello log');
    await page.waitForFunction(() =>
      document.querySelector('#log')?.textContent?.includes('backend: hello log'),
    );
    await page.evaluate(() =>
      (window as unknown as { databench: { emit(a: string, m: unknown): void } }).databench.emit(
        'log',
        'from page',
      ),
    );
    await page.waitForFunction(() =>
      document.querySelector('#log')?.textContent?.includes('frontend: from page'),
    );
    assert.equal((await server.takeAction('log')).message.load, 'from page');
    for (let i = 0; i < 30; i++) server.broadcast('log', `line ${i}`);
    await page.waitForFunction(() =>
      document.querySelector('#log')?.textContent?.includes('line 29'),
    );
    const lines = (await page.textContent('#log'))?.split('\n') ?? [];
    assert.equal(lines.length, 20);
    assert.equal(lines[0], ' backend: line 10');
    await shot('widgets');
  });

  test('StatusLog: shows the lost connection; the page reconnects with the same analysis id', async () => {
    const id = await page.evaluate(
      () => (window as unknown as { databench: { analysisId: string } }).databench.analysisId,
    );
    assert.equal(id, 'analysis-1');
    await server.close();
    await page.waitForSelector('#databench-alerts .alert');
    assert.match((await page.textContent('#databench-alerts')) ?? '', /Connection lost/);
    await shot('connection-lost');
    server = await startServer();
    const hello = await server.takeConnect();
    assert.equal(hello.message.analysisId, id);
    await page.waitForFunction(
      () => document.querySelector('#databench-alerts')?.children.length === 0,
    );
    server.broadcast('data', { pi: 3.1 });
    await page.waitForFunction(
      () => document.querySelector('span[data-action=pi]')?.textContent === '3.1',
    );
  });

  test('a new analyses_version reloads the page; the reloaded page resumes its analysis id', async () => {
    const id = await page.evaluate(
      () => (window as unknown as { databench: { analysisId: string } }).databench.analysisId,
    );
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    await server.close();
    server = await startServer('2');
    const isResume = (r: { message: { kind: string; analysisId?: string | null } }): boolean =>
      r.message.kind === 'connect' && r.message.analysisId === id;
    // the reconnect that learns of the new version, then the reloaded page:
    // its tab kept the id (sessionStorage), so it resumes instead of starting anew
    await server.take('the reconnect', isResume);
    await server.take('__connect of the reloaded page', isResume);
    await page.waitForFunction(
      () => (window as unknown as { marker?: number }).marker === undefined,
    );
    assert.equal(
      await page.evaluate(() => sessionStorage.getItem('databench:/page/ws')),
      JSON.stringify({ id, open: true }),
      'kept per tab and analysis, marked open while the page shows',
    );
    assert.doesNotMatch(page.url(), /analysis/, 'the id is not in the address');
    assert.deepEqual(pageErrors, []);
  });
});
