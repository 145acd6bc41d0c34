import { readFileSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadErrorLoad } from '../protocol/messages.js';
import { withoutDetails } from '../util/error-text.js';

/**
 * A source file and position in a load error's text (esbuild's
 * `file:line:col: ERROR: …`, a stack frame, or the Python kernel's
 * `file.py:line: Type: …`, which has no column).
 */
const POSITION =
  /((?:file:\/\/)?(?:\/|[A-Za-z]:[\\/])[^\s():"']+?\.(?:[cm]?[jt]sx?|py))(?::(\d+)(?::(\d+))?)?/;
/** esbuild's form: the message proper follows `ERROR: `. */
const ESBUILD = /^(?:Build|Transform) failed with \d+ errors?:\n\S+?:\d+:\d+: ERROR: ([\s\S]*)$/;

/** How many lines the code frame shows before and after the line of the error. */
const FRAME_CONTEXT = 2;

/**
 * The lines around `line` (1-based) of `text`, numbered, the line of the
 * error marked with `>` and a caret under `column` (1-based).
 */
function codeFrame(text: string, line: number, column: number | null): string {
  const lines = text.split(/\r?\n/);
  const first = Math.max(1, line - FRAME_CONTEXT);
  const last = Math.min(lines.length, line + FRAME_CONTEXT);
  const width = String(last).length;
  const out: string[] = [];
  for (let n = first; n <= last; n++) {
    const mark = n === line ? '>' : ' ';
    out.push(`${mark} ${String(n).padStart(width)} | ${lines[n - 1] ?? ''}`.trimEnd());
    if (n === line && column !== null && column >= 1) {
      const before = (lines[n - 1] ?? '').slice(0, column - 1).replace(/[^\t]/g, ' ');
      out.push(`  ${' '.repeat(width)} | ${before}^`);
    }
  }
  return out.join('\n');
}

function shown(path: string, root: string): string {
  const rel = relative(root, path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel.split(sep).join('/');
}

/**
 * A load error as the page's error panel shows it: the message (paths
 * relative to the analyses folder `root`), and with `details` the file,
 * line, column and the code frame around the line. Without `details` the
 * message has no stack frame, line of source or path outside `root`
 * ({@link withoutDetails}).
 *
 * @example loadErrorLoad('hello', entry.error, { root: app.dir, details: true, stale: true })
 */
export function loadErrorLoad(
  analysis: string,
  error: string,
  options: { root: string; details: boolean; stale: boolean },
): LoadErrorLoad {
  const m = POSITION.exec(error);
  let file: string | undefined;
  if (m?.[1] !== undefined) {
    try {
      file = m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1];
    } catch {
      file = undefined;
    }
  }
  const line = m?.[2] !== undefined ? Number(m[2]) : null;
  const esbuild = ESBUILD.exec(error);
  // esbuild counts columns from 0, stack frames (and editors) from 1
  const column = m?.[3] !== undefined ? Number(m[3]) + (esbuild ? 1 : 0) : null;
  let message = esbuild?.[1] ?? error;
  // absolute paths say where the server's files are: relative to the analyses
  // folder; without details no stack frame, line of source or other path either
  message = options.details
    ? message.split(options.root + sep).join('')
    : withoutDetails(message, options.root);
  let frame: string | null = null;
  if (options.details && file !== undefined && line !== null) {
    try {
      frame = codeFrame(readFileSync(file, 'utf8'), line, column);
    } catch {
      frame = null;
    }
  }
  return {
    analysis,
    message: message.trim(),
    file: options.details && file !== undefined ? shown(file, options.root) : null,
    line: options.details ? line : null,
    column: options.details ? column : null,
    frame,
    stale: options.stale,
  };
}

/** Each failed entry's load error, made once per entry and `details` (it reads the source file). */
const entryLoads = new WeakMap<object, { details: boolean; load: LoadErrorLoad }>();

/**
 * The load error of an analysis entry as the page gets it, or undefined when
 * it loaded: made once per entry (a reload makes new entries), not at every
 * request for its page.
 */
export function entryLoadError(
  entry: { readonly name: string; readonly error: string | undefined; readonly stale: boolean },
  root: string,
  details: boolean,
): LoadErrorLoad | undefined {
  if (entry.error === undefined) return undefined;
  let cached = entryLoads.get(entry);
  if (cached === undefined || cached.details !== details) {
    cached = {
      details,
      load: loadErrorLoad(entry.name, entry.error, { root, details, stale: entry.stale }),
    };
    entryLoads.set(entry, cached);
  }
  return cached.load;
}
