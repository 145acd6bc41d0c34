/**
 * An absolute path (POSIX, Windows or a `file://` URL) in an error's text.
 * Not one that continues a word, a URL (`redis://host/0`) or a relative path
 * (`a/b`): only a path that starts the text or follows a space, a quote or a
 * bracket.
 */
const ABSOLUTE_PATH =
  /(?<![\w:/\\.~-])(?:file:\/\/)?(?:\/|[A-Za-z]:[\\/])[^\s:"'()<>[\]\\/][^\s:"'()<>[\]]*/g;

/** A line of details: indented (a stack frame, a line of source) or only carets (`^^^`, `~~~`). */
const DETAIL_LINE = /^(?:\s|[\s^~]+$)/;

/**
 * An error's text as a page off loopback may see it: the message without
 * stack frames, lines of source and where the server's files are. The lines
 * up to the first blank one (after it, Node and YAML print a code frame)
 * that are not indented (stack frames and source lines of Node, esbuild and
 * the Python kernel are); absolute paths relative to `root` when they lie in
 * it, else their last part. The log keeps the whole text.
 * For a text that is all details, a line that points to the log.
 *
 * @example
 * withoutDetails('Error: boom\n    at f (/srv/a/analysis.ts:3:9)', '/srv') // 'Error: boom'
 * withoutDetails("ENOENT: open '/etc/x.csv'") // "ENOENT: open 'x.csv'"
 */
export function withoutDetails(text: string, root?: string): string {
  const lines: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') {
      if (lines.length > 0) break;
      continue;
    }
    if (!DETAIL_LINE.test(line)) lines.push(line);
  }
  if (lines.length === 0) return 'an error (the details are in the server log)';
  const prefix = root === undefined ? undefined : root.replace(/[\\/]+$/, '');
  return lines
    .join('\n')
    .replace(ABSOLUTE_PATH, (match) => {
      const path = match.replace(/^file:\/\//, '');
      if (prefix !== undefined && prefix !== '' && path.startsWith(prefix)) {
        const rest = path.slice(prefix.length);
        if (/^[\\/]./.test(rest)) return rest.slice(1).replace(/\\/g, '/');
      }
      return /[^\\/]+$/.exec(path)?.[0] ?? '';
    })
    .trim();
}
