import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderMarkdown } from './readme.ts';

test('README raw HTML is sanitized wherever markdown puts it: a block, a paragraph, a list, a quote', async () => {
  const cases = [
    '<script>alert(1)</script>\n\ntext',
    'a paragraph <img src="x.png" onerror="alert(1)"> with an image',
    '- an item <a href="javascript:alert(1)">link</a>',
    '> a quote <span onclick="alert(1)">here</span>',
    '*emphasis <iframe src="https://example.com"></iframe>*',
  ];
  for (const text of cases) {
    const html = await renderMarkdown(text);
    assert.doesNotMatch(html, /<script|onerror|onclick|javascript:|<iframe/i, `${text} → ${html}`);
  }
  assert.match(
    await renderMarkdown('a <img src="x.png" alt="kept"> b'),
    /<img src="x.png" alt="kept" \/>/,
  );
});

test('a README whose `<` are only in code or autolinks is markdown-it’s own escaped output', async () => {
  assert.equal(
    await renderMarkdown('`<button data-action="count">` sends it\n\n```html\n<b>x</b>\n```\n'),
    '<p><code>&lt;button data-action=&quot;count&quot;&gt;</code> sends it</p>\n' +
      '<pre><code class="language-html">&lt;b&gt;x&lt;/b&gt;\n</code></pre>\n',
  );
  assert.equal(
    await renderMarkdown('<https://example.com> and <javascript:alert(1)>'),
    '<p><a href="https://example.com">https://example.com</a> and &lt;javascript:alert(1)&gt;</p>\n',
  );
});
