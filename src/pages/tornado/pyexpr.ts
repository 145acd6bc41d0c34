/**
 * Python expressions, as databench 0.4–0.7 page templates (Tornado templates)
 * hold them: `{{ a['name'] }}`, `{% if not footer_html %}`,
 * `{% for a in [aa for aa in meta_infos if aa['show_in_index']] %}`,
 * `{{ globals().get('title', 'Databench') }}`. A parser for the expression
 * grammar and an interpreter with Python's semantics (truthiness, `in`, `%`
 * and `str.format`, comparisons by value, negative indexes, slices) over
 * JavaScript values: null and undefined are `None`, arrays are lists and
 * tuples, plain objects are dicts.
 *
 * Only data is reachable: attributes are own properties of plain objects and
 * a fixed table of str/list/dict methods, never prototypes or constructors.
 */

import { DatabenchError } from '../../protocol/errors.js';

/**
 * An error with a Python exception name (`NameError`, `KeyError`, …), raised
 * while parsing or evaluating; its code is `TEMPLATE_EXPRESSION`.
 */
export class PyError extends DatabenchError {
  constructor(
    readonly pyType: string,
    message: string,
  ) {
    super('TEMPLATE_EXPRESSION', message);
    // Nunjucks shows `name: message`: the Python exception name reads as Python did
    this.name = pyType;
  }
}

type Tok =
  | { t: 'name'; v: string; p: number }
  | { t: 'num'; v: number; p: number }
  | { t: 'str'; v: string; p: number }
  | { t: 'op'; v: string; p: number }
  | { t: 'end'; v: ''; p: number };

/** A parsed expression. */
export type PyNode =
  | { k: 'const'; v: unknown }
  | { k: 'name'; id: string }
  | { k: 'attr'; obj: PyNode; name: string }
  | { k: 'sub'; obj: PyNode; index: PyNode }
  | { k: 'slice'; lo: PyNode | null; hi: PyNode | null; step: PyNode | null }
  | { k: 'call'; fn: PyNode; args: PyNode[]; kwargs: Array<[string, PyNode]> }
  | { k: 'bin'; op: string; a: PyNode; b: PyNode }
  | { k: 'un'; op: string; a: PyNode }
  | { k: 'bool'; op: 'and' | 'or'; a: PyNode; b: PyNode }
  | { k: 'cmp'; first: PyNode; rest: Array<[string, PyNode]> }
  | { k: 'ifexp'; test: PyNode; a: PyNode; b: PyNode }
  | { k: 'list'; items: PyNode[] }
  | { k: 'dict'; items: Array<[PyNode, PyNode]> }
  | { k: 'comp'; kind: 'list' | 'dict'; elt: PyNode; val: PyNode | null; gens: Gen[] };

interface Gen {
  target: Target;
  iter: PyNode;
  ifs: PyNode[];
}
/** A loop target: a name or a tuple of targets. */
export type Target = string | Target[];

const OPS = [
  '**=',
  '//=',
  '==',
  '!=',
  '<=',
  '>=',
  '**',
  '//',
  '<<',
  '>>',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  ',',
  ':',
  '.',
  '+',
  '-',
  '*',
  '/',
  '%',
  '<',
  '>',
  '|',
  '&',
  '^',
  '~',
  '=',
];
const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'is', 'if', 'else', 'for', 'lambda']);

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] ?? '';
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const p = i;
    const strStart = /^([rRuUbB]{0,2})(['"])/.exec(src.slice(i, i + 3));
    if (strStart && (strStart[1] === '' || /^[a-zA-Z]/.test(c))) {
      const raw = /r/i.test(strStart[1] ?? '');
      i += (strStart[1] ?? '').length;
      const q = src.startsWith(strStart[2]!.repeat(3), i) ? strStart[2]!.repeat(3) : strStart[2]!;
      i += q.length;
      let v = '';
      for (;;) {
        if (i >= src.length) throw new PyError('SyntaxError', `unterminated string at ${p + 1}`);
        if (src.startsWith(q, i)) {
          i += q.length;
          break;
        }
        const ch = src[i] ?? '';
        if (ch === '\\' && !raw) {
          const n = src[i + 1] ?? '';
          const esc: Record<string, string> = { n: '\n', t: '\t', r: '\r', '0': '\0' };
          if (n === 'u' || n === 'x') {
            const len = n === 'u' ? 4 : 2;
            v += String.fromCharCode(parseInt(src.slice(i + 2, i + 2 + len), 16));
            i += 2 + len;
          } else {
            v += esc[n] ?? n;
            i += 2;
          }
        } else {
          v += ch;
          i++;
        }
      }
      const last = toks[toks.length - 1];
      // adjacent literals concatenate, as in Python
      if (last?.t === 'str') last.v += v;
      else toks.push({ t: 'str', v, p });
      continue;
    }
    const num = /^(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/.exec(src.slice(i));
    if (num && /[\d.]/.test(c) && !(c === '.' && !/\d/.test(src[i + 1] ?? ''))) {
      toks.push({ t: 'num', v: Number(num[0]), p });
      i += num[0].length;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (name) {
      toks.push({ t: 'name', v: name[0], p });
      i += name[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new PyError('SyntaxError', `unexpected character ${JSON.stringify(c)}`);
    toks.push({ t: 'op', v: op, p });
    i += op.length;
  }
  toks.push({ t: 'end', v: '', p: src.length });
  return toks;
}

class Parser {
  private i = 0;
  constructor(
    private readonly toks: Tok[],
    private readonly src: string,
  ) {}

  private peek(): Tok {
    return this.toks[this.i] ?? { t: 'end', v: '', p: this.src.length };
  }
  private next(): Tok {
    const t = this.peek();
    this.i++;
    return t;
  }
  private isOp(v: string): boolean {
    const t = this.peek();
    return t.t === 'op' && t.v === v;
  }
  private isKw(v: string): boolean {
    const t = this.peek();
    return t.t === 'name' && t.v === v;
  }
  private eatOp(v: string): boolean {
    if (!this.isOp(v)) return false;
    this.i++;
    return true;
  }
  private eatKw(v: string): boolean {
    if (!this.isKw(v)) return false;
    this.i++;
    return true;
  }
  private expectOp(v: string): void {
    if (!this.eatOp(v)) this.fail(`expected "${v}"`);
  }
  fail(what: string): never {
    const t = this.peek();
    const near = t.t === 'end' ? 'at the end' : `at "${this.src.slice(t.p, t.p + 12)}"`;
    throw new PyError('SyntaxError', `${what} ${near} of ${JSON.stringify(this.src)}`);
  }
  atEnd(): boolean {
    return this.peek().t === 'end';
  }

  /** `a, b` (a tuple) or one expression. */
  exprList(): PyNode {
    const first = this.test();
    if (!this.isOp(',')) return first;
    const items = [first];
    while (this.eatOp(',')) {
      if (this.atEnd() || this.isOp(')') || this.isOp(']') || this.isOp('=')) break;
      items.push(this.test());
    }
    return { k: 'list', items };
  }

  test(): PyNode {
    if (this.isKw('lambda')) this.fail('lambda is not supported');
    const a = this.orTest();
    if (this.eatKw('if')) {
      const test = this.orTest();
      if (!this.eatKw('else')) this.fail('expected "else"');
      return { k: 'ifexp', test, a, b: this.test() };
    }
    return a;
  }
  private orTest(): PyNode {
    let a = this.andTest();
    while (this.eatKw('or')) a = { k: 'bool', op: 'or', a, b: this.andTest() };
    return a;
  }
  private andTest(): PyNode {
    let a = this.notTest();
    while (this.eatKw('and')) a = { k: 'bool', op: 'and', a, b: this.notTest() };
    return a;
  }
  private notTest(): PyNode {
    if (this.eatKw('not')) return { k: 'un', op: 'not', a: this.notTest() };
    return this.comparison();
  }
  private comparison(): PyNode {
    const first = this.bitOr();
    const rest: Array<[string, PyNode]> = [];
    for (;;) {
      const t = this.peek();
      let op: string | undefined;
      if (t.t === 'op' && ['<', '>', '==', '>=', '<=', '!='].includes(t.v)) op = t.v;
      else if (this.isKw('in')) op = 'in';
      else if (this.isKw('is')) op = 'is';
      else if (this.isKw('not') && this.toks[this.i + 1]?.v === 'in') op = 'not in';
      if (!op) break;
      this.i += op === 'not in' ? 2 : 1;
      if (op === 'is' && this.eatKw('not')) op = 'is not';
      rest.push([op, this.bitOr()]);
    }
    return rest.length ? { k: 'cmp', first, rest } : first;
  }
  private binary(ops: string[], next: () => PyNode): PyNode {
    let a = next();
    for (;;) {
      const t = this.peek();
      if (t.t !== 'op' || !ops.includes(t.v)) return a;
      this.i++;
      a = { k: 'bin', op: t.v, a, b: next() };
    }
  }
  private bitOr(): PyNode {
    return this.binary(['|'], () =>
      this.binary(['^'], () => this.binary(['&'], () => this.shift())),
    );
  }
  private shift(): PyNode {
    return this.binary(['<<', '>>'], () => this.arith());
  }
  private arith(): PyNode {
    return this.binary(['+', '-'], () => this.term());
  }
  private term(): PyNode {
    return this.binary(['*', '/', '//', '%'], () => this.factor());
  }
  private factor(): PyNode {
    const t = this.peek();
    if (t.t === 'op' && (t.v === '-' || t.v === '+' || t.v === '~')) {
      this.i++;
      return { k: 'un', op: t.v, a: this.factor() };
    }
    const base = this.trailers(this.atom());
    if (this.eatOp('**')) return { k: 'bin', op: '**', a: base, b: this.factor() };
    return base;
  }
  private trailers(node: PyNode): PyNode {
    for (;;) {
      if (this.eatOp('.')) {
        const t = this.next();
        if (t.t !== 'name') this.fail('expected an attribute name');
        node = { k: 'attr', obj: node, name: t.v };
      } else if (this.eatOp('[')) {
        node = { k: 'sub', obj: node, index: this.subscript() };
        this.expectOp(']');
      } else if (this.eatOp('(')) {
        node = this.call(node);
      } else return node;
    }
  }
  private subscript(): PyNode {
    const part = (): PyNode | null =>
      this.isOp(':') || this.isOp(']') || this.isOp(',') ? null : this.test();
    const lo = part();
    if (!this.eatOp(':')) {
      if (lo === null) this.fail('expected an index');
      if (this.isOp(',')) {
        const items = [lo];
        while (this.eatOp(',') && !this.isOp(']')) items.push(this.test());
        return { k: 'list', items };
      }
      return lo;
    }
    const hi = part();
    const step = this.eatOp(':') ? part() : null;
    return { k: 'slice', lo, hi, step };
  }
  private call(fn: PyNode): PyNode {
    const args: PyNode[] = [];
    const kwargs: Array<[string, PyNode]> = [];
    while (!this.isOp(')')) {
      const t = this.peek();
      if (t.t === 'name' && this.toks[this.i + 1]?.v === '=' && this.toks[this.i + 1]?.t === 'op') {
        this.i += 2;
        kwargs.push([t.v, this.test()]);
      } else {
        if (kwargs.length) this.fail('positional argument after keyword argument');
        const arg = this.test();
        // f(x for x in y): a generator expression, evaluated as a list
        if (this.isKw('for')) args.push(this.comprehension('list', arg, null));
        else args.push(arg);
      }
      if (!this.eatOp(',')) break;
    }
    this.expectOp(')');
    return { k: 'call', fn, args, kwargs };
  }
  private target(): Target {
    const one = (): Target => {
      if (this.eatOp('(')) {
        const t = this.targetList();
        this.expectOp(')');
        return t;
      }
      const t = this.next();
      if (t.t !== 'name' || KEYWORDS.has(t.v)) this.fail('expected a loop variable');
      return t.v;
    };
    const first = one();
    if (!this.isOp(',')) return first;
    const list = [first];
    while (this.eatOp(',') && !this.isKw('in')) list.push(one());
    return list;
  }
  /** Loop targets as in `for k, v in …` (exported through {@link parseTarget}). */
  targetList(): Target {
    return this.target();
  }
  private comprehension(kind: 'list' | 'dict', elt: PyNode, val: PyNode | null): PyNode {
    const gens: Gen[] = [];
    while (this.eatKw('for')) {
      const target = this.target();
      if (!this.eatKw('in')) this.fail('expected "in"');
      const iter = this.orTest();
      const ifs: PyNode[] = [];
      while (this.eatKw('if')) ifs.push(this.orTest());
      gens.push({ target, iter, ifs });
    }
    return { k: 'comp', kind, elt, val, gens };
  }
  private atom(): PyNode {
    const t = this.next();
    switch (t.t) {
      case 'num':
        return { k: 'const', v: t.v };
      case 'str':
        return { k: 'const', v: t.v };
      case 'name':
        if (t.v === 'True') return { k: 'const', v: true };
        if (t.v === 'False') return { k: 'const', v: false };
        if (t.v === 'None') return { k: 'const', v: null };
        if (KEYWORDS.has(t.v)) {
          this.i--;
          this.fail(`unexpected "${t.v}"`);
        }
        return { k: 'name', id: t.v };
      case 'op':
        if (t.v === '(') {
          if (this.eatOp(')')) return { k: 'list', items: [] };
          const first = this.test();
          if (this.isKw('for')) {
            const comp = this.comprehension('list', first, null);
            this.expectOp(')');
            return comp;
          }
          if (this.eatOp(')')) return first;
          const items = [first];
          while (this.eatOp(',') && !this.isOp(')')) items.push(this.test());
          this.expectOp(')');
          return { k: 'list', items };
        }
        if (t.v === '[') {
          if (this.eatOp(']')) return { k: 'list', items: [] };
          const first = this.test();
          if (this.isKw('for')) {
            const comp = this.comprehension('list', first, null);
            this.expectOp(']');
            return comp;
          }
          const items = [first];
          while (this.eatOp(',') && !this.isOp(']')) items.push(this.test());
          this.expectOp(']');
          return { k: 'list', items };
        }
        if (t.v === '{') {
          if (this.eatOp('}')) return { k: 'dict', items: [] };
          const key = this.test();
          if (!this.eatOp(':')) {
            // a set literal: a list of its distinct items is close enough for templates
            const items = [key];
            while (this.eatOp(',') && !this.isOp('}')) items.push(this.test());
            this.expectOp('}');
            return { k: 'list', items };
          }
          const value = this.test();
          if (this.isKw('for')) {
            const comp = this.comprehension('dict', key, value);
            this.expectOp('}');
            return comp;
          }
          const items: Array<[PyNode, PyNode]> = [[key, value]];
          while (this.eatOp(',') && !this.isOp('}')) {
            const k = this.test();
            this.expectOp(':');
            items.push([k, this.test()]);
          }
          this.expectOp('}');
          return { k: 'dict', items };
        }
        break;
      default:
        break;
    }
    this.i--;
    return this.fail('unexpected token');
  }
}

const parsed = new Map<string, PyNode>();

/** Parse one expression (a tuple when it has top-level commas); cached by its text. */
export function parsePy(src: string): PyNode {
  let node = parsed.get(src);
  if (node) return node;
  const p = new Parser(tokenize(src), src);
  if (p.atEnd()) throw new PyError('SyntaxError', 'empty expression');
  node = p.exprList();
  if (!p.atEnd()) p.fail('unexpected text');
  if (parsed.size > 10_000) parsed.clear();
  parsed.set(src, node);
  return node;
}

/** Parse the loop targets of a `for` (`x`, `k, v`, `(i, (a, b))`). */
export function parseTarget(src: string): Target {
  const p = new Parser(tokenize(src), src);
  const t = p.targetList();
  if (!p.atEnd()) p.fail('unexpected text');
  return t;
}

// values -----------------------------------------------------------------------

/** A function made for templates: called with positional and keyword arguments. */
class PyFunc {
  constructor(
    readonly name: string,
    readonly fn: (args: unknown[], kwargs: Record<string, unknown>) => unknown,
  ) {}
}

type Dict = Record<string, unknown>;

function isDict(v: unknown): v is Dict {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'string') return 'str';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyFunc || typeof v === 'function') return 'function';
  if (isDict(v)) return 'dict';
  return 'object';
}

/** Python's truthiness. */
export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isDict(v)) return Object.keys(v).length > 0;
  return !Number.isNaN(v);
}

function reprStr(s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  return (
    q +
    s
      .replace(/\\/g, '\\\\')
      .replace(/\n/g, '\\n')
      .replace(/\t/g, '\\t')
      .replace(new RegExp(q, 'g'), '\\' + q) +
    q
  );
}

function repr(v: unknown): string {
  return typeof v === 'string' ? reprStr(v) : str(v);
}

function numStr(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  return String(n);
}

/** Python's `str()` of a value. */
export function str(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return numStr(v);
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return '[' + v.map(repr).join(', ') + ']';
  if (isDict(v))
    return (
      '{' +
      Object.entries(v)
        .map(([k, x]) => `${reprStr(k)}: ${repr(x)}`)
        .join(', ') +
      '}'
    );
  if (v instanceof PyFunc) return `<function ${v.name}>`;
  if (typeof v === 'function') return `<function ${v.name}>`;
  // a class instance from the page's context: its own toString, if it has one
  return (v as { toString(): string }).toString();
}

function eq(a: unknown, b: unknown): boolean {
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true;
  if (typeof a === 'boolean' || typeof b === 'boolean') return Number(a) === Number(b);
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => eq(x, b[i]));
  if (isDict(a) && isDict(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && eq(a[k], b[k]));
  }
  return a === b;
}

function compare(a: unknown, b: unknown, op: string): boolean {
  if (typeof a === 'boolean') a = Number(a);
  if (typeof b === 'boolean') b = Number(b);
  let c: number;
  if (typeof a === 'number' && typeof b === 'number') c = a < b ? -1 : a > b ? 1 : 0;
  else if (typeof a === 'string' && typeof b === 'string') c = a < b ? -1 : a > b ? 1 : 0;
  else if (Array.isArray(a) && Array.isArray(b)) {
    c = 0;
    for (let i = 0; i < Math.min(a.length, b.length) && c === 0; i++) {
      if (!eq(a[i], b[i])) c = compare(a[i], b[i], '<') ? -1 : 1;
    }
    if (c === 0) c = a.length - b.length;
  } else {
    throw new PyError(
      'TypeError',
      `'${op}' not supported between instances of '${typeName(a)}' and '${typeName(b)}'`,
    );
  }
  return op === '<' ? c < 0 : op === '>' ? c > 0 : op === '<=' ? c <= 0 : c >= 0;
}

function contains(container: unknown, item: unknown): boolean {
  if (typeof container === 'string') {
    if (typeof item !== 'string')
      throw new PyError('TypeError', "'in <string>' requires string as left operand");
    return container.includes(item);
  }
  if (Array.isArray(container)) return container.some((x) => eq(x, item));
  if (isDict(container)) return Object.hasOwn(container, str(item));
  throw new PyError('TypeError', `argument of type '${typeName(container)}' is not iterable`);
}

/** Python iteration: a list's items, a dict's keys, a string's characters. */
export function iterate(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (typeof v === 'string') return [...v];
  if (isDict(v)) return Object.keys(v);
  if (v !== null && typeof v === 'object' && Symbol.iterator in v)
    return [...(v as Iterable<unknown>)];
  throw new PyError('TypeError', `'${typeName(v)}' object is not iterable`);
}

function int(v: unknown): number {
  if (typeof v === 'number') return Math.trunc(v);
  if (typeof v === 'boolean') return Number(v);
  if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return parseInt(v, 10);
  throw new PyError('ValueError', `invalid literal for int(): ${repr(v)}`);
}

function index(len: number, i: unknown): number {
  const n = int(i);
  return n < 0 ? n + len : n;
}

function sliceOf<T>(seq: T[], lo: unknown, hi: unknown, step: unknown): T[] {
  const st = step === null || step === undefined ? 1 : int(step);
  if (st === 0) throw new PyError('ValueError', 'slice step cannot be zero');
  const len = seq.length;
  const clamp = (v: unknown, dflt: number): number => {
    if (v === null || v === undefined) return dflt;
    const n = index(len, v);
    return st > 0 ? Math.min(Math.max(n, 0), len) : Math.min(Math.max(n, -1), len - 1);
  };
  const out: T[] = [];
  if (st > 0) {
    for (let i = clamp(lo, 0); i < clamp(hi, len); i += st) out.push(seq[i] as T);
  } else {
    for (let i = clamp(lo, len - 1); i > clamp(hi, -1); i += st) out.push(seq[i] as T);
  }
  return out;
}

function formatSpec(v: unknown, spec: string): string {
  const m = /^(?:(.)?([<>^]))?([+ -])?(\d+)?(,)?(?:\.(\d+))?([sdfeg%xr])?$/.exec(spec);
  if (!m) throw new PyError('ValueError', `format spec "${spec}" is not supported`);
  const [, fill = ' ', align, sign, width, comma, precision, type] = m;
  let s: string;
  const num = typeof v === 'number' ? v : typeof v === 'boolean' ? Number(v) : undefined;
  if (type === 'r') s = repr(v);
  else if (num !== undefined && type !== 's') {
    const p = precision === undefined ? undefined : Number(precision);
    if (type === 'f') s = num.toFixed(p ?? 6);
    else if (type === '%') s = (num * 100).toFixed(p ?? 6) + '%';
    else if (type === 'e') s = num.toExponential(p ?? 6).replace(/e([+-])(\d)$/, 'e$10$2');
    else if (type === 'd') s = String(Math.trunc(num));
    else if (type === 'x') s = Math.trunc(num).toString(16);
    else if (type === 'g' || p !== undefined) s = String(Number(num.toPrecision(p ?? 6)));
    else s = numStr(num);
    if (comma) s = s.replace(/^(-?\d+)/, (d) => d.replace(/\B(?=(\d{3})+(?!\d))/g, ','));
    if (sign === '+' && num >= 0) s = '+' + s;
    else if (sign === ' ' && num >= 0) s = ' ' + s;
  } else {
    s = str(v);
    if (precision !== undefined) s = s.slice(0, Number(precision));
  }
  const w = width === undefined ? 0 : Number(width);
  if (s.length < w) {
    const pad = fill.repeat(w - s.length);
    const a = align ?? (num !== undefined && type !== 's' ? '>' : '<');
    if (a === '<') s += pad;
    else if (a === '>') s = pad + s;
    else {
      const left = Math.floor((w - s.length) / 2);
      s = fill.repeat(left) + s + fill.repeat(w - s.length - left);
    }
  }
  return s;
}

function lookupField(args: unknown[], kwargs: Dict, field: string, auto: () => number): unknown {
  const m = /^([^.[]*)(.*)$/.exec(field) ?? ['', field, ''];
  const head = m[1] ?? '';
  let v: unknown;
  if (head === '') v = args[auto()];
  else if (/^\d+$/.test(head)) v = args[Number(head)];
  else if (Object.hasOwn(kwargs, head)) v = kwargs[head];
  else throw new PyError('KeyError', reprStr(head));
  for (const part of (m[2] ?? '').matchAll(/\.(\w+)|\[([^\]]+)\]/g)) {
    v = part[1] !== undefined ? getAttr(v, part[1]) : getItem(v, part[2]);
  }
  return v;
}

/** `str.format`: `{}`, `{0}`, `{name}`, `{a[b]}`, `{x:.2f}`, `{{`/`}}`. */
function strFormat(fmt: string, args: unknown[], kwargs: Dict): string {
  let n = 0;
  return fmt.replace(
    /\{\{|\}\}|\{([^{}!:]*)(?:!([rs]))?(?::([^{}]*))?\}/g,
    (all, field, conv, spec) => {
      if (all === '{{') return '{';
      if (all === '}}') return '}';
      let v = lookupField(args, kwargs, field as string, () => n++);
      if (conv === 'r') v = repr(v);
      return formatSpec(v, (spec as string | undefined) ?? '');
    },
  );
}

/** The `%` operator on a string: `%s`, `%d`, `%.2f`, `%r`, `%(name)s`, `%%`. */
function percentFormat(fmt: string, values: unknown): string {
  const list: unknown[] = Array.isArray(values) ? values : [values];
  let n = 0;
  const out = fmt.replace(
    /%(?:\(([^)]*)\))?([-+ 0#]*)(\d+)?(?:\.(\d+))?([sdifrexg%])/g,
    (
      _all,
      key: string | undefined,
      flags: string,
      width: string | undefined,
      prec: string | undefined,
      type: string,
    ) => {
      if (type === '%') return '%';
      const v: unknown = key !== undefined ? getItem(values, key) : list[n++];
      const align = flags.includes('-') ? '<' : '>';
      const fill = flags.includes('0') && align === '>' ? '0' : ' ';
      const t = type === 'i' ? 'd' : type;
      const spec = `${fill}${align}${flags.includes('+') ? '+' : ''}${width ?? ''}${prec !== undefined ? '.' + prec : ''}${t}`;
      return formatSpec(v, spec);
    },
  );
  return out;
}

function arith(op: string, a: unknown, b: unknown): unknown {
  if (typeof a === 'boolean') a = Number(a);
  if (typeof b === 'boolean') b = Number(b);
  if (op === '%' && typeof a === 'string') return percentFormat(a, b);
  if (typeof a === 'number' && typeof b === 'number') {
    switch (op) {
      case '+':
        return a + b;
      case '-':
        return a - b;
      case '*':
        return a * b;
      case '/':
        if (b === 0) throw new PyError('ZeroDivisionError', 'division by zero');
        return a / b;
      case '//':
        if (b === 0) throw new PyError('ZeroDivisionError', 'integer division by zero');
        return Math.floor(a / b);
      case '%':
        if (b === 0) throw new PyError('ZeroDivisionError', 'modulo by zero');
        return ((a % b) + b) % b;
      case '**':
        return a ** b;
      case '|':
        return a | b;
      case '&':
        return a & b;
      case '^':
        return a ^ b;
      case '<<':
        return a << b;
      case '>>':
        return a >> b;
    }
  }
  if (op === '+' && typeof a === 'string' && typeof b === 'string') return a + b;
  if (op === '+' && Array.isArray(a) && Array.isArray(b)) return (a as unknown[]).concat(b);
  if (op === '*' && (typeof a === 'string' || Array.isArray(a)) && typeof b === 'number')
    return typeof a === 'string' ? a.repeat(Math.max(0, b)) : repeat(a, b);
  if (op === '*' && typeof a === 'number' && (typeof b === 'string' || Array.isArray(b)))
    return arith('*', b, a);
  throw new PyError(
    'TypeError',
    `unsupported operand type(s) for ${op}: '${typeName(a)}' and '${typeName(b)}'`,
  );
}

function repeat(a: unknown[], n: number): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(...a);
  return out;
}

function fn(name: string, f: (args: unknown[], kwargs: Dict) => unknown): PyFunc {
  return new PyFunc(name, f);
}

function strMethods(s: string, name: string): PyFunc | undefined {
  const strip = (chars: unknown, where: 'both' | 'left' | 'right'): string => {
    const set = chars === undefined || chars === null ? ' \t\n\r\f\v' : str(chars);
    let a = 0;
    let b = s.length;
    if (where !== 'right') while (a < b && set.includes(s[a] ?? '')) a++;
    if (where !== 'left') while (b > a && set.includes(s[b - 1] ?? '')) b--;
    return s.slice(a, b);
  };
  const methods: Record<string, (a: unknown[], k: Dict) => unknown> = {
    strip: (a) => strip(a[0], 'both'),
    lstrip: (a) => strip(a[0], 'left'),
    rstrip: (a) => strip(a[0], 'right'),
    lower: () => s.toLowerCase(),
    upper: () => s.toUpperCase(),
    title: () =>
      s
        .toLowerCase()
        .replace(/(^|[^a-z])([a-z])/g, (_, p: string, c: string) => p + c.toUpperCase()),
    capitalize: () => s.charAt(0).toUpperCase() + s.slice(1).toLowerCase(),
    startswith: (a) => s.startsWith(str(a[0])),
    endswith: (a) => s.endsWith(str(a[0])),
    replace: (a) => s.split(str(a[0])).join(str(a[1])),
    split: (a) => {
      if (a[0] === undefined || a[0] === null) return s.trim() === '' ? [] : s.trim().split(/\s+/);
      const sep = str(a[0]);
      const parts = s.split(sep);
      const max = a[1] === undefined ? -1 : int(a[1]);
      if (max < 0 || parts.length <= max + 1) return parts;
      return [...parts.slice(0, max), parts.slice(max).join(sep)];
    },
    splitlines: () => s.split(/\r?\n/).filter((l, i, all) => i < all.length - 1 || l !== ''),
    join: (a) =>
      iterate(a[0])
        .map((x) => {
          if (typeof x !== 'string')
            throw new PyError(
              'TypeError',
              `sequence item: expected str instance, ${typeName(x)} found`,
            );
          return x;
        })
        .join(s),
    format: (a, k) => strFormat(s, a, k),
    find: (a) => s.indexOf(str(a[0])),
    count: (a) => (str(a[0]) === '' ? s.length + 1 : s.split(str(a[0])).length - 1),
    isdigit: () => /^\d+$/.test(s),
  };
  const m = Object.hasOwn(methods, name) ? methods[name] : undefined;
  return m ? fn(name, m) : undefined;
}

function methodOf(obj: unknown, name: string): PyFunc | undefined {
  if (typeof obj === 'string') return strMethods(obj, name);
  if (Array.isArray(obj)) {
    if (name === 'index')
      return fn(name, (a) => {
        const i = obj.findIndex((x) => eq(x, a[0]));
        if (i < 0) throw new PyError('ValueError', `${repr(a[0])} is not in list`);
        return i;
      });
    if (name === 'count') return fn(name, (a) => obj.filter((x) => eq(x, a[0])).length);
    return undefined;
  }
  if (isDict(obj)) {
    if (name === 'get')
      return fn(name, (a) => {
        const k = str(a[0]);
        return Object.hasOwn(obj, k) ? obj[k] : (a[1] ?? null);
      });
    if (name === 'items') return fn(name, () => Object.entries(obj));
    if (name === 'keys') return fn(name, () => Object.keys(obj));
    if (name === 'values') return fn(name, () => Object.values(obj));
  }
  return undefined;
}

function getAttr(obj: unknown, name: string): unknown {
  const method = methodOf(obj, name);
  if (method) return method;
  if (
    typeof obj === 'object' &&
    obj !== null &&
    !name.startsWith('__') &&
    Object.hasOwn(obj, name)
  ) {
    return (obj as Dict)[name];
  }
  throw new PyError('AttributeError', `'${typeName(obj)}' object has no attribute '${name}'`);
}

function getItem(obj: unknown, key: unknown): unknown {
  if (Array.isArray(obj) || typeof obj === 'string') {
    if (typeof key !== 'number' && typeof key !== 'boolean')
      throw new PyError('TypeError', `indices must be integers, not ${typeName(key)}`);
    const i = index(obj.length, key);
    if (i < 0 || i >= obj.length) throw new PyError('IndexError', 'index out of range');
    return obj[i];
  }
  if (typeof obj === 'object' && obj !== null) {
    const k = str(key);
    if (Object.hasOwn(obj, k) && !k.startsWith('__')) return (obj as Dict)[k];
    throw new PyError('KeyError', repr(key));
  }
  throw new PyError('TypeError', `'${typeName(obj)}' object is not subscriptable`);
}

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": '#39' }[c] ?? ''};`,
  );
}

function sortKey(a: unknown, b: unknown): number {
  return eq(a, b) ? 0 : compare(a, b, '<') ? -1 : 1;
}

function minMax(which: 'min' | 'max') {
  return (args: unknown[], kwargs: Dict): unknown => {
    const items = args.length === 1 ? iterate(args[0]) : args;
    if (items.length === 0) {
      if ('default' in kwargs) return kwargs['default'];
      throw new PyError('ValueError', `${which}() arg is an empty sequence`);
    }
    return items.reduce((best, x) => (compare(x, best, which === 'min' ? '<' : '>') ? x : best));
  };
}

/** Python builtins and Tornado's template namespace (`escape`, `url_escape`, `json_encode`, `squeeze`). */
const BUILTINS: Record<string, PyFunc> = {
  len: fn('len', ([v]) => {
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (isDict(v)) return Object.keys(v).length;
    throw new PyError('TypeError', `object of type '${typeName(v)}' has no len()`);
  }),
  str: fn('str', ([v]) => (v === undefined ? '' : str(v))),
  repr: fn('repr', ([v]) => repr(v)),
  int: fn('int', ([v]) => (v === undefined ? 0 : int(v))),
  float: fn('float', ([v]) => {
    const n = v === undefined ? 0 : Number(v);
    if (Number.isNaN(n) && str(v).trim().toLowerCase() !== 'nan')
      throw new PyError('ValueError', `could not convert string to float: ${repr(v)}`);
    return n;
  }),
  bool: fn('bool', ([v]) => truthy(v)),
  list: fn('list', ([v]) => (v === undefined ? [] : [...iterate(v)])),
  tuple: fn('tuple', ([v]) => (v === undefined ? [] : [...iterate(v)])),
  dict: fn('dict', ([v], k) => ({
    ...(v === undefined
      ? {}
      : isDict(v)
        ? v
        : Object.fromEntries(iterate(v).map((p) => iterate(p).map(str) as [string, unknown]))),
    ...k,
  })),
  range: fn('range', (a) => {
    const [start, stop, step] =
      a.length === 1
        ? [0, int(a[0]), 1]
        : [int(a[0]), int(a[1]), a[2] === undefined ? 1 : int(a[2])];
    if (step === 0) throw new PyError('ValueError', 'range() arg 3 must not be zero');
    const out: number[] = [];
    for (let i = start; step > 0 ? i < stop : i > stop; i += step) {
      out.push(i);
      if (out.length > 1_000_000) throw new PyError('ValueError', 'range too large for a template');
    }
    return out;
  }),
  enumerate: fn('enumerate', ([v, start], k) =>
    iterate(v).map((x, i) => [i + int(start ?? k['start'] ?? 0), x]),
  ),
  zip: fn('zip', (a) => {
    const lists = a.map(iterate);
    const n = Math.min(...lists.map((l) => l.length));
    return Array.from({ length: lists.length ? n : 0 }, (_, i) => lists.map((l) => l[i]));
  }),
  sorted: fn('sorted', ([v], k) => {
    const out = [...iterate(v)].sort(sortKey);
    return truthy(k['reverse']) ? out.reverse() : out;
  }),
  reversed: fn('reversed', ([v]) => [...iterate(v)].reverse()),
  min: fn('min', minMax('min')),
  max: fn('max', minMax('max')),
  sum: fn('sum', ([v, start]) => iterate(v).reduce((acc, x) => arith('+', acc, x), start ?? 0)),
  abs: fn('abs', ([v]) => Math.abs(Number(v))),
  round: fn('round', ([v, digits]) => {
    const d = digits === undefined || digits === null ? 0 : int(digits);
    const f = 10 ** d;
    return Math.round(Number(v) * f) / f;
  }),
  any: fn('any', ([v]) => iterate(v).some(truthy)),
  all: fn('all', ([v]) => iterate(v).every(truthy)),
  isinstance: fn('isinstance', () => {
    throw new PyError('NotImplementedError', 'isinstance() is not available in templates');
  }),
  escape: fn('escape', ([v]) => escapeHtml(str(v))),
  xhtml_escape: fn('xhtml_escape', ([v]) => escapeHtml(str(v))),
  url_escape: fn('url_escape', ([v, plus]) => {
    const e = encodeURIComponent(str(v));
    return plus === false ? e : e.replace(/%20/g, '+');
  }),
  json_encode: fn('json_encode', ([v]) => JSON.stringify(v ?? null).replace(/<\//g, '<\\/')),
  squeeze: fn('squeeze', ([v]) =>
    str(v)
      .replace(/[\t\n\f\r ]+/g, ' ')
      .trim(),
  ),
};

/** Where names are looked up: comprehension and template locals, then the page's variables, then builtins. */
export interface PyScope {
  locals: ReadonlyMap<string, unknown> | undefined;
  context: Readonly<Dict>;
}

function lookupName(id: string, scope: PyScope): unknown {
  if (scope.locals?.has(id)) return scope.locals.get(id);
  if (id === 'globals') return fn('globals', () => ({ ...scope.context }));
  if (Object.hasOwn(scope.context, id) && scope.context[id] !== undefined) return scope.context[id];
  if (Object.hasOwn(BUILTINS, id)) return BUILTINS[id];
  throw new PyError('NameError', `name '${id}' is not defined`);
}

function bindTarget(target: Target, value: unknown, into: Map<string, unknown>): void {
  if (typeof target === 'string') {
    into.set(target, value);
    return;
  }
  const items = iterate(value);
  if (items.length !== target.length)
    throw new PyError(
      'ValueError',
      `expected ${target.length} values to unpack, got ${items.length}`,
    );
  target.forEach((t, i) => bindTarget(t, items[i], into));
}

function callValue(f: unknown, args: unknown[], kwargs: Dict, what: string): unknown {
  if (f instanceof PyFunc) return f.fn(args, kwargs);
  if (typeof f === 'function') {
    // a function the page's context holds: keyword arguments go in a last object
    return (f as (...a: unknown[]) => unknown)(
      ...args,
      ...(Object.keys(kwargs).length ? [kwargs] : []),
    );
  }
  throw new PyError('TypeError', `'${typeName(f)}' object is not callable (${what})`);
}

function describeNode(n: PyNode): string {
  switch (n.k) {
    case 'name':
      return n.id;
    case 'attr':
      return `${describeNode(n.obj)}.${n.name}`;
    default:
      return 'expression';
  }
}

/** Evaluate a parsed expression. */
export function evaluate(n: PyNode, scope: PyScope): unknown {
  switch (n.k) {
    case 'const':
      return n.v;
    case 'name':
      return lookupName(n.id, scope);
    case 'attr':
      return getAttr(evaluate(n.obj, scope), n.name);
    case 'sub': {
      const obj = evaluate(n.obj, scope);
      if (n.index.k === 'slice') {
        const lo = n.index.lo && evaluate(n.index.lo, scope);
        const hi = n.index.hi && evaluate(n.index.hi, scope);
        const step = n.index.step && evaluate(n.index.step, scope);
        if (typeof obj === 'string') return sliceOf([...obj], lo, hi, step).join('');
        if (Array.isArray(obj)) return sliceOf(obj, lo, hi, step);
        throw new PyError('TypeError', `'${typeName(obj)}' object is not subscriptable`);
      }
      return getItem(obj, evaluate(n.index, scope));
    }
    case 'slice':
      throw new PyError('SyntaxError', 'a slice outside brackets');
    case 'call': {
      const f = evaluate(n.fn, scope);
      const args = n.args.map((a) => evaluate(a, scope));
      const kwargs: Dict = {};
      for (const [k, v] of n.kwargs) kwargs[k] = evaluate(v, scope);
      return callValue(f, args, kwargs, describeNode(n.fn));
    }
    case 'bin':
      return arith(n.op, evaluate(n.a, scope), evaluate(n.b, scope));
    case 'un': {
      const v = evaluate(n.a, scope);
      if (n.op === 'not') return !truthy(v);
      if (typeof v !== 'number' && typeof v !== 'boolean')
        throw new PyError('TypeError', `bad operand type for unary ${n.op}: '${typeName(v)}'`);
      return n.op === '-' ? -Number(v) : n.op === '~' ? ~Number(v) : Number(v);
    }
    case 'bool': {
      const a = evaluate(n.a, scope);
      if (n.op === 'and') return truthy(a) ? evaluate(n.b, scope) : a;
      return truthy(a) ? a : evaluate(n.b, scope);
    }
    case 'cmp': {
      let left = evaluate(n.first, scope);
      for (const [op, node] of n.rest) {
        const right = evaluate(node, scope);
        let ok: boolean;
        switch (op) {
          case '==':
            ok = eq(left, right);
            break;
          case '!=':
            ok = !eq(left, right);
            break;
          case 'in':
            ok = contains(right, left);
            break;
          case 'not in':
            ok = !contains(right, left);
            break;
          case 'is':
            ok = left === right || ((left ?? null) === null && (right ?? null) === null);
            break;
          case 'is not':
            ok = !(left === right || ((left ?? null) === null && (right ?? null) === null));
            break;
          default:
            ok = compare(left, right, op);
        }
        if (!ok) return false;
        left = right;
      }
      return true;
    }
    case 'ifexp':
      return truthy(evaluate(n.test, scope)) ? evaluate(n.a, scope) : evaluate(n.b, scope);
    case 'list':
      return n.items.map((x) => evaluate(x, scope));
    case 'dict': {
      const out = Object.create(null) as Dict;
      for (const [k, v] of n.items) out[str(evaluate(k, scope))] = evaluate(v, scope);
      return out;
    }
    case 'comp': {
      const list: unknown[] = [];
      const dict = Object.create(null) as Dict;
      const run = (level: number, locals: Map<string, unknown>): void => {
        const gen = n.gens[level];
        const inner: PyScope = { locals, context: scope.context };
        if (!gen) {
          if (n.kind === 'list') list.push(evaluate(n.elt, inner));
          else dict[str(evaluate(n.elt, inner))] = evaluate(n.val as PyNode, inner);
          return;
        }
        for (const item of iterate(evaluate(gen.iter, inner))) {
          const next = new Map(locals);
          bindTarget(gen.target, item, next);
          const s: PyScope = { locals: next, context: scope.context };
          if (gen.ifs.every((c) => truthy(evaluate(c, s)))) run(level + 1, next);
        }
      };
      run(0, new Map(scope.locals ?? []));
      return n.kind === 'list' ? list : dict;
    }
  }
}
