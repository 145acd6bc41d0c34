import { createRequire } from 'node:module';
import type { Node } from 'acorn';

type Acorn = typeof import('acorn');
/**
 * acorn (about 0.5 MB of parser in memory) loads with the first handler
 * whose parameters are read, synchronously: a server whose pages send no
 * arguments never holds it.
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

/**
 * The declared parameters of `fn`, parsed once with acorn from its source and
 * cached. Never a regular expression: defaults may hold any expression.
 */
export function readParams(fn: Function): ParamList {
  const cached = cache.get(fn);
  if (cached !== undefined) return cached;
  const node = functionNode(Function.prototype.toString.call(fn));
  const params = node ? node.params.map((p) => describe(p as Node & { type: string })) : null;
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
