import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { reloadWaiter, TestClient } from '../helpers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
// inside the package, so that the analyses' `import 'databench-ts'` resolves to this checkout
const DIR = join(ROOT, 'test-artifacts', `watch-${process.pid}`);

const source = (version: string): string => `import { Analysis } from 'databench-ts';

export class Hello extends Analysis {
  on_which() {
    return this.emit('which', '${version}');
  }
}
`;

let server: DatabenchServer;
const logger = createMemoryLogger();
const reloads = reloadWaiter();
const nextReload = reloads.next;

before(async () => {
  await mkdir(join(DIR, 'hello'), { recursive: true });
  await mkdir(join(DIR, 'other'), { recursive: true });
  await writeFile(
    join(DIR, 'index.yaml'),
    '# watched\nanalyses:\n  - name: hello\n  - name: other\n',
  );
  await writeFile(join(DIR, 'hello', 'analysis.ts'), source('v1'));
  await writeFile(
    join(DIR, 'hello', 'index.html'),
    '<!doctype html><body><p>hello page</p></body>',
  );
  await writeFile(join(DIR, 'other', 'analysis.ts'), source('other').replace('Hello', 'Other'));
  await writeFile(
    join(DIR, 'other', 'index.html'),
    '<!doctype html><body><p>other page</p></body>',
  );
  server = await createServer({
    port: 0,
    analyses: DIR,
    watch: true,
    logger,
    onReload: reloads.onReload,
  });
});

after(async () => {
  await server.close();
  await rm(DIR, { recursive: true, force: true });
});

async function which(
  name: string,
): Promise<{ client: TestClient; value: unknown; version: string }> {
  const { client, reply } = await TestClient.connect(
    server.url.replace('http', 'ws') + `/${name}/ws`,
  );
  client.send('which');
  return {
    client,
    value: (await client.next('which')).load,
    version: reply['analyses_version'] ?? '',
  };
}

test('an edit becomes live; open pages of that analysis close with 1012, others stay', async () => {
  const first = await which('hello');
  assert.equal(first.value, 'v1');
  const other = await which('other');

  const reload = nextReload();
  await writeFile(join(DIR, 'hello', 'analysis.ts'), source('v2'));
  await reload;
  assert.equal((await first.client.closed()).code, 1012);
  const second = await which('hello');
  assert.equal(second.value, 'v2');
  assert.notEqual(second.version, first.version, 'analyses_version changed');
  assert.equal(
    other.client.ws.readyState,
    other.client.ws.OPEN,
    'the other analysis kept its session',
  );
  other.client.send('which');
  assert.equal((await other.client.next('which')).load, 'other');
  for (const c of [second.client, other.client]) c.close();
});

test('a broken edit keeps the last good version and shows the error until fixed', async () => {
  const open = await which('hello');
  const reload = nextReload();
  await writeFile(
    join(DIR, 'hello', 'analysis.ts'),
    source('v3').replace('on_which() {', 'on_which() { const x = ;'),
  );
  await reload;
  assert.ok(
    logger.lines.some(
      ([lvl, line]) => lvl === 'error' && /hello[/\\]analysis\.ts:4:\d+/.test(line),
    ),
    'the log names the file and line: ' +
      JSON.stringify(logger.lines.filter(([l]) => l === 'error')),
  );
  // the open page is told at once, over its socket, with the code frame
  const told = await open.client.next('__load_error');
  assert.deepEqual(
    { ...(told.load as object), frame: undefined },
    {
      analysis: 'hello',
      message: 'Unexpected ";"',
      file: 'hello/analysis.ts',
      line: 4,
      column: 26,
      frame: undefined,
      stale: true,
    },
  );
  assert.match(String((told.load as { frame: string }).frame), /> 4 \|.*const x = ;\n\s+\|\s+\^/);
  const page = await (await fetch(server.url + '/hello/')).text();
  assert.match(page, /<script type="application\/json" id="databench-load-error">/);
  assert.match(page, /"file":"hello\/analysis\.ts","line":4/);
  assert.match(page, /hello page/, 'the page still serves');
  const still = await which('hello');
  assert.equal(still.value, 'v2', 'the last good version serves new sessions');

  const fixed = nextReload();
  await writeFile(join(DIR, 'hello', 'analysis.ts'), source('v4'));
  await fixed;
  assert.equal((await still.client.closed()).code, 1012);
  assert.equal((await open.client.closed()).code, 1012, 'the fix reloads the open page');
  const now = await which('hello');
  assert.equal(now.value, 'v4');
  const clean = await (await fetch(server.url + '/hello/')).text();
  assert.doesNotMatch(clean, /databench-load-error/);
  now.client.close();
});

test("an edit of an analysis's own helper module reloads it too", async () => {
  const withHelper = `import { Analysis } from 'databench-ts';
import { greeting } from './greeting.js';

export class Hello extends Analysis {
  on_which() {
    return this.emit('which', greeting);
  }
}
`;
  // two files: the watcher may see them in one burst or in two
  let reload = nextReload();
  await writeFile(join(DIR, 'hello', 'greeting.ts'), "export const greeting = 'hi';\n");
  await writeFile(join(DIR, 'hello', 'analysis.ts'), withHelper);
  await reload;
  let before = await which('hello');
  for (const deadline = Date.now() + 10_000; before.value !== 'hi';) {
    assert.ok(Date.now() < deadline, `the helper edit did not go live: ${String(before.value)}`);
    before.client.close();
    await new Promise((r) => setTimeout(r, 50));
    before = await which('hello').catch(() => before);
  }
  reload = nextReload();
  await writeFile(join(DIR, 'hello', 'greeting.ts'), "export const greeting = 'hello again';\n");
  await reload;
  assert.equal((await before.client.closed()).code, 1012, 'a helper edit restarts the page');
  const after = await which('hello');
  assert.equal(after.value, 'hello again');
  after.client.close();
});

test('a shared module in a `watch` glob outside the analysis folder reloads the analyses', async () => {
  await mkdir(join(DIR, 'lib'), { recursive: true });
  await writeFile(join(DIR, 'lib', 'shared.ts'), "export const shared = 'one';\n");
  let reload = nextReload();
  await writeFile(
    join(DIR, 'hello', 'analysis.ts'),
    `import { Analysis } from 'databench-ts';
import { shared } from '../lib/shared.js';

export class Hello extends Analysis {
  on_which() {
    return this.emit('which', shared);
  }
}
`,
  );
  await reload;
  let first = await which('hello');
  for (const deadline = Date.now() + 10_000; first.value !== 'one';) {
    assert.ok(Date.now() < deadline, `not live: ${String(first.value)}`);
    first.client.close();
    await new Promise((r) => setTimeout(r, 50));
    first = await which('hello').catch(() => first);
  }
  reload = nextReload();
  await writeFile(join(DIR, 'lib', 'shared.ts'), "export const shared = 'two';\n");
  await reload;
  assert.equal((await first.client.closed()).code, 1012);
  const second = await which('hello');
  assert.equal(second.value, 'two');
  second.client.close();
});

test('a module that throws on import is reported with its file and line', async () => {
  const reload = nextReload();
  await writeFile(
    join(DIR, 'other', 'analysis.ts'),
    "import { Analysis } from 'databench-ts';\n\nthrow new Error('boom at import');\nexport class Other extends Analysis {}\n",
  );
  await reload;
  const page = await (await fetch(server.url + '/other/')).text();
  assert.match(page, /boom at import/);
  assert.match(page, /other[/\\]analysis\.ts:3:\d+/);
});

test('a README edit restarts open pages with a new analyses_version', async () => {
  const before = await which('hello');
  const reload = nextReload();
  await writeFile(join(DIR, 'hello', 'README.md'), '# Hello\n\nNew words.\n');
  await reload;
  assert.equal((await before.client.closed()).code, 1012);
  const after = await which('hello');
  assert.notEqual(after.version, before.version);
  after.client.close();
});

test('a write to static files or other data reloads nothing', async () => {
  const other = await which('other');
  const first = await which('hello');
  await mkdir(join(DIR, 'static'), { recursive: true });
  await mkdir(join(DIR, 'hello', 'static'), { recursive: true });
  const reload = nextReload();
  // none of these may reload: were one seen, a file outside every analysis
  // folder would import them all again and close `other` with 1012
  await writeFile(join(DIR, 'static', 'cache.txt'), `cache ${Date.now()}\n`);
  await writeFile(join(DIR, 'static', 'app.js'), 'export {};\n');
  await writeFile(join(DIR, 'hello', 'static', 'cache.txt'), 'cache\n');
  await writeFile(join(DIR, 'results.csv'), 'a,b\n1,2\n');
  // this one does, and only hello
  await writeFile(join(DIR, 'hello', 'analysis.ts'), source('v5'));
  const app = await reload;
  assert.equal((await first.client.closed()).code, 1012);
  other.client.send('which');
  assert.equal((await other.client.next('which')).load, 'other', 'the other page stayed open');
  assert.ok(app.entries.has('hello'));
  const line = logger.lines.filter(([, l]) => l.startsWith('reloaded after')).at(-1)?.[1] ?? '';
  assert.match(line, /changes to 1 file\(s\)/);
  other.client.close();
});
