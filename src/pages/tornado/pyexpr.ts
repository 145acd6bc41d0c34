/**
 * Python expressions, as databench 0.4–0.7 page templates (Tornado templates)
 * hold them: `{{ a['name'] }}`, `{% if footer_html is None %}`,
 * `{% for a in [aa for aa in meta_infos if aa['show_in_index']] %}`,
 * `{{ globals().get('title', 'Databench') }}`. A parser and an interpreter,
 * with Python's semantics, for the part of Python that reads and tests the
 * page's data, which is all those templates used:
 *
 * - names, string and number literals, `True`, `False`, `None`, list and
 *   tuple displays;
 * - subscripts (`a['name']`, `xs[-1]`); `.get`, `.keys`, `.values`, `.items`
 *   of a dict; `globals()` and Tornado's `escape`, `xhtml_escape`,
 *   `url_escape`, `json_encode`, `squeeze`;
 * - `not`, `and`, `or`, `x if c else y`, comparisons (chained), `in`,
 *   `not in`, `is`, `is not`;
 * - list comprehensions with one `for` and any `if`s.
 *
 * Nothing computes: no arithmetic, no `%` or `str.format`, no slices, no
 * other methods or builtins (a template that needs a value gets it from the
 * analysis). Values are JavaScript data: null and undefined are `None`,
 * arrays are lists and tuples, plain objects are dicts. Only data is
 * reachable: no prototype, constructor or function of the page's variables.
 *
 * Evaluation counts its work against the render's {@link RenderBudget}: a
 * step per node, per item iterated, looked through or compared, and the
 * characters of every string it builds, so no expression over the page's
 * data can keep the server busy or take its memory.
 */

import { DatabenchError } from '../../protocol/errors.js';
import { UNLIMITED, type RenderBudget } from '../render-budget.js';

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
  | { k: 'call'; fn: PyNode; args: PyNode[] }
  | { k: 'not'; a: PyNode }
  | { k: 'bool'; op: 'and' | 'or'; a: PyNode; b: PyNode }
  | { k: 'cmp'; first: PyNode; rest: Array<[string, PyNode]> }
  | { k: 'ifexp'; test: PyNode; a: PyNode; b: PyNode }
  | { k: 'list'; items: PyNode[] }
  | { k: 'comp'; elt: PyNode; target: Target; iter: PyNode; ifs: PyNode[] };

/** A loop target: a name or a tuple of targets. */
export type Target = string | Target[];

/** Operators the tokenizer knows; the arithmetic ones only to say they are not supported. */
const OPS = ['==', '!=', '<=', '>=', '**', '//', '<<', '>>', ...'()[]{},:.<>+-*/%|&^~='];
const ARITHMETIC = new Set(['**', '//', '<<', '>>', ...'+-*/%|&^~']);
const COMPARE = new Set(['<', '>', '==', '>=', '<=', '!=']);
const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'is', 'if', 'else', 'for', 'lambda']);
const ESCAPES: Record<string, string> = {
  n: '\n',
  t: '\t',
  r: '\r',
  '0': '\0',
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
  '\\': '\\',
  "'": "'",
  '"': '"',
  '\n': '',
};
const NOT_COMPUTED = 'page templates read and test the page’s data; compute values in the analysis';

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  const where = (p: number): string => `at column ${p + 1} of ${JSON.stringify(src)}`;
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
      const prefix = strStart[1] ?? '';
      if (/b/i.test(prefix))
        throw new PyError('SyntaxError', `bytes literals are not supported ${where(p)}`);
      const raw = /r/i.test(prefix);
      const quote = strStart[2] ?? "'";
      i += prefix.length;
      const q = src.startsWith(quote.repeat(3), i) ? quote.repeat(3) : quote;
      i += q.length;
      let v = '';
      for (;;) {
        if (i >= src.length)
          throw new PyError('SyntaxError', `unterminated string starting ${where(p)}`);
        if (src.startsWith(q, i)) {
          i += q.length;
          break;
        }
        const ch = src[i] ?? '';
        const n = src[i + 1] ?? '';
        if (ch === '\\' && raw) {
          // a raw string keeps the backslash, and the quote after it
          v += ch + n;
          i += 2;
        } else if (ch === '\\' && (n === 'u' || n === 'x')) {
          const len = n === 'u' ? 4 : 2;
          const hex = src.slice(i + 2, i + 2 + len);
          if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex))
            throw new PyError('SyntaxError', `truncated \\${n} escape ${where(i)}`);
          v += String.fromCharCode(parseInt(hex, 16));
          i += 2 + len;
        } else if (ch === '\\') {
          // an unknown escape keeps its backslash, as in Python
          v += ESCAPES[n] ?? ch + n;
          i += 2;
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
    const num = /^\d+(?:\.\d+)?/.exec(src.slice(i));
    if (num) {
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
    if (!op)
      throw new PyError('SyntaxError', `unexpected character ${JSON.stringify(c)} ${where(p)}`);
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
  /** A SyntaxError at the current token: what was wrong, its column (from 1) and the text there. */
  fail(what: string): never {
    const t = this.peek();
    const near =
      t.t === 'end'
        ? `at the end (column ${t.p + 1})`
        : `at "${this.src.slice(t.p, t.p + 12)}" (column ${t.p + 1})`;
    throw new PyError('SyntaxError', `${what} ${near} of ${JSON.stringify(this.src)}`);
  }
  atEnd(): boolean {
    return this.peek().t === 'end';
  }
  /** After a complete operand: an operator of the Python that computes gets its own message. */
  private unsupported(): void {
    const t = this.peek();
    if (t.t === 'op' && !COMPARE.has(t.v) && !'()[],.'.includes(t.v))
      this.fail(
        t.v === ':'
          ? `slices are not supported (${NOT_COMPUTED})`
          : `the operator ${t.v} is not supported (${NOT_COMPUTED})`,
      );
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
    if (this.eatKw('not')) return { k: 'not', a: this.notTest() };
    return this.comparison();
  }
  private comparison(): PyNode {
    const first = this.primary();
    const rest: Array<[string, PyNode]> = [];
    for (;;) {
      const t = this.peek();
      let op: string | undefined;
      if (t.t === 'op' && COMPARE.has(t.v)) op = t.v;
      else if (this.isKw('in')) op = 'in';
      else if (this.isKw('is')) op = 'is';
      else if (this.isKw('not') && this.toks[this.i + 1]?.v === 'in') op = 'not in';
      if (!op) break;
      this.i += op === 'not in' ? 2 : 1;
      if (op === 'is' && this.eatKw('not')) op = 'is not';
      rest.push([op, this.primary()]);
    }
    return rest.length ? { k: 'cmp', first, rest } : first;
  }
  /** An atom with its subscripts, attributes and calls; a number may have a minus. */
  private primary(): PyNode {
    const num = this.toks[this.i + 1];
    let node: PyNode;
    if (this.isOp('-') && num?.t === 'num') {
      this.i += 2;
      node = { k: 'const', v: -num.v };
    } else node = this.atom();
    for (;;) {
      if (this.eatOp('.')) {
        const t = this.peek();
        if (t.t !== 'name') this.fail('expected an attribute name');
        this.i++;
        node = { k: 'attr', obj: node, name: t.v };
      } else if (this.eatOp('[')) {
        if (this.isOp(':')) this.unsupported();
        node = { k: 'sub', obj: node, index: this.test() };
        this.unsupported();
        this.expectOp(']');
      } else if (this.eatOp('(')) {
        node = { k: 'call', fn: node, args: this.items(')') };
      } else {
        this.unsupported();
        return node;
      }
    }
  }
  /** `a, b, …` up to `close` (a trailing comma allowed), the opening bracket eaten. */
  private items(close: string): PyNode[] {
    const items: PyNode[] = [];
    while (!this.eatOp(close)) {
      if (this.peek().t === 'name' && this.toks[this.i + 1]?.v === '=')
        this.fail('keyword arguments are not supported');
      items.push(this.test());
      if (this.isKw('for'))
        this.fail(`a comprehension here is not supported (only [x for x in …] is)`);
      if (!this.eatOp(',')) {
        this.expectOp(close);
        break;
      }
    }
    return items;
  }
  /** Loop targets as in `for k, v in …`: a name, or a tuple of targets. */
  target(): Target {
    const one = (): Target => {
      if (this.eatOp('(')) {
        const t = this.target();
        this.expectOp(')');
        return t;
      }
      const t = this.peek();
      if (t.t !== 'name' || KEYWORDS.has(t.v)) this.fail('expected a loop variable');
      this.i++;
      return t.v;
    };
    const first = one();
    if (!this.isOp(',')) return first;
    const list = [first];
    while (this.eatOp(',') && !this.isKw('in') && !this.atEnd() && !this.isOp(')'))
      list.push(one());
    return list;
  }
  private atom(): PyNode {
    const t = this.peek();
    this.i++;
    switch (t.t) {
      case 'num':
      case 'str':
        return { k: 'const', v: t.v };
      case 'name':
        if (t.v === 'True') return { k: 'const', v: true };
        if (t.v === 'False') return { k: 'const', v: false };
        if (t.v === 'None') return { k: 'const', v: null };
        if (!KEYWORDS.has(t.v)) return { k: 'name', id: t.v };
        break;
      case 'op':
        if (t.v === '(') {
          if (this.eatOp(')')) return { k: 'list', items: [] };
          const first = this.test();
          if (this.eatOp(')')) return first;
          if (this.isKw('for'))
            this.fail('generator expressions are not supported (only [x for x in …] is)');
          this.expectOp(',');
          return { k: 'list', items: [first, ...this.items(')')] };
        }
        if (t.v === '[') {
          if (this.eatOp(']')) return { k: 'list', items: [] };
          const first = this.test();
          if (this.eatKw('for')) {
            const target = this.target();
            if (!this.eatKw('in')) this.fail('expected "in"');
            const iter = this.orTest();
            const ifs: PyNode[] = [];
            while (this.eatKw('if')) ifs.push(this.orTest());
            if (this.isKw('for')) this.fail('a comprehension takes one "for" here');
            this.expectOp(']');
            return { k: 'comp', elt: first, target, iter, ifs };
          }
          if (this.eatOp(']')) return { k: 'list', items: [first] };
          this.expectOp(',');
          return { k: 'list', items: [first, ...this.items(']')] };
        }
        this.i--;
        if (t.v === '{') this.fail(`dict and set displays are not supported (${NOT_COMPUTED})`);
        if (ARITHMETIC.has(t.v))
          this.fail(`the operator ${t.v} is not supported (${NOT_COMPUTED})`);
        return this.fail('unexpected token');
      default:
        break;
    }
    this.i--;
    return this.fail('unexpected token');
  }
}

const parsed = new Map<string, PyNode>();

/** Parse one expression; cached by its text. */
export function parsePy(src: string): PyNode {
  let node = parsed.get(src);
  if (node) return node;
  const p = new Parser(tokenize(src), src);
  if (p.atEnd()) throw new PyError('SyntaxError', 'empty expression');
  node = p.test();
  if (!p.atEnd()) p.fail('unexpected text');
  if (parsed.size > 10_000) parsed.clear();
  parsed.set(src, node);
  return node;
}

/** Parse the loop targets of a `for` (`x`, `k, v`, `(i, (a, b))`). */
export function parseTarget(src: string): Target {
  const p = new Parser(tokenize(src), src);
  const t = p.target();
  if (!p.atEnd()) p.fail('unexpected text');
  return t;
}

// values -----------------------------------------------------------------------

/** A function made for templates: Tornado's helpers, `globals()` and the dict methods. */
class PyFunc {
  constructor(
    readonly name: string,
    readonly fn: (args: unknown[], budget: RenderBudget) => unknown,
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
  // everything else is true, NaN included (Python's bool(float('nan')))
  return true;
}

function reprStr(s: string, b: RenderBudget): string {
  b.build(s.length + 2);
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  return (
    q +
    s
      .replace(/\\/g, '\\\\')
      .replace(/\n/g, '\\n')
      .replace(/\r/g, '\\r')
      .replace(/\t/g, '\\t')
      .replace(new RegExp(q, 'g'), '\\' + q) +
    q
  );
}

function repr(v: unknown, b: RenderBudget): string {
  return typeof v === 'string' ? reprStr(v, b) : str(v, b);
}

/** Python's `str()` of a value; a list or dict counts its items and the characters it builds. */
export function str(v: unknown, b: RenderBudget = UNLIMITED): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'nan';
    if (v === Infinity) return 'inf';
    if (v === -Infinity) return '-inf';
    return String(v);
  }
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    b.step(v.length);
    return '[' + v.map((x) => repr(x, b)).join(', ') + ']';
  }
  if (isDict(v)) {
    const entries = Object.entries(v);
    b.step(entries.length);
    return '{' + entries.map(([k, x]) => `${reprStr(k, b)}: ${repr(x, b)}`).join(', ') + '}';
  }
  if (v instanceof PyFunc) return `<function ${v.name}>`;
  // a function or class instance among the page's variables: named, never called
  return `<${typeName(v)}>`;
}

function eq(a: unknown, b: unknown, budget: RenderBudget): boolean {
  budget.step();
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true;
  if (typeof a === 'boolean' || typeof b === 'boolean') return Number(a) === Number(b);
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => eq(x, b[i], budget));
  if (isDict(a) && isDict(b)) {
    const ka = Object.keys(a);
    return (
      ka.length === Object.keys(b).length &&
      ka.every((k) => Object.hasOwn(b, k) && eq(a[k], b[k], budget))
    );
  }
  return a === b;
}

function compare(a: unknown, b: unknown, op: string, budget: RenderBudget): boolean {
  if (typeof a === 'boolean') a = Number(a);
  if (typeof b === 'boolean') b = Number(b);
  let c: number;
  if (typeof a === 'number' && typeof b === 'number') c = a < b ? -1 : a > b ? 1 : 0;
  else if (typeof a === 'string' && typeof b === 'string') c = a < b ? -1 : a > b ? 1 : 0;
  else if (Array.isArray(a) && Array.isArray(b)) {
    c = 0;
    for (let i = 0; i < Math.min(a.length, b.length) && c === 0; i++) {
      if (!eq(a[i], b[i], budget)) c = compare(a[i], b[i], '<', budget) ? -1 : 1;
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

function contains(container: unknown, item: unknown, b: RenderBudget): boolean {
  if (typeof container === 'string') {
    if (typeof item !== 'string')
      throw new PyError(
        'TypeError',
        `'in <string>' requires string as left operand, not ${typeName(item)}`,
      );
    b.step(container.length);
    return container.includes(item);
  }
  if (Array.isArray(container)) return container.some((x) => eq(x, item, b));
  if (isDict(container)) return typeof item === 'string' && Object.hasOwn(container, item);
  throw new PyError('TypeError', `argument of type '${typeName(container)}' is not iterable`);
}

/** Python iteration: a list's items, a dict's keys, a string's characters; a step per item. */
export function iterate(v: unknown, b: RenderBudget = UNLIMITED): unknown[] {
  if (Array.isArray(v)) {
    b.step(v.length);
    return v;
  }
  if (typeof v === 'string') {
    b.step(v.length);
    return [...v];
  }
  if (isDict(v)) {
    const keys = Object.keys(v);
    b.step(keys.length);
    return keys;
  }
  throw new PyError('TypeError', `'${typeName(v)}' object is not iterable`);
}

function getItem(obj: unknown, key: unknown, b: RenderBudget): unknown {
  if (Array.isArray(obj) || typeof obj === 'string') {
    const what = typeof obj === 'string' ? 'string' : 'list';
    if (typeof key === 'boolean') key = Number(key);
    if (typeof key !== 'number' || !Number.isInteger(key))
      throw new PyError('TypeError', `${what} indices must be integers, not '${typeName(key)}'`);
    // a string indexes by code point, as Python's does
    if (typeof obj === 'string') b.step(obj.length);
    const seq: unknown[] = typeof obj === 'string' ? [...obj] : obj;
    const i = key < 0 ? key + seq.length : key;
    if (i < 0 || i >= seq.length) throw new PyError('IndexError', `${what} index out of range`);
    return seq[i];
  }
  if (isDict(obj)) {
    if (typeof key === 'string' && Object.hasOwn(obj, key)) return obj[key];
    throw new PyError('KeyError', repr(key, b));
  }
  throw new PyError('TypeError', `'${typeName(obj)}' object is not subscriptable`);
}

function fn(name: string, f: (args: unknown[], budget: RenderBudget) => unknown): PyFunc {
  return new PyFunc(name, f);
}

function arity(name: string, args: unknown[], min: number, max: number): void {
  if (args.length < min || args.length > max)
    throw new PyError(
      'TypeError',
      `${name}() takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? '' : 's'} (${args.length} given)`,
    );
}

function counted<T>(items: T[], b: RenderBudget): T[] {
  b.step(items.length);
  return items;
}

function getAttr(obj: unknown, name: string): unknown {
  if (isDict(obj)) {
    // a step per item: the result is a new list
    const methods: Record<string, (a: unknown[], b: RenderBudget) => unknown> = {
      get: (a) => {
        arity('get', a, 1, 2);
        return typeof a[0] === 'string' && Object.hasOwn(obj, a[0]) ? obj[a[0]] : (a[1] ?? null);
      },
      keys: (a, b) => (arity('keys', a, 0, 0), counted(Object.keys(obj), b)),
      values: (a, b) => (arity('values', a, 0, 0), counted(Object.values(obj), b)),
      items: (a, b) => (arity('items', a, 0, 0), counted(Object.entries(obj), b)),
    };
    const method = Object.hasOwn(methods, name) ? methods[name] : undefined;
    if (method) return fn(name, method);
  }
  throw new PyError(
    'AttributeError',
    `'${typeName(obj)}' object has no attribute '${name}' (page templates call only a dict's get, keys, values and items)`,
  );
}

/** Tornado's `xhtml_escape`: `& < > " '` as entities, nothing else (a backslash stays). */
export function xhtmlEscape(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": '#39' }[c] ?? ''};`,
  );
}

/** Python's `json.dumps` with its defaults (`, ` and `: ` separators, non-ASCII as `\uXXXX`). */
function pyJson(v: unknown, b: RenderBudget): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
    return String(v);
  }
  if (typeof v === 'string') {
    b.build(v.length + 2);
    return JSON.stringify(v).replace(
      /[\u007f-\uffff]/g,
      (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'),
    );
  }
  if (Array.isArray(v)) {
    b.step(v.length);
    return '[' + v.map((x) => pyJson(x, b)).join(', ') + ']';
  }
  if (isDict(v)) {
    const entries = Object.entries(v);
    b.step(entries.length);
    return '{' + entries.map(([k, x]) => `${pyJson(k, b)}: ${pyJson(x, b)}`).join(', ') + '}';
  }
  throw new PyError('TypeError', `Object of type ${typeName(v)} is not JSON serializable`);
}

/** A helper of Tornado's that takes one str (and maybe one more argument); it builds a new one. */
function strHelper(name: string, max: number, f: (s: string, a: unknown[]) => string): PyFunc {
  return fn(name, (a, b) => {
    arity(name, a, 1, max);
    if (typeof a[0] !== 'string')
      throw new PyError('TypeError', `${name}() expects a str, got '${typeName(a[0])}'`);
    b.build(a[0].length);
    return f(a[0], a);
  });
}

/** Tornado's template namespace (databench's templates called `globals()` only). */
const HELPERS: Record<string, PyFunc> = {
  escape: strHelper('escape', 1, xhtmlEscape),
  xhtml_escape: strHelper('xhtml_escape', 1, xhtmlEscape),
  url_escape: strHelper('url_escape', 2, (s, a) => {
    let e: string;
    try {
      // Python's quote also escapes !'()*
      e = encodeURIComponent(s).replace(
        /[!'()*]/g,
        (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
      );
    } catch {
      throw new PyError('UnicodeEncodeError', 'url_escape() got a lone surrogate');
    }
    // url_escape(s) is quote_plus (space as +); url_escape(s, False) is quote (keeps /)
    return a.length < 2 || truthy(a[1]) ? e.replace(/%20/g, '+') : e.replace(/%2F/g, '/');
  }),
  json_encode: fn('json_encode', (a, b) => {
    arity('json_encode', a, 1, 1);
    return pyJson(a[0], b).replace(/<\//g, '<\\/');
  }),
  // runs of \x00-\x20 (everything below "!") as one space, as Tornado's squeeze
  squeeze: strHelper('squeeze', 1, (s) => s.replace(/[^\x21-\uffff]+/g, ' ').trim()),
};

const PY_BUILTINS = new Set(
  'len str int float bool list tuple dict set range enumerate zip sorted reversed min max sum abs round any all repr isinstance map filter format'.split(
    ' ',
  ),
);

/** Where names are looked up: comprehension and template locals, then the page's variables, then Tornado's helpers. */
export interface PyScope {
  locals: ReadonlyMap<string, unknown> | undefined;
  context: Readonly<Dict>;
  /** What the render may still spend. Default: no limit. */
  budget?: RenderBudget | undefined;
}

function lookupName(id: string, scope: PyScope): unknown {
  if (scope.locals?.has(id)) return scope.locals.get(id);
  if (id === 'globals')
    return fn(
      'globals',
      (_a, b) => (b.step(Object.keys(scope.context).length), { ...scope.context }),
    );
  if (Object.hasOwn(scope.context, id) && scope.context[id] !== undefined) return scope.context[id];
  if (Object.hasOwn(HELPERS, id)) return HELPERS[id];
  if (PY_BUILTINS.has(id))
    throw new PyError(
      'NameError',
      `name '${id}' is not defined: Python's builtins are not available (${NOT_COMPUTED})`,
    );
  throw new PyError('NameError', `name '${id}' is not defined`);
}

function bindTarget(
  target: Target,
  value: unknown,
  into: Map<string, unknown>,
  b: RenderBudget,
): void {
  if (typeof target === 'string') {
    into.set(target, value);
    return;
  }
  const items = iterate(value, b);
  if (items.length !== target.length)
    throw new PyError(
      'ValueError',
      items.length > target.length
        ? `too many values to unpack (expected ${target.length})`
        : `not enough values to unpack (expected ${target.length}, got ${items.length})`,
    );
  target.forEach((t, i) => bindTarget(t, items[i], into, b));
}

/** Evaluate a parsed expression, a step per node (and per item it goes through) from the scope's budget. */
export function evaluate(n: PyNode, scope: PyScope): unknown {
  const b = scope.budget ?? UNLIMITED;
  b.step();
  switch (n.k) {
    case 'const':
      return n.v;
    case 'name':
      return lookupName(n.id, scope);
    case 'attr':
      return getAttr(evaluate(n.obj, scope), n.name);
    case 'sub':
      return getItem(evaluate(n.obj, scope), evaluate(n.index, scope), b);
    case 'call': {
      const f = evaluate(n.fn, scope);
      if (!(f instanceof PyFunc))
        throw new PyError('TypeError', `'${typeName(f)}' object is not callable`);
      return f.fn(
        n.args.map((a) => evaluate(a, scope)),
        b,
      );
    }
    case 'not':
      return !truthy(evaluate(n.a, scope));
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
            ok = eq(left, right, b);
            break;
          case '!=':
            ok = !eq(left, right, b);
            break;
          case 'in':
            ok = contains(right, left, b);
            break;
          case 'not in':
            ok = !contains(right, left, b);
            break;
          case 'is':
          case 'is not': {
            const same = (left ?? null) === (right ?? null);
            ok = op === 'is' ? same : !same;
            break;
          }
          default:
            ok = compare(left, right, op, b);
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
    case 'comp': {
      const out: unknown[] = [];
      const locals = new Map(scope.locals ?? []);
      const inner: PyScope = { locals, context: scope.context, budget: b };
      for (const item of iterate(evaluate(n.iter, scope), b)) {
        bindTarget(n.target, item, locals, b);
        if (n.ifs.every((c) => truthy(evaluate(c, inner)))) out.push(evaluate(n.elt, inner));
      }
      return out;
    }
  }
}
