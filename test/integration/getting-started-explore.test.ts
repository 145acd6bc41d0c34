// The "Data in, data out" analysis of docs/getting-started.md, as written
// there: its analysis.ts and index.html served, a CSV uploaded through the
// client library, the rows, the columns and the mean the page would show.
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { Connection } from '../../src/client/connection.ts';
import type { WebSocketConstructor } from '../../src/client/websocket.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { within, wsUrlOf } from '../helpers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const DIR = join(ROOT, 'test-artifacts', `explore-${process.pid}`);
let server: DatabenchServer;

before(async () => {
  const doc = await readFile(join(ROOT, 'docs/getting-started.md'), 'utf8');
  const start = doc.indexOf('## Data in, data out');
  const section = doc.slice(start, doc.indexOf('\n## ', start + 1));
  const ts = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  const html = /```html\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(start >= 0 && ts && html, 'the section has the analysis and its page');
  await mkdir(join(DIR, 'explore'), { recursive: true });
  await writeFile(join(DIR, 'index.yaml'), 'analyses:\n  - name: explore\n');
  await writeFile(join(DIR, 'explore', 'analysis.ts'), ts);
  await writeFile(join(DIR, 'explore', 'index.html'), html);
  server = await createServer({ port: 0, analyses: DIR, logger: createMemoryLogger() });
});

after(async () => {
  await server?.close();
  await rm(DIR, { recursive: true, force: true });
});

test('the getting-started CSV analysis: rows, columns and the mean of the chosen column', async () => {
  const page = await fetch(`${server.url}/explore/`);
  const text = await page.text();
  assert.equal(page.status, 200);
  assert.match(text, /data-options="data:columns"/);
  const d = new Connection(wsUrlOf(server, 'explore'), '', null, {
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    console: { log: () => undefined, warn: () => undefined, error: () => undefined },
  });
  await within(new Promise((resolve) => d.connect(resolve)), 10_000, 'the connection');
  const data: Record<string, unknown> = {};
  d.on({ data: /.*/ }, (value: unknown, key: string) => (data[key] = value));
  const mean = d.once({ data: 'mean' }, { timeoutMs: 10_000 });
  const csv = 'city,temperature,rain\nBern,12.5,3\nOslo,4.5,\nLima,19,1\n';
  await d.upload('load_csv', new File([csv], 'weather.csv', { type: 'text/csv' })).done;
  assert.equal(await mean, 'not numbers', 'the first column, city, is text');
  assert.equal(data['file'], 'weather.csv: 3 rows');
  assert.deepEqual(data['columns'], ['city', 'temperature', 'rain']);
  assert.equal(data['column'], 'city');
  assert.deepEqual((data['rows'] as unknown[])[1], { city: 'Oslo', temperature: 4.5, rain: '' });
  const next = d.once({ data: 'mean' }, { timeoutMs: 10_000 });
  d.emit('column', 'temperature');
  assert.equal(await next, '12.000');
  d.disconnect();
});
