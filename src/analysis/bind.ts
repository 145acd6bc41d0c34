import { isPlainObject } from '../protocol/messages.js';
import { formatParams, readParams } from './params.js';
import { UploadedFile } from './upload.js';

/** The arguments for one handler call, or why there are none. */
export type Binding = { ok: true; args: unknown[] } | { ok: false; error: string };

const NO_ARGS: unknown[] = [];

/**
 * docs/reference/protocol.md's argument rules: a list is positional, an object is keyword
 * arguments matched to the handler's parameter names (defaults honoured), any
 * other load is the first argument, no load means no arguments. A handler
 * whose only parameter is a destructuring pattern gets the object whole.
 */
export function bindArguments(
  action: string,
  handler: Function,
  hasLoad: boolean,
  load: unknown,
): Binding {
  if (!hasLoad) return positional(action, handler, NO_ARGS);
  if (Array.isArray(load)) return positional(action, handler, load);
  // a file (AnalysisTest.trigger('load_csv', file)) is one argument, not keyword arguments
  if (!isPlainObject(load) || load instanceof UploadedFile) {
    return positional(action, handler, [load]);
  }

  const params = readParams(handler);
  const first = params?.[0];
  if (
    params === null ||
    (params.length === 1 && first !== undefined && (first.pattern || first.rest))
  ) {
    return { ok: true, args: [load] };
  }

  const args: unknown[] = [];
  let last = -1;
  for (const key of Object.keys(load)) {
    const index = params.findIndex((p) => !p.pattern && !p.rest && p.name === key);
    if (index < 0) {
      return {
        ok: false,
        error: `action "${action}": unknown argument "${key}"; the handler takes ${formatParams(params)}`,
      };
    }
    args[index] = load[key];
    if (index > last) last = index;
  }
  const missing = params.filter(
    (p, i) => i <= Math.max(last, lastRequired(params)) && !p.hasDefault && !p.rest && !(i in args),
  );
  if (missing.length > 0) {
    return {
      ok: false,
      error: `action "${action}": missing argument${missing.length > 1 ? 's' : ''} ${missing
        .map((p) => (p.pattern ? '{…}' : `"${p.name}"`))
        .join(', ')}; the handler takes ${formatParams(params)}`,
    };
  }
  args.length = last + 1;
  return { ok: true, args };
}

/**
 * Positional arguments: every parameter without a default must get one, as
 * Python raised `TypeError: missing 1 required positional argument`. (A
 * TypeScript `x?: T` parameter has no default once compiled: give it `= undefined`.)
 */
function positional(action: string, handler: Function, args: unknown[]): Binding {
  const params = readParams(handler);
  if (params === null) return { ok: true, args };
  // (every call of an action binds: the common case allocates no list of what is missing)
  let complete = true;
  for (let i = args.length; i < params.length; i++) {
    const p = params[i]!;
    if (!p.hasDefault && !p.rest) {
      complete = false;
      break;
    }
  }
  if (complete) return { ok: true, args };
  const missing = params.filter((p, i) => i >= args.length && !p.hasDefault && !p.rest);
  if (missing.length === 0) return { ok: true, args };
  return {
    ok: false,
    error: `action "${action}": missing argument${missing.length > 1 ? 's' : ''} ${missing
      .map((p) => (p.pattern ? '{…}' : `"${p.name}"`))
      .join(', ')} (${args.length} given); the handler takes ${formatParams(params)}`,
  };
}

function lastRequired(params: ReturnType<typeof readParams>): number {
  if (params === null) return -1;
  for (let i = params.length - 1; i >= 0; i--) {
    const p = params[i];
    if (p && !p.hasDefault && !p.rest) return i;
  }
  return -1;
}
