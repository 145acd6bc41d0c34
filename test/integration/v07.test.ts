// A folder of analyses written the way databench 0.7 wrote them
// (test/fixtures/v07), and a user's base.html/analysis.html in Tornado syntax
// (test/fixtures/v07_overrides), served by the real server over real HTTP.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, makeFakeD3 } from '../helpers.ts';

const V07 = join(FIXTURES, 'v07');
const OVERRIDES = join(FIXTURES, 'v07_overrides');

async function get(server: DatabenchServer, path: string): Promise<[number, string, Headers]> {
  const res = await fetch(server.url + path);
  return [res.status, await res.text(), res.headers];
}

function between(html: string, id: string): string {
  const m = new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</`).exec(html);
  assert.ok(m, `the page has #${id}`);
  return m[1] ?? '';
}

describe('databench 0.7 pages (Tornado templates)', () => {
  let server: DatabenchServer;
  const logger = createMemoryLogger();
  before(async () => {
    await makeFakeD3();
    server = await createServer({ port: 0, analyses: V07, logger, development: true });
  });
  after(() => server.close());

  test('a 0.7 index.html override renders: meta_infos through a list comprehension, thumbnails, description_html', async () => {
    const [status, html] = await get(server, '/');
    assert.equal(status, 200);
    assert.match(html, /<h1 id="d-list-of-analyses">List of Analyses<\/h1>/);
    assert.match(html, /<a class="d-box" href="\/simplepi\/">/);
    assert.match(html, /src="\/simplepi\/thumbnail\.png"/);
    assert.match(html, /Simple π<span class="text-muted">: Calculating π the simple way\.<\/span>/);
    assert.ok(!html.includes('/badpage/'), 'show_in_index: false is filtered by the page itself');
    assert.match(html, /console\.log\('Databench v\d+\.\d+\.\d+, analyses v0\.7\.1'\)/);
    // the folder README, rendered into description_html
    assert.ok(html.includes('<i class="fa fa-fw fa-github"></i>'), 'inline HTML with its class');
    assert.ok(html.includes('run unchanged.<br />'), '<br /> is a line break, not text');
  });

  test('README raw HTML is sanitized: no scripts, event handlers or javascript: URLs', async () => {
    const [, html] = await get(server, '/');
    assert.ok(!html.includes('__readmeScript'), 'the <script> is gone');
    assert.ok(!html.includes('javascript:'), 'the javascript: URL is gone');
    assert.ok(!html.includes('onerror'), 'the event handler is gone');
    assert.match(html, /<a id="js-link">not a link<\/a>/);
    assert.match(html, /<img id="bad-img" src="\/_static\/logo.svg" alt="no handler" \/>/);
  });

  test('an analysis README with inline HTML renders it; a README.rst shows as preformatted text', async () => {
    const [, pi] = await get(server, '/simplepi/');
    assert.ok(pi.includes('<i class="fa fa-fw fa-github"></i>'));
    assert.ok(!pi.includes('&lt;i class'), 'not shown as literal text');
    const [, widgets] = await get(server, '/widgets/');
    assert.match(
      widgets,
      /<pre class="db-readme-rst">Widgets\n=======\n\nA README in reStructuredText[\s\S]*&lt;b&gt;never&lt;\/b&gt; as HTML\.\n<\/pre>/,
    );
  });

  test('the Tornado constructs render as Tornado rendered them', async () => {
    const [status, html] = await get(server, '/widgets/');
    assert.equal(status, 200);
    assert.deepEqual(
      [...html.matchAll(/<li data-i="(\d)">([^<]*)<\/li>/g)].map((m) => [m[1], m[2]]),
      [
        ['0', 'RED (first)'],
        ['1', 'GREEN (middle)'],
        ['2', 'BLUE (last)'],
      ],
      '{% set %}, {% for i, c in … %}, {% if/elif/else %}, subscripts',
    );
    assert.equal(
      between(html, 'escaped'),
      '&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;',
      '{{ }} escapes',
    );
    assert.match(html, /<p id="raw"><b>bold<\/b><\/p>/, '{% raw %} does not');
    assert.equal(between(html, 'vars'), 'Widgets | widgets | 0.7.1 | / | yes', "0.7's variables");
    assert.equal(between(html, 'python'), '[0, 2] default True None True', 'Python semantics');
    assert.equal(between(html, 'literal'), '{{ not an expression }}', '{{! prints {{');
    assert.ok(!html.includes('This comment spans lines'), '{# #} is dropped');
  });

  test('block layout as in 0.7: head after our standard tags, footer after our footer', async () => {
    const [, html] = await get(server, '/simplepi/');
    const at = (s: string): number => {
      const i = html.indexOf(s);
      assert.ok(i >= 0, `the page has ${s}`);
      return i;
    };
    assert.match(html, /<title>Simple π<\/title>/, 'the title stays when head is filled');
    assert.ok(at('/_static/databench.css') < at('/simplepi/static/analysis.css'));
    assert.ok(at('/simplepi/static/analysis.css') < at('</head>'));
    assert.ok(at('<span id="pi">') < at('<footer class="db-footer">'));
    assert.ok(at('<footer class="db-footer">') < at('/simplepi/analysis.js'));
    assert.ok(at('/simplepi/analysis.js') < at('</body>'));
    assert.ok(at('<pre id="log"') > at('<span id="pi">'), 'log inside content, after analysis');
  });

  test('the static map wins over /static/; the built-in route serves the rest', async () => {
    const [status, body, headers] = await get(server, '/static/d3.min.js');
    assert.equal(status, 200);
    assert.match(body, /fixture-d3/);
    assert.match(String(headers.get('content-type')), /javascript/);
    const [otherStatus, other] = await get(server, '/static/other.txt');
    assert.equal(otherStatus, 200);
    assert.match(other, /built-in \/static\/ route/);
    const [missing] = await get(server, '/static/d3.js');
    assert.equal(missing, 404);
  });

  test('/_static/favicon.ico is an icon', async () => {
    const res = await fetch(server.url + '/_static/favicon.ico');
    assert.equal(res.status, 200);
    assert.match(String(res.headers.get('content-type')), /icon/);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 4)], [0, 0, 1, 0], 'an ICO header');
  });

  test('in development a template error shows file, line and message on the page', async () => {
    const [status, html] = await get(server, '/badpage/');
    assert.equal(status, 500);
    assert.ok(!html.includes('internal server error'));
    assert.match(
      html,
      /badpage\/index\.html:4: NameError: name &#39;not_defined_anywhere&#39; is not defined/,
    );
    const [, syntax] = await get(server, '/badpage/syntax.html');
    assert.match(
      syntax,
      /badpage\/syntax\.html:2: \{% block %\} opened on line 2 has no \{% end %\}/,
    );
    const [, expr] = await get(server, '/badpage/exprsyntax.html');
    assert.match(expr, /badpage\/exprsyntax\.html:4: expression: unexpected token/);
    assert.ok(
      logger.lines.some(
        ([level, line]) => level === 'error' && /index\.html:4: NameError/.test(line),
      ),
      'and in the log',
    );
  });

  test('other analyses keep serving next to a broken page', async () => {
    const [status] = await get(server, '/widgets/');
    assert.equal(status, 200);
  });
});

describe('template errors outside development', () => {
  let server: DatabenchServer;
  const logger = createMemoryLogger();
  before(async () => {
    server = await createServer({ port: 0, analyses: V07, logger, development: false });
  });
  after(() => server.close());

  test('the page says where the details are; the log has them', async () => {
    const [status, html] = await get(server, '/badpage/');
    assert.equal(status, 500);
    assert.match(html, /A page template failed; the details are in the server log\./);
    assert.ok(!html.includes('not_defined_anywhere'), 'no details on the page');
    assert.ok(!html.includes(V07), 'no paths on the page');
    assert.ok(logger.lines.some(([, line]) => /index\.html:4: NameError/.test(line)));
  });
});

describe("a user's base.html and analysis.html in Tornado syntax", () => {
  let server: DatabenchServer;
  before(async () => {
    server = await createServer({ port: 0, analyses: OVERRIDES, logLevel: 'silent' });
  });
  after(() => server.close());

  test('a Tornado page extends the Tornado analysis.html and base.html', async () => {
    const [status, html] = await get(server, '/hello/');
    assert.equal(status, 200);
    assert.match(html, /<title>Hello override \(user base\)<\/title>/);
    assert.match(html, /<a class="d-home-link" href="\/">Home<\/a>/);
    assert.match(html, /<p id="hello">Hello from a Tornado page in hello\.<\/p>/);
    assert.match(html, /<footer id="user-footer">/);
    assert.match(html, /analyses v2\.0\.0/);
  });

  test('a Nunjucks page extends the Tornado analysis.html', async () => {
    const [status, html] = await get(server, '/njpage/');
    assert.equal(status, 200);
    assert.match(
      html,
      /<p id="nj">A Nunjucks page on a Tornado analysis\.html: NUNJUCKS PAGE<\/p>/,
    );
    assert.match(html, /<title>Nunjucks page \(user base\)<\/title>/);
  });

  test("our Nunjucks index extends the user's Tornado base.html", async () => {
    const [status, html] = await get(server, '/');
    assert.equal(status, 200);
    assert.match(html, /<title>Overrides \(user base\)<\/title>/);
    assert.match(html, /<a href="\/hello\/">Hello override<\/a>/);
  });
});
