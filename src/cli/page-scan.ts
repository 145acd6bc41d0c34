/**
 * What an analysis's pages name: the actions their widgets send and the
 * data keys they show, found the way `ui.wire` (src/client/ui) finds them,
 * and the actions and keys their scripts name (`d.emit('run')`,
 * `d.on({ data: 'pi' })`). Read from the files as written (templates
 * untouched), each with its file, line and column, for `databench check`.
 */
import type * as TS from 'typescript';

/** A name a page uses: an action it sends, or a key of `data` / `classData` it shows. */
export interface PageReference {
  /** The file it is in (as given to the scanner). */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  kind: 'action' | 'data' | 'class_data';
  /** The action's or the key's name. */
  name: string;
  /** How the page names it, for the report: `data-action="run"`, `d.emit('run')`. */
  how: string;
}

/** Elements that send an action (`ui.wire`'s buttons and inputs). */
const INPUT_TYPES = new Set(['text', 'range', 'checkbox', 'file']);
/** Elements that show a value: a `data-action` on them names the data key they show. */
const DISPLAY_TAGS = new Set(['span', 'p', 'div', 'i', 'b', 'pre', 'img', 'progress']);
/** Elements whose content is not markup. */
const RAW_TEXT = new Set(['script', 'style', 'textarea', 'title']);
/** Attributes that name a data key as `data:key` (or `class_data:key`). */
const KEY_ATTRIBUTES = ['data-signal', 'data-options'];
/** Connection methods whose first argument is an action name. */
const ACTION_METHODS = new Set(['emit', 'emitLatest', 'preEmit', 'cancelAction']);
/** Connection methods whose first argument may be `{data: key}` / `{class_data: key}`. */
const LISTEN_METHODS = new Set(['on', 'once']);

interface Attribute {
  name: string;
  value: string;
  /** Offset of the attribute in the text. */
  at: number;
}

/** Offsets → 1-based line and column. */
export class Lines {
  private readonly starts: number[] = [0];

  constructor(
    text: string,
    private readonly firstLine = 1,
    private readonly firstColumn = 1,
  ) {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
      this.starts.push(i + 1);
    }
  }

  at(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    const column = offset - this.starts[lo]! + 1;
    return {
      line: lo + this.firstLine,
      column: lo === 0 ? column + this.firstColumn - 1 : column,
    };
  }
}

/** The end of a template tag or comment that starts at `i` (`{{`, `{%`, `{#`), or `i` when none does. */
function skipTemplate(text: string, i: number): number {
  if (text[i] !== '{') return i;
  const close =
    text[i + 1] === '{' ? '}}' : text[i + 1] === '%' ? '%}' : text[i + 1] === '#' ? '#}' : '';
  if (close === '') return i;
  const end = text.indexOf(close, i + 2);
  return end < 0 ? text.length : end + 2;
}

/** A value with template syntax is computed when the page renders: not checked. */
function isDynamic(value: string): boolean {
  return value.includes('{{') || value.includes('{%');
}

/**
 * The references of an HTML page (a Nunjucks or Tornado template as
 * written): the widgets `ui.wire` would find, and the inline scripts (given
 * to `scanScript` with their position).
 */
export function scanHtml(
  file: string,
  text: string,
  scanScript: (text: string, line: number, column: number) => PageReference[],
): PageReference[] {
  const lines = new Lines(text);
  const refs: PageReference[] = [];
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const brace = text.indexOf('{', i);
    if (brace >= 0 && (lt < 0 || brace < lt)) {
      const end = skipTemplate(text, brace);
      i = end > brace ? end : brace + 1;
      continue;
    }
    if (lt < 0) break;
    if (text.startsWith('<!--', lt)) {
      const end = text.indexOf('-->', lt + 4);
      i = end < 0 ? text.length : end + 3;
      continue;
    }
    const name = /^<([A-Za-z][A-Za-z0-9-]*)/.exec(text.slice(lt, lt + 40))?.[1]?.toLowerCase();
    if (name === undefined) {
      i = lt + 1;
      continue;
    }
    const { attributes, end, selfClosing } = readAttributes(text, lt + 1 + name.length);
    element(file, name, attributes, lines, refs);
    i = end;
    if (RAW_TEXT.has(name) && !selfClosing) {
      const close = text.toLowerCase().indexOf(`</${name}`, end);
      const stop = close < 0 ? text.length : close;
      if (name === 'script' && isInlineScript(attributes)) {
        const { line, column } = lines.at(end);
        refs.push(...scanScript(text.slice(end, stop), line, column));
      }
      i = stop;
    }
  }
  return refs;
}

function isInlineScript(attributes: Attribute[]): boolean {
  if (attributes.some((a) => a.name === 'src')) return false;
  const type =
    attributes
      .find((a) => a.name === 'type')
      ?.value.trim()
      .toLowerCase() ?? '';
  return (
    type === '' || type === 'module' || /^(text|application)\/(javascript|ecmascript)$/.test(type)
  );
}

/** The attributes of the tag whose name ends at `i`, and where the tag ends. */
function readAttributes(
  text: string,
  start: number,
): { attributes: Attribute[]; end: number; selfClosing: boolean } {
  const attributes: Attribute[] = [];
  let i = start;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '>') return { attributes, end: i + 1, selfClosing: text[i - 1] === '/' };
    if (c === '{') {
      const end = skipTemplate(text, i);
      i = end > i ? end : i + 1;
      continue;
    }
    if (/\s|\//.test(c)) {
      i++;
      continue;
    }
    const nameMatch = /^[^\s"'>/=]+/.exec(text.slice(i, i + 200));
    if (!nameMatch) {
      i++;
      continue;
    }
    const at = i;
    const attrName = nameMatch[0].toLowerCase();
    i += nameMatch[0].length;
    while (/\s/.test(text[i] ?? '')) i++;
    let value = '';
    if (text[i] === '=') {
      i++;
      while (/\s/.test(text[i] ?? '')) i++;
      const quote = text[i];
      if (quote === '"' || quote === "'") {
        const close = text.indexOf(quote, i + 1);
        const end = close < 0 ? text.length : close;
        value = text.slice(i + 1, end);
        i = end + 1;
      } else {
        const unquoted = /^[^\s>]*/.exec(text.slice(i))![0];
        value = unquoted;
        i += unquoted.length;
      }
    }
    attributes.push({ name: attrName, value, at });
  }
  return { attributes, end: text.length, selfClosing: false };
}

/** The references of one element, as `ui.wire` reads it. */
function element(
  file: string,
  tag: string,
  attributes: Attribute[],
  lines: Lines,
  refs: PageReference[],
): void {
  const get = (name: string): Attribute | undefined => attributes.find((a) => a.name === name);
  const skip = get('data-skipwire');
  if (skip !== undefined && skip.value.toLowerCase() !== 'false' && skip.value !== '0') return;
  const add = (attribute: Attribute, kind: PageReference['kind'], name: string): void => {
    const { line, column } = lines.at(attribute.at);
    refs.push({ file, line, column, kind, name, how: `${attribute.name}="${attribute.value}"` });
  };
  const signal = get('data-signal');
  for (const key of KEY_ATTRIBUTES) {
    const attribute = get(key);
    if (attribute === undefined || isDynamic(attribute.value)) continue;
    const m = /^(data|class_data):(.+)$/.exec(attribute.value.trim());
    if (m) add(attribute, m[1] as 'data' | 'class_data', m[2]!);
  }
  const process = get('data-process');
  if (process !== undefined && process.value !== '' && !isDynamic(process.value)) {
    add(process, 'action', process.value);
  }
  const type = get('type')?.value.trim().toLowerCase();
  const sends =
    tag === 'button' || tag === 'select' || (tag === 'input' && INPUT_TYPES.has(type ?? ''));
  // the action name: data-action, else name, else id (as UIElement.determineActionName)
  const named = ['data-action', 'name', 'id']
    .map(get)
    .find((a): a is Attribute => a !== undefined && a.value !== '');
  if (named === undefined || isDynamic(named.value)) return;
  if (sends) add(named, 'action', named.value);
  else if (named.name === 'data-action' && signal === undefined && DISPLAY_TAGS.has(tag)) {
    // a display with data-action shows data:<that name>
    add(named, 'data', named.value);
  }
}

/** What makes a connection: `new Databench.Connection(…)`, `connect(…)`, `attach(…)`, `ui.wire(connection)`. */
function makesConnection(ts: typeof TS, node: TS.Expression): boolean {
  let e: TS.Expression = node;
  for (;;) {
    if (ts.isAwaitExpression(e) || ts.isParenthesizedExpression(e)) e = e.expression;
    else if (ts.isAsExpression(e) || ts.isNonNullExpression(e) || ts.isSatisfiesExpression(e)) {
      e = e.expression;
    } else break;
  }
  const callee = ts.isNewExpression(e) || ts.isCallExpression(e) ? e.expression : undefined;
  if (callee === undefined) return false;
  const name = ts.isIdentifier(callee)
    ? callee.text
    : ts.isPropertyAccessExpression(callee)
      ? callee.name.text
      : '';
  if (ts.isNewExpression(e)) return name === 'Connection';
  if (name === 'connect' || name === 'attach') return true;
  // ui.wire(connection) returns the connection
  const first = (e as TS.CallExpression).arguments[0];
  return name === 'wire' && first !== undefined && makesConnection(ts, first);
}

/**
 * The references of a page script (JavaScript or TypeScript): calls of the
 * Connection methods that take an action name or `{data: key}` on the
 * connections the script makes (a variable or property assigned
 * `new Databench.Connection()`, `connect(…)`, `attach(…)`), with string
 * literal names. `line` and `column` place the text in its file.
 */
export function scanScript(
  ts: typeof TS,
  file: string,
  text: string,
  line = 1,
  column = 1,
): PageReference[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const lines = new Lines(text, line, column);
  const connections = new Set<string>();
  const visitAssignments = (node: TS.Node): void => {
    if (
      ts.isVariableDeclaration(node) &&
      node.initializer &&
      makesConnection(ts, node.initializer)
    ) {
      connections.add(node.name.getText(source));
    } else if (
      ts.isBinaryExpression(node) &&
      node.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
      makesConnection(ts, node.right)
    ) {
      connections.add(node.left.getText(source));
    }
    ts.forEachChild(node, visitAssignments);
  };
  visitAssignments(source);
  const refs: PageReference[] = [];
  const add = (node: TS.Node, kind: PageReference['kind'], name: string, how: string): void => {
    const at = lines.at(node.getStart(source));
    refs.push({ file, line: at.line, column: at.column, kind, name, how });
  };
  const visitCalls = (node: TS.Node): void => {
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      connections.has(node.expression.expression.getText(source))
    ) {
      const method = node.expression.name.text;
      const receiver = node.expression.expression.getText(source);
      const first = node.arguments[0];
      if (ACTION_METHODS.has(method) && first !== undefined && ts.isStringLiteralLike(first)) {
        add(node, 'action', first.text, `${receiver}.${method}('${first.text}')`);
      } else if (
        LISTEN_METHODS.has(method) &&
        first !== undefined &&
        ts.isObjectLiteralExpression(first)
      ) {
        for (const property of first.properties) {
          if (!ts.isPropertyAssignment(property)) continue;
          const store = property.name.getText(source).replace(/^['"]|['"]$/g, '');
          if (store !== 'data' && store !== 'class_data') continue;
          if (!ts.isStringLiteralLike(property.initializer)) continue;
          const key = property.initializer.text;
          add(property, store, key, `${receiver}.${method}({ ${store}: '${key}' })`);
        }
      }
    }
    ts.forEachChild(node, visitCalls);
  };
  visitCalls(source);
  return refs;
}
