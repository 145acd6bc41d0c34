/**
 * Which pages can run under a Content-Security-Policy without
 * `'unsafe-inline'`: those whose template files have no script the policy
 * would block. A page's own inline scripts carry the render's nonce
 * (`<script nonce="{{ csp_nonce }}">`, as the package's templates and
 * analyses do); an inline script without it, an event handler attribute
 * (`onclick="…"`) or a `javascript:` URL (as databench 0.7 pages have) needs
 * the permissive policy. The files are read as their authors wrote them,
 * never the rendered page, so text that reaches a page from data cannot
 * change its policy.
 */

/** A script `type` that runs as JavaScript (any other, `application/json`, is data). */
const SCRIPT_TYPE =
  /^\s*(?:module|(?:text|application)\/(?:x-)?(?:java|ecma)script|text\/jsx?)\s*$/i;
/** A URL that leaves the page's origin (a scheme, `//host`), or one a template fills in. */
const OTHER_ORIGIN = /^\s*(?:[a-z][a-z0-9+.-]*:|[/\\]{2}|\{)/i;
const JAVASCRIPT_URL = /^\s*javascript:/i;
/** Attributes of a start tag: name, and value (quoted or not) when it has one. */
const ATTRIBUTE = /\s([^\s"'=<>/]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?/g;

/** The attributes of one start tag's text (`<script src="x" defer`), names in lower case. */
function attributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of tag.matchAll(ATTRIBUTE)) {
    const name = (m[1] ?? '').toLowerCase();
    const raw = m[2] ?? '';
    out.set(name, /^["']/.test(raw) ? raw.slice(1, -1) : raw);
  }
  return out;
}

/** Whether the script of this start tag runs without the nonce under a policy of `'self'` scripts. */
function scriptAllowed(attrs: Map<string, string>): boolean {
  if (attrs.has('nonce')) return true;
  const type = attrs.get('type');
  if (type !== undefined && type !== '' && !SCRIPT_TYPE.test(type)) return true;
  const src = attrs.get('src');
  return src !== undefined && src !== '' && !OTHER_ORIGIN.test(src);
}

/**
 * The source without its template comments (`{# … #}`: Nunjucks and
 * Tornado drop them, so a `<script>` named in one is no script). Linear: an
 * unclosed comment ends the stripping.
 */
function withoutComments(source: string): string {
  let open = source.indexOf('{#');
  if (open < 0) return source;
  let out = '';
  let at = 0;
  while (open >= 0) {
    const close = source.indexOf('#}', open + 2);
    if (close < 0) break;
    out += source.slice(at, open);
    at = close + 2;
    open = source.indexOf('{#', at);
  }
  return out + source.slice(at);
}

/**
 * Whether a template (or plain HTML) source has a script that runs only
 * with `'unsafe-inline'` (or from another origin): an executable `<script>`
 * with neither the nonce nor a same-origin `src`, an `on…` event handler
 * attribute, a `javascript:` URL. Linear in the source's length.
 */
export function needsInlineScripts(source: string): boolean {
  source = withoutComments(source);
  const lower = source.toLowerCase();
  let at = 0;
  for (;;) {
    const open = source.indexOf('<', at);
    if (open < 0) return false;
    const first = source.charCodeAt(open + 1);
    // a start tag begins with a letter: `</x`, `<!--`, `< ` are not
    if (!((first >= 65 && first <= 90) || (first >= 97 && first <= 122))) {
      at = open + 1;
      continue;
    }
    const close = source.indexOf('>', open);
    if (close < 0) return false;
    const tag = source.slice(open, close);
    const attrs = attributes(tag);
    for (const [name, value] of attrs) {
      if (/^on[a-z]/.test(name) || JAVASCRIPT_URL.test(value)) return true;
    }
    at = close + 1;
    if (/^<script\b/i.test(tag)) {
      if (!scriptAllowed(attrs)) return true;
      // a script's text is not markup
      const end = lower.indexOf('</script', at);
      if (end < 0) return false;
      at = end;
    }
  }
}

/**
 * The templates a template source extends, includes or imports, by name;
 * undefined for a name that is not a string literal (it could be any).
 */
export function templateReferences(source: string): Array<string | undefined> {
  const out: Array<string | undefined> = [];
  for (const m of source.matchAll(
    /\{%-?\s*(?:extends|include|import|from)\s+("[^"]*"|'[^']*'|[^\s%]+)/g,
  )) {
    const ref = m[1] ?? '';
    out.push(/^["']/.test(ref) ? ref.slice(1, -1) : undefined);
  }
  return out;
}
