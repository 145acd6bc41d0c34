import { relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `at fn (file:line:col)` or `at file:line:col`: the file may be a path or a file URL. */
const FRAME = /^\s*at (?:.*? \()?(.+?):(\d+):(\d+)\)?\s*$/;

/** A stack frame's file as a path: `file://` URLs decoded. */
function framePath(file: string): string | undefined {
  if (file.startsWith('file://')) {
    try {
      return fileURLToPath(file);
    } catch {
      return undefined;
    }
  }
  return file.startsWith('/') || /^[A-Za-z]:[\\/]/.test(file) ? file : undefined;
}

/**
 * The `file:line:column` of the first stack frame of `error` that is the
 * user's code: a file in the analyses folder `root` (the analysis's own
 * folder, or a module it shares with its siblings), not in a node_modules
 * below it. Shown relative to `root`, with `/`. The
 * stack is already source-mapped to the `.ts` file: each analysis is
 * compiled with an inline source map (compile-analysis.ts) and source maps
 * are on in the main thread and in worker threads, so `Error.stack` names
 * `analysis.ts` lines as written. Null when no frame is in the folder.
 *
 * @example errorLocation(err, '/a/analyses') // 'hello/analysis.ts:12:11'
 */
export function errorLocation(error: unknown, root: string): string | null {
  let stack: unknown;
  try {
    stack = (error as { stack?: unknown } | null)?.stack;
  } catch {
    return null;
  }
  if (typeof stack !== 'string') return null;
  const prefix = root.endsWith(sep) ? root : root + sep;
  for (const line of stack.split('\n')) {
    const m = FRAME.exec(line);
    if (!m) continue;
    const file = framePath(m[1] ?? '');
    if (file === undefined || !file.startsWith(prefix)) continue;
    if (file.includes(`${sep}node_modules${sep}`)) continue;
    return `${relative(root, file).split(sep).join('/')}:${m[2]}:${m[3]}`;
  }
  return null;
}
