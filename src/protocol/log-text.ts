/** The longest log line a page may cause, in characters, before it is cut. */
const MAX_LOG_TEXT = 1000;

// C0 and C1 controls, DEL, line/paragraph separators and bidi controls: each
// could end a log line early or make one line look like another
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(c: string): string {
  switch (c) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default: {
      const code = c.charCodeAt(0);
      return code < 0x100
        ? '\\x' + code.toString(16).padStart(2, '0')
        : '\\u' + code.toString(16).padStart(4, '0');
    }
  }
}

/**
 * Text that came from a page, made safe for one log line: control characters
 * and newlines escaped (`\n`, `\x1b`, `\u2028`), and cut after `maxChars`
 * characters with a note of how many more there were. Cutting comes first,
 * so a huge text costs no more than a short one.
 *
 * @example escapeLogText('a\nFAKE LINE') // 'a\\nFAKE LINE'
 */
export function escapeLogText(text: string, maxChars = MAX_LOG_TEXT): string {
  const cut = text.length > maxChars;
  let kept = cut ? text.slice(0, maxChars) : text;
  // do not leave half a surrogate pair at the cut
  if (cut && /[\ud800-\udbff]$/.test(kept)) kept = kept.slice(0, -1);
  const escaped = kept.replace(UNSAFE, escapeChar);
  return cut ? `${escaped}… (${text.length - kept.length} more chars)` : escaped;
}
