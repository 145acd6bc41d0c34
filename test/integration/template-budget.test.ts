// Page templates over large data, against a real server (the CLI, in its own
// process: a render that holds its thread must not hold the test's): a
// render that would loop for hours, build gigabytes or rescan its own text
// from each character fails with a 500 and a log line naming the template,
// in bounded time, and the server serves the next request.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RENDER_LIMITS } from '../../src/pages/render-budget.ts';
import { databench, serving, within, type CliRun } from '../helpers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
/** What a request may take: a render past its budget fails in a fraction of it (it took minutes). */
const CAP_MS = 10_000;

/** A folder whose analysis `big` has a 4 KB README (the page's `readme`) and these views. */
async function folder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'databench-budget-'));
  await mkdir(join(dir, 'node_modules'));
  await symlink(ROOT, join(dir, 'node_modules', 'databench-ts'), 'dir');
  await mkdir(join(dir, 'big'));
  await writeFile(join(dir, 'index.yaml'), 'analyses:\n  - name: big\n');
  await writeFile(
    join(dir, 'big', 'analysis.ts'),
    "import { Analysis } from 'databench-ts';\nexport class Big extends Analysis {}\n",
  );
  await writeFile(join(dir, 'big', 'README.md'), 'word '.repeat(800) + '\n');
  await writeFile(join(dir, 'big', 'index.html'), '{% if True %}fine{% end %}\n');
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

/** The CLI serving `dir` (not in development: pages say the details are in the log). */
async function serve(dir: string): Promise<{ run: CliRun; url: string }> {
  const run = databench(['--port', '0', '--analyses', dir, '--no-watch'], { cwd: dir });
  return { run, url: await serving(run) };
}

async function stop(run: CliRun | undefined): Promise<void> {
  if (!run || run.child.exitCode !== null) return;
  run.child.kill('SIGKILL');
  await run.exited;
}

async function get(url: string, path: string): Promise<[number, string]> {
  const res = await within(
    fetch(url + path, { signal: AbortSignal.timeout(CAP_MS) }),
    CAP_MS,
    `GET ${path}`,
  );
  return [res.status, await res.text()];
}

/** The log's error lines that mention `text` (with the lines that continue them). */
function logged(run: CliRun, text: string): string[] {
  return run.stderr.split(/\n(?=\S)/).filter((line) => / ERROR /.test(line) && line.includes(text));
}

describe('page templates get a budget per render', () => {
  let server: { run: CliRun; url: string };
  let dir: string;
  before(async () => {
    dir = await folder({
      // 4000³ steps of a comprehension that builds nothing
      'big/comprehension.html':
        '{% if [1 for a in readme if [1 for b in readme if [1 for c in readme if False]]] %}x{% end %}\n',
      // nested loops over the page's data: 4000³ turns
      'big/loops.html':
        '{% for a in readme %}{% for b in readme %}{% for c in readme %}{% end %}{% end %}{% end %}\n',
      // the README printed for each of its characters, three times (the title
      // is "big"): 48 million characters, in a few thousand steps
      'big/output.html':
        '{% for a in title %}{% for b in readme %}{{ readme }}{% end %}{% end %}\n',
      // a {% set %} of 16 million items
      'big/memory.html':
        '{% set big = [[1 for a in readme] for b in readme] %}{% if big %}1{% end %}\n',
      // Nunjucks: range() makes its whole list before the loop starts
      'big/range.html':
        '{% for i in range(100000000) %}{% for j in range(100000000) %}x{% endfor %}{% endfor %}\n',
    });
    server = await serve(dir);
  });
  after(async () => {
    await stop(server?.run);
    await rm(dir, { recursive: true, force: true });
  });

  for (const [view, what] of [
    ['comprehension', 'steps'],
    ['loops', 'steps'],
    ['output', 'characters'],
    ['memory', 'steps'],
    ['range', 'steps'],
  ] as const) {
    test(`${view}: a 500 and a log line, and the server serves on`, async () => {
      const [status, html] = await get(server.url, `/big/${view}.html`);
      assert.equal(status, 500);
      assert.match(html, /A page template failed; the details are in the server log\./);
      const lines = logged(server.run, `/big/${view}.html`);
      assert.equal(lines.length, 1, server.run.stderr);
      assert.match(
        lines[0] ?? '',
        /TemplateBudgetError: the page (took more than \d+ steps|built more than \d+ characters)/,
      );
      assert.match(lines[0] ?? '', what === 'steps' ? /steps/ : /characters/);
      assert.deepEqual((await get(server.url, '/big/'))[0], 200);
    });
  }
});

describe('a render past the time limit is stopped, whatever it does (the guard of last resort)', () => {
  // one step, no output: a regular expression that backtracks for ages
  const SLOW = '{{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!" | replace(r/^(a+)+$/, "x") }}\n';
  let server: { run: CliRun; url: string };
  let dir: string;
  before(async () => {
    dir = await folder({ 'big/again.html': 'fast\n{{ title }}\n', 'big/first.html': SLOW });
    server = await serve(dir);
  });
  after(async () => {
    await stop(server?.run);
    await rm(dir, { recursive: true, force: true });
  });

  const limit = (view: string): string | undefined =>
    /took longer than (\d+) ms to render/.exec(
      logged(server.run, `/big/${view}.html`)[0] ?? '',
    )?.[1];

  test(`a template rendered before gets ${RENDER_LIMITS.timeMs} ms; its first render, which compiles, gets 4 times that`, async () => {
    assert.deepEqual(await get(server.url, '/big/again.html'), [200, 'fast\nbig\n']);
    // the same template, now slow: it has rendered once, so the plain limit
    await writeFile(join(dir, 'big', 'again.html'), SLOW);
    assert.equal((await get(server.url, '/big/again.html'))[0], 500);
    assert.equal(limit('again'), String(RENDER_LIMITS.timeMs), server.run.stderr);
    assert.equal((await get(server.url, '/big/first.html'))[0], 500);
    assert.equal(limit('first'), String(RENDER_LIMITS.timeMs * 4), server.run.stderr);
    assert.deepEqual((await get(server.url, '/big/'))[0], 200, 'the server serves on');
  });
});

describe('the translation of a Tornado template reads it in linear time', () => {
  let server: { run: CliRun; url: string };
  let dir: string;
  const run = 300_000;
  before(async () => {
    dir = await folder({
      // a run of whitespace without a newline, in a file Tornado collapses (.html)
      'big/spaces.html': '{% if True %}a{% end %}' + '\u00a0'.repeat(run) + 'b\n',
      'big/for.html': '{% for x' + ' '.repeat(run) + 'y %}{% end %}\n',
      'big/set.html': '{% set x' + ' '.repeat(run) + 'y %}{% if x %}{% end %}\n',
    });
    server = await serve(dir);
  });
  after(async () => {
    await stop(server?.run);
    await rm(dir, { recursive: true, force: true });
  });

  test('a long run of whitespace without a newline renders as Tornado keeps it', async () => {
    const [status, html] = await get(server.url, '/big/spaces.html');
    assert.equal(status, 200);
    assert.equal(html, 'a' + '\u00a0'.repeat(run) + 'b\n');
  });

  test('a {% for %} and a {% set %} with a long run of spaces are syntax errors, found at once', async () => {
    for (const [view, message] of [
      ['for', /\{% for %\} needs "targets in iterable"/],
      ['set', /\{% set %\} needs "name = expression"/],
    ] as const) {
      const [status] = await get(server.url, `/big/${view}.html`);
      assert.equal(status, 500);
      const lines = logged(server.run, `big/${view}.html:1:`);
      assert.equal(lines.length, 1, server.run.stderr);
      assert.match(lines[0] ?? '', message);
      // the message quotes the tag cut short, not 300,000 spaces
      assert.ok((lines[0] ?? '').length < 1000, `a line of ${(lines[0] ?? '').length} characters`);
    }
  });
});

describe("an error page's template over the request's path", () => {
  let server: { run: CliRun; url: string };
  let dir: string;
  before(async () => {
    dir = await folder({
      // the folder's own error page, which loops over the message (it holds the path asked for)
      'error.html': '{% for a in message %}{% for b in message %}{{ message }}{% end %}{% end %}\n',
    });
    server = await serve(dir);
  });
  after(async () => {
    await stop(server?.run);
    await rm(dir, { recursive: true, force: true });
  });

  test('a long path gets its 404 as a plain page, and the failure is logged', async () => {
    const path = '/' + 'x'.repeat(8000);
    const [status, html] = await get(server.url, path);
    assert.equal(status, 404);
    assert.match(html, /<h1>404: not found<\/h1>/);
    assert.ok(
      logged(server.run, "the error page's template failed").some((l) =>
        /TemplateBudgetError/.test(l),
      ),
      server.run.stderr,
    );
    assert.equal((await get(server.url, '/big/'))[0], 200);
  });
});
