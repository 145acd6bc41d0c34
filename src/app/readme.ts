import type MarkdownIt from 'markdown-it';
import type { Token } from 'markdown-it';
import type sanitizeHtml from 'sanitize-html';

/**
 * markdown-it and what it imports (entities, linkify-it, punycode: about
 * 0.5 MB of source) load with the first markdown README: a folder without
 * one never holds them.
 */
let markdown: Promise<InstanceType<typeof MarkdownIt>> | undefined;

/**
 * What a README's HTML may keep, as GitHub does: formatting tags with their
 * `class`, links and images; scripts, styles, event handlers, forms and
 * `javascript:` URLs go.
 */
function readmeHtmlOptions(defaults: string[]): sanitizeHtml.IOptions {
  return {
    allowedTags: [
      ...defaults,
      'img',
      'details',
      'summary',
      'kbd',
      'sup',
      'sub',
      'ins',
      'del',
      's',
      'picture',
      'source',
    ],
    allowedAttributes: {
      '*': ['class', 'title', 'align', 'id', 'lang', 'dir'],
      a: ['href', 'name', 'target', 'rel'],
      img: ['src', 'srcset', 'alt', 'width', 'height', 'loading'],
      source: ['srcset', 'media', 'type'],
      td: ['colspan', 'rowspan'],
      th: ['colspan', 'rowspan'],
      ol: ['start'],
      details: ['open'],
    },
    allowedSchemes: ['http', 'https', 'mailto'],
    allowedSchemesByTag: { img: ['http', 'https', 'data'] },
    allowProtocolRelative: true,
  };
}

let sanitizer: Promise<(html: string) => string> | undefined;

/** Whether markdown-it's tokens pass raw HTML through (an HTML block or inline tag). */
function hasRawHtml(tokens: readonly Token[]): boolean {
  return tokens.some(
    (t) =>
      t.type === 'html_block' ||
      t.type === 'html_inline' ||
      (t.children !== null && hasRawHtml(t.children)),
  );
}

/**
 * Render a README (markdown; its raw HTML passes through a sanitizer) to
 * HTML. A README without raw HTML (a `<` in a code span is escaped text) is
 * markdown-it's own escaped output, and the sanitizer (a large module: ~35
 * ms and ~5 MB at start) is loaded only for READMEs that need it.
 */
export async function renderMarkdown(text: string): Promise<string> {
  markdown ??= import('markdown-it').then(
    ({ default: MarkdownIt }) => new MarkdownIt({ html: true, linkify: true }),
  );
  const md = await markdown;
  const env = {};
  const tokens = md.parse(text, env);
  const html = md.renderer.render(tokens, md.options, env);
  if (!hasRawHtml(tokens)) return html;
  sanitizer ??= import('sanitize-html').then(({ default: sanitize }) => {
    const options = readmeHtmlOptions(sanitize.defaults.allowedTags);
    return (dirty: string) => sanitize(dirty, options);
  });
  return (await sanitizer)(html);
}

/** Render a README file: markdown (`.md`) as HTML, reStructuredText (`.rst`) as preformatted text. */
export async function renderReadme(name: string, text: string): Promise<string> {
  if (/\.rst$/i.test(name)) {
    const escaped = text.replace(/[&<>]/g, (c) =>
      c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;',
    );
    return `<pre class="db-readme-rst">${escaped}</pre>`;
  }
  return renderMarkdown(text);
}

/** The README of a folder: README.md first, else README.rst (any case, as 0.7 found them). */
export function pickReadme(names: readonly string[]): string | undefined {
  return names.find((n) => /^readme\.md$/i.test(n)) ?? names.find((n) => /^readme\.rst$/i.test(n));
}
