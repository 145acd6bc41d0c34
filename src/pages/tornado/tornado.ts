/**
 * databench 0.4–0.7 page templates are Tornado templates: `{% block x %}…{% end %}`,
 * `{% if … %}`, `{% for … %}`, `{% raw expr %}`, `{{ expr }}` (escaped),
 * `{% extends %}`, `{# … #}`, with Python expressions. This module spots such a
 * file and translates it, at load time, into a Nunjucks template that renders
 * the same page: the structure maps tag for tag, and every Python expression
 * becomes a call of `__py(mode, "source", {locals})`, which evaluates it with
 * Python semantics (pyexpr.ts). Line numbers are kept, so an error in a page
 * names the line of the original file.
 */
import nunjucks from 'nunjucks';
import { LOOP_ITEM_STEPS, UNLIMITED, type RenderBudget } from '../render-budget.js';
import {
  evaluate,
  iterate,
  parsePy,
  parseTarget,
  PyError,
  str,
  truthy,
  type Target,
  xhtmlEscape,
} from './pyexpr.js';
import { TemplateSyntaxError } from './syntax-error.js';

export { TemplateSyntaxError };

const TORNADO_END = /\{%\s*end\s*%\}/;
const TORNADO_ONLY =
  /\{%\s*(?:raw\s+(?!%\})\S|apply\s|try\s*%|except\b|finally\s*%|while\s|module\s|autoescape\s|whitespace\s|comment\b)/;
const NUNJUCKS_ONLY = /\{%-?\s*end[a-z]+\s*-?%\}|\{[{%]-|-[}%]\}/;

/**
 * Which engine a page's text is written for: `tornado` when it uses syntax
 * only Tornado has (`{% end %}`, `{% raw expr %}`, …), otherwise `nunjucks`
 * (a file with only `{% extends %}` and `{{ name }}` renders the same in both).
 * Throws when a file mixes the two.
 */
export function templateFlavor(source: string, file: string): 'tornado' | 'nunjucks' {
  const tornado = TORNADO_END.exec(source) ?? TORNADO_ONLY.exec(source);
  if (!tornado) return 'nunjucks';
  const nunjucksTag = NUNJUCKS_ONLY.exec(source);
  if (nunjucksTag) {
    throw new TemplateSyntaxError(
      `mixes Tornado syntax (${tornado[0]} on line ${lineAt(source, tornado.index)}) with Nunjucks syntax (${nunjucksTag[0]}); use one`,
      file,
      lineAt(source, nunjucksTag.index),
    );
  }
  return 'tornado';
}

function lineAt(source: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < source.length; i++) if (source.charCodeAt(i) === 10) line++;
  return line;
}

/** A string literal Nunjucks reads back verbatim (its lexer knows \\n, \\t, \\r and \\<char>). */
function njString(s: string): string {
  return (
    '"' +
    s
      .replace(/\\/g, '\\\\')
      .replace(/"/g, '\\"')
      .replace(/\n/g, '\\n')
      .replace(/\r/g, '\\r')
      .replace(/\t/g, '\\t') +
    '"'
  );
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A tag's text in a message: at most 80 characters of it. */
function cut(text: string): string {
  return text.length > 80 ? text.slice(0, 80) + '…' : text;
}

/**
 * Where the next `{{`, `{%` or `{#` starts, as Tornado finds it: a `{` before
 * another pair (`{{{ x }}}`) is text, and so is a `{` that ends the file.
 */
function nextDirective(source: string, from: number): number {
  let curly = from;
  for (;;) {
    curly = source.indexOf('{', curly);
    if (curly < 0 || curly + 1 >= source.length) return -1;
    const next = source[curly + 1];
    if (next !== '{' && next !== '%' && next !== '#') curly++;
    else if (next === '{' && source[curly + 2] === '{') curly++;
    else return curly;
  }
}

/** Whitespace as Python's `\\s` (str.isspace) has it: JavaScript's `\\s` differs in a few code points. */
const PY_SPACE =
  '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const SPACE_RUN = new RegExp(`[${PY_SPACE}]+`, 'g');
const TABS_SPACES = /[\t ]+/g;

/** Tornado's whitespace modes: `all` keeps text as it is, `single` and `oneline` collapse runs. */
type WhitespaceMode = 'all' | 'single' | 'oneline';

/**
 * A text chunk as Tornado writes it in `mode` (a chunk holding `<pre>` stays
 * as it is), with every newline the mode drops kept in a Nunjucks comment, so
 * the lines of the translation stay those of the file.
 */
function filterWhitespace(text: string, mode: WhitespaceMode): string {
  if (mode === 'all' || text.includes('<pre>')) return text;
  const dropped = (run: string, kept: number): string => {
    const n = run.split('\n').length - 1 - kept;
    return n > 0 ? `{#${'\n'.repeat(n)}#}` : '';
  };
  if (mode === 'oneline') return text.replace(SPACE_RUN, (run) => ' ' + dropped(run, 0));
  // Tornado replaces `\s*\n\s*`: every run of whitespace that holds a newline,
  // whole. Matching runs and keeping those without one is the same, in linear
  // time (that pattern rescans a long run without a newline from each of its
  // characters)
  return text
    .replace(TABS_SPACES, ' ')
    .replace(SPACE_RUN, (run) => (run.includes('\n') ? '\n' + dropped(run, 1) : run));
}

/**
 * `targets in iterable` of a `{% for %}` split at the first ` in `, in
 * linear time: `/^(.+?)\s+in\s+(.+)$/` rescans a long run of spaces from
 * each of its characters. Undefined when there is no ` in ` between two parts.
 */
export function splitFor(suffix: string): [targets: string, iterable: string] | undefined {
  const m = /\sin\s/.exec(suffix);
  if (!m) return undefined;
  const targets = suffix.slice(0, m.index).trim();
  const iterable = suffix.slice(m.index + 4).trim();
  return targets === '' || iterable === '' ? undefined : [targets, iterable];
}

/** Operators of an augmented assignment (`{% set x += 1 %}`), longest first. */
const AUGMENTED = ['**', '//', '<<', '>>', ...'-+*/%|&^@'];

/**
 * `target = value` of a `{% set %}` split at the first `=` that is not part
 * of `==`, in linear time; `op` is the operator of an augmented assignment
 * (`+=`). Undefined when there is no such `=` between two parts.
 */
export function splitSet(
  suffix: string,
): { target: string; op: string | undefined; value: string } | undefined {
  for (let i = suffix.indexOf('='); i >= 0; i = suffix.indexOf('=', i + 1)) {
    if (suffix[i + 1] === '=') {
      // `==` is a comparison: skip both
      i++;
      continue;
    }
    let target = suffix.slice(0, i);
    const value = suffix.slice(i + 1).trim();
    const op = AUGMENTED.find((o) => target.endsWith(o));
    if (op !== undefined) target = target.slice(0, -op.length);
    target = target.trim();
    if (target === '' || value === '') return undefined;
    return { target, op, value };
  }
  return undefined;
}

/** Nunjucks block names are identifiers; Tornado's are any word (`d-container-class`). */
function blockName(name: string): string {
  if (IDENT.test(name) && !/^(?:true|false|none|True|False|None)$/.test(name)) return name;
  return '__tb_' + name.replace(/[^A-Za-z0-9]/g, (c) => `_${c.charCodeAt(0).toString(16)}_`);
}

interface Open {
  op: 'block' | 'if' | 'for' | 'apply';
  line: number;
  /** `for … else`: the loop was closed at the `else`. */
  closed?: boolean;
  scope: Set<string>;
}

/**
 * Translate a Tornado template into Nunjucks source with the same line
 * numbers. Every expression is parsed here, so a syntax error is reported
 * with its file and line when the page loads.
 */
export function translateTornado(source: string, file: string): string {
  const out: string[] = [];
  const stack: Open[] = [];
  const topScope = new Set<string>();
  // {% autoescape %} holds for the whole file, wherever it stands: the
  // expressions' modes are filled in at the end
  let autoescape = true;
  const escaped: Array<{ at: number; src: string; locals: string; keep: string }> = [];
  // Tornado compresses whitespace in .html and .js files unless told otherwise
  let whitespace: WhitespaceMode = /\.(?:html|js)$/.test(file) ? 'single' : 'all';
  let temp = 0;
  let pos = 0;
  let line = 1;
  const fail = (message: string, at = line): never => {
    throw new TemplateSyntaxError(message, file, at);
  };
  const scopeNames = (): string[] => {
    const names = new Set(topScope);
    for (const o of stack) for (const n of o.scope) names.add(n);
    return [...names];
  };
  const locals = (): string =>
    '{' +
    scopeNames()
      .map((n) => `${njString(n)}: ${n}`)
      .join(', ') +
    '}';
  const expr = (src: string, what: string): string => {
    const text = src.trim();
    if (text === '') fail(`empty ${what}`);
    try {
      parsePy(text);
    } catch (error) {
      fail(`${what}: ${(error as Error).message}`);
    }
    return text;
  };
  const call = (mode: string, src: string, what: string): string =>
    `__py(${njString(mode)}, ${njString(expr(src, what))}, ${locals()})`;
  const newlines = (text: string): string => '\n'.repeat(text.split('\n').length - 1);
  const bind = (target: Target, from: string, scope: Set<string>): string => {
    if (typeof target === 'string') {
      scope.add(target);
      return `{% set ${target} = ${from} %}`;
    }
    return target.map((t, i) => bind(t, `${from}[${i}]`, scope)).join('');
  };
  const current = (): Set<string> => stack[stack.length - 1]?.scope ?? topScope;
  const emitText = (text: string): void => {
    if (text === '') return;
    line += newlines(text).length;
    // `#}` ends a comment for Nunjucks even in plain text
    let filtered = filterWhitespace(text.replace(/#\}/g, `#{{ ${njString('}')} }}`), whitespace);
    // a `{` before the next tag (from `{{{ x }}}`) would open a Nunjucks tag
    if (filtered.endsWith('{')) filtered = filtered.slice(0, -1) + `{{ ${njString('{')} }}`;
    out.push(filtered);
  };

  while (pos < source.length) {
    const start = nextDirective(source, pos);
    emitText(source.slice(pos, start < 0 ? source.length : start));
    if (start < 0) break;
    const kind = source[start + 1];
    if (source[start + 2] === '!') {
      // {{! {%! {#! print the opening literally
      out.push(`{{ ${njString('{' + kind)} }}`);
      pos = start + 3;
      continue;
    }
    const close = kind === '{' ? '}}' : kind === '%' ? '%}' : '#}';
    const end = source.indexOf(close, start + 2);
    if (end < 0) fail(`missing ${close}`);
    const body = source.slice(start + 2, end);
    const tagLine = line;
    const keep = newlines(body);
    line += keep.length;
    pos = end + 2;

    if (kind === '#') {
      out.push(`{#${keep}#}`);
      continue;
    }
    if (kind === '{') {
      escaped.push({ at: out.length, src: expr(body, 'expression'), locals: locals(), keep });
      out.push('');
      continue;
    }
    const content = body.trim();
    const m = /^(\w+)\s*([\s\S]*)$/.exec(content);
    if (!m) fail(`empty or malformed tag {%${body}%}`, tagLine);
    const op = m?.[1] ?? '';
    const suffix = (m?.[2] ?? '').trim();
    const tag = (s: string): void => {
      out.push(`{% ${s}${keep} %}`);
    };
    const quoted = (): string => {
      const name = suffix.replace(/^["']|["']$/g, '');
      if (name === '') fail(`{% ${op} %} needs a template name`, tagLine);
      return njString(name);
    };
    const top = stack[stack.length - 1];
    switch (op) {
      case 'extends':
      case 'include':
        tag(`${op} ${quoted()}`);
        break;
      case 'block':
        if (suffix === '') fail('{% block %} needs a name', tagLine);
        stack.push({ op: 'block', line: tagLine, scope: new Set() });
        tag(`block ${blockName(suffix)}`);
        break;
      case 'if':
        stack.push({ op: 'if', line: tagLine, scope: new Set() });
        tag(`if ${call('t', suffix, 'if condition')}`);
        break;
      case 'elif':
        if (top?.op !== 'if') fail('{% elif %} outside an {% if %}', tagLine);
        tag(`elif ${call('t', suffix, 'elif condition')}`);
        break;
      case 'else':
        if (top?.op === 'if') tag('else');
        else if (top?.op === 'for' && !top.closed) {
          // Python's for … else: the else part runs after a loop that did not
          // break, and templates cannot break, so it always runs
          top.closed = true;
          tag('endfor');
        } else fail('{% else %} outside an {% if %} or {% for %}', tagLine);
        break;
      case 'for': {
        const fm = splitFor(suffix);
        if (!fm) fail(`{% for %} needs "targets in iterable", got "${cut(suffix)}"`, tagLine);
        let target: Target = '';
        try {
          target = parseTarget(fm?.[0] ?? '');
        } catch (error) {
          fail(`for targets: ${(error as Error).message}`, tagLine);
        }
        const iter = call('i', fm?.[1] ?? '', 'for iterable');
        const scope = new Set<string>();
        stack.push({ op: 'for', line: tagLine, scope });
        if (typeof target === 'string') {
          scope.add(target);
          tag(`for ${target} in ${iter}`);
        } else {
          const t = `__t${++temp}`;
          out.push(`{% for ${t} in ${iter}${keep} %}`);
          out.push(bind(target, t, scope));
        }
        break;
      }
      case 'set': {
        const sm = splitSet(suffix);
        if (!sm) fail(`{% set %} needs "name = expression", got "${cut(suffix)}"`, tagLine);
        const lhs = sm?.target ?? '';
        if (sm?.op !== undefined)
          fail(
            `{% set ${lhs} ${sm.op}= … %} computes, which page templates do not: compute values in the analysis`,
            tagLine,
          );
        const rhs = sm?.value ?? '';
        let target: Target = '';
        try {
          target = parseTarget(lhs);
        } catch (error) {
          fail(`set target: ${(error as Error).message}`, tagLine);
        }
        const value = call('v', rhs, 'set value');
        if (typeof target === 'string') {
          current().add(target);
          tag(`set ${target} = ${value}`);
        } else {
          const t = `__s${++temp}`;
          out.push(`{% set ${t} = ${value}${keep} %}`);
          out.push(bind(target, t, current()));
        }
        break;
      }
      case 'raw':
        out.push(`{{ ${call('r', suffix, 'raw expression')}${keep} }}`);
        break;
      case 'apply':
        stack.push({ op: 'apply', line: tagLine, scope: new Set() });
        tag(`filter __py_apply(${njString(expr(suffix, 'apply function'))}, ${locals()})`);
        break;
      case 'autoescape':
        autoescape = suffix !== 'None';
        if (keep) out.push(`{#${keep}#}`);
        break;
      case 'whitespace':
        if (suffix !== 'all' && suffix !== 'single' && suffix !== 'oneline')
          fail(`{% whitespace %} takes all, single or oneline, got "${suffix}"`, tagLine);
        whitespace = suffix as WhitespaceMode;
        if (keep) out.push(`{#${keep}#}`);
        break;
      case 'comment':
        if (keep) out.push(`{#${keep}#}`);
        break;
      case 'end': {
        const open = stack.pop();
        if (!open) fail('{% end %} without an open {% block %}, {% if %} or {% for %}', tagLine);
        if (open?.op === 'block') tag('endblock');
        else if (open?.op === 'if') tag('endif');
        else if (open?.op === 'apply') tag('endfilter');
        else if (open?.closed) out.push(keep ? `{#${keep}#}` : '');
        else tag('endfor');
        break;
      }
      case 'try':
      case 'except':
      case 'finally':
      case 'while':
      case 'break':
      case 'continue':
      case 'module':
      case 'import':
      case 'from':
        fail(`{% ${op} %} is not supported in databench page templates`, tagLine);
        break;
      default:
        fail(`unknown template tag {% ${op} %}`, tagLine);
    }
  }
  const open = stack.pop();
  if (open) fail(`{% ${open.op} %} opened on line ${open.line} has no {% end %}`, open.line);
  const mode = njString(autoescape ? 'o' : 'r');
  for (const e of escaped)
    out[e.at] = `{{ __py(${mode}, ${njString(e.src)}, ${e.locals})${e.keep} }}`;
  return out.join('');
}

interface NunjucksContext {
  getVariables(): Record<string, unknown>;
}

function pyEval(
  context: NunjucksContext,
  src: string,
  locals: Record<string, unknown>,
  budget: RenderBudget,
): unknown {
  const map = new Map<string, unknown>();
  for (const [k, v] of Object.entries(locals)) if (v !== undefined) map.set(k, v);
  return evaluate(parsePy(src), { locals: map, context: context.getVariables(), budget });
}

/**
 * Add the functions translated templates call to a Nunjucks environment:
 * `__py(mode, src, locals)` (mode `o` escaped output, `r` raw output, `t` a
 * condition, `i` an iterable, `v` a value) and the filter `__py_apply`.
 * `budget` gives the budget of the render under way (evaluation counts
 * against it; a loop counts its items); default: no limit.
 */
export function addTornadoSupport(
  env: nunjucks.Environment,
  budget: () => RenderBudget | undefined = () => undefined,
): void {
  env.addGlobal(
    '__py',
    function (this: NunjucksContext, mode: string, src: string, locals: Record<string, unknown>) {
      const b = budget() ?? UNLIMITED;
      const value = pyEval(this, src, locals, b);
      switch (mode) {
        case 'o':
        case 'r': {
          // escaped as Tornado escapes (Nunjucks' own escaping also turns a backslash into &#92;)
          const text = mode === 'o' ? xhtmlEscape(str(value, b)) : str(value, b);
          b.build(text.length);
          return new nunjucks.runtime.SafeString(text);
        }
        case 't':
          return truthy(value);
        case 'i': {
          // the loop's turns: what iterating costs is in iterate's own steps
          const items = iterate(value, b);
          b.step(items.length * (LOOP_ITEM_STEPS - 1));
          return items;
        }
        default:
          return value;
      }
    },
  );
  env.addFilter(
    '__py_apply',
    function (this: NunjucksContext, body: unknown, src: string, locals: Record<string, unknown>) {
      const b = budget() ?? UNLIMITED;
      const text = String(body);
      b.build(text.length);
      const f = pyEval(this, `(${src})(__apply_body)`, { ...locals, __apply_body: text }, b);
      return new nunjucks.runtime.SafeString(str(f, b));
    },
  );
}

export { PyError };
