import { createRequire } from 'node:module';
import type { Node } from 'acorn';

type Acorn = typeof import('acorn');
/**
 * acorn (about 1 MB of parser in memory) loads, synchronously, with the
 * first handler whose parameter list {@link simpleParams} cannot read: the
 * built-in handlers and most others never need it.
 */
let acorn: Acorn | undefined;
const parseExpressionAt: Acorn['parseExpressionAt'] = (...args) => {
  acorn ??= createRequire(import.meta.url)('acorn') as Acorn;
  return acorn.parseExpressionAt(...args);
};

/** One declared parameter of a handler, read from its source. */
export interface ParamInfo {
  readonly name: string;
  readonly hasDefault: boolean;
  readonly rest: boolean;
  /** A destructuring pattern (`{a, b}` or `[a, b]`): it has no name to match. */
  readonly pattern: boolean;
}

/** The parameters of a function, or `null` when its source cannot be read (native, bound). */
export type ParamList = readonly ParamInfo[] | null;

interface FunctionLike extends Node {
  params: Node[];
}

const cache = new WeakMap<Function, ParamList>();

function functionNode(source: string): FunctionLike | null {
  const options = { ecmaVersion: 'latest' as const };
  // a function or arrow expression, or a class method's source (`name(a) {…}`)
  for (const [prefix, suffix] of [
    ['(', ')'],
    ['({', '})'],
  ] as const) {
    try {
      const node = parseExpressionAt(prefix + source + suffix, 0, options) as Node & {
        type: string;
        properties?: Array<{ value: Node }>;
        expression?: Node;
      };
      if (node.type === 'ObjectExpression') {
        const value = node.properties?.[0]?.value;
        if (value && (value as { type?: string }).type === 'FunctionExpression')
          return value as FunctionLike;
        continue;
      }
      if (node.type === 'FunctionExpression' || node.type === 'ArrowFunctionExpression') {
        return node as FunctionLike;
      }
    } catch {
      // try the next form
    }
  }
  return null;
}

function describe(param: Node & { type: string }): ParamInfo {
  switch (param.type) {
    case 'Identifier':
      return {
        name: (param as unknown as { name: string }).name,
        hasDefault: false,
        rest: false,
        pattern: false,
      };
    case 'AssignmentPattern': {
      const left = (param as unknown as { left: Node & { type: string } }).left;
      return { ...describe(left), hasDefault: true };
    }
    case 'RestElement': {
      const arg = (param as unknown as { argument: Node & { type: string } }).argument;
      return { ...describe(arg), rest: true };
    }
    default:
      return { name: '', hasDefault: false, rest: false, pattern: true };
  }
}

/** A method, function or arrow head with its parameter list in parentheses: `[async] [function] [*] [name](…) {` or `(…) =>`. */
const SIMPLE_HEAD =
  /^(?:async\s+)?(?:function\b\s*)?(?:\*\s*)?(?:[A-Za-z_$][\w$]*\s*)?\(([^)]*)\)\s*(?:\{|=>)/;
/** One parameter: a plain name, with no default or a literal one (`[]`, `{}`, a number, a short string, null, a boolean). */
const SIMPLE_PARAM =
  /^\s*([A-Za-z_$][\w$]*)\s*(=\s*(?:\[\s*\]|\{\s*\}|-?\d+(?:\.\d+)?|null|undefined|true|false|'[^'\\,()]*'|"[^"\\,()]*"))?\s*$/;

/**
 * The parameters of the common shape of handler (`on_x(a, b = 1)`), read
 * without a parser: plain names with literal defaults, or null for
 * anything else (destructuring, rest, a default that is an expression,
 * comments, native code), which acorn reads. Where it answers, acorn gives
 * the same list: every piece must be one whole name or name-with-literal.
 */
export function simpleParams(source: string): ParamInfo[] | null {
  if (/\[native code\]\s*\}\s*$/.test(source)) return null;
  const head = SIMPLE_HEAD.exec(source);
  if (!head) return null;
  const list = head[1] ?? '';
  if (list.trim() === '') return [];
  const params: ParamInfo[] = [];
  for (const piece of list.split(',')) {
    const m = SIMPLE_PARAM.exec(piece);
    if (!m?.[1]) return null;
    params.push({ name: m[1], hasDefault: m[2] !== undefined, rest: false, pattern: false });
  }
  return params;
}

/** @internal The parameters of a function's source as acorn reads them (null when it cannot). */
export function parseParams(source: string): ParamList {
  const node = functionNode(source);
  return node ? node.params.map((p) => describe(p as Node & { type: string })) : null;
}

/**
 * The declared parameters of `fn`, read once from its source and cached:
 * by {@link simpleParams} when they are plain names with literal defaults,
 * else parsed with acorn (a default may hold any expression: never a
 * regular expression for those).
 */
export function readParams(fn: Function): ParamList {
  const cached = cache.get(fn);
  if (cached !== undefined) return cached;
  const source = Function.prototype.toString.call(fn);
  const params = simpleParams(source) ?? parseParams(source);
  cache.set(fn, params);
  return params;
}

/** `(a, b = …, ...rest)`: how an error message shows a handler's parameters. */
export function formatParams(params: ParamList): string {
  if (params === null) return '(…)';
  return (
    '(' +
    params
      .map(
        (p) => (p.rest ? '...' : '') + (p.pattern ? '{…}' : p.name) + (p.hasDefault ? ' = …' : ''),
      )
      .join(', ') +
    ')'
  );
}
