/**
 * What a page may name of an analysis, read from its source without running
 * it: the actions its handlers take and the keys of its data types. For
 * TypeScript through the TypeScript compiler API (the project's TypeScript,
 * as the type check uses it); for Python from the text of `analysis.py`,
 * best effort. `databench check` compares the pages with it.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type * as TS from 'typescript';
import { findTypeScript } from './typecheck.js';

/** The actions and data keys of one analysis. */
export interface AnalysisSurface {
  /** The class's name (for messages). */
  className: string;
  /** The actions its handlers take (`on_*`, `@on`, `@onAction`), the built-in ones among them. */
  actions: string[];
  /** A `*` handler (or an `@onAction` whose name is not a literal): every action is taken. */
  wildcard: boolean;
  /** The keys of its `data` type; undefined when any key is allowed or they are not known. */
  dataKeys: string[] | undefined;
  /** The keys of its `classData` type, likewise. */
  classDataKeys: string[] | undefined;
}

/** A surface, or why it could not be read. */
export type SurfaceResult =
  | { readonly ok: true; readonly surface: AnalysisSurface }
  | { readonly ok: false; readonly error: string };

/** The actions every analysis has (its base class's `on_*`). */
const BUILT_IN = ['connect', 'args', 'connected', 'disconnected', 'log', 'warn', 'error'];

/**
 * Read the surfaces of the TypeScript analyses `files` (their `analysis.ts`)
 * in one program, with the options of the nearest tsconfig.json from `dir`
 * (as the type check does). Resolves to undefined when TypeScript is not
 * installed.
 */
export async function readTypeScriptSurfaces(
  files: readonly string[],
  options: { dir: string; cwd: string },
): Promise<Map<string, SurfaceResult> | undefined> {
  const tsPath = findTypeScript(options.cwd);
  if (tsPath === undefined) return undefined;
  const ts = createRequire(import.meta.url)(tsPath) as typeof TS;
  // without a tsconfig.json: the type check's defaults
  let compilerOptions: TS.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
  };
  const config = ts.findConfigFile(options.dir, (f) => ts.sys.fileExists(f), 'tsconfig.json');
  if (config !== undefined) {
    const parsed = ts.getParsedCommandLineOfConfigFile(
      config,
      { noEmit: true },
      { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined },
    );
    if (parsed) compilerOptions = { ...parsed.options, noEmit: true };
  }
  const program = ts.createProgram({ rootNames: [...files], options: compilerOptions });
  const checker = program.getTypeChecker();
  const results = new Map<string, SurfaceResult>();
  for (const file of files) results.set(file, surfaceOf(ts, program, checker, file));
  return results;
}

function surfaceOf(
  ts: typeof TS,
  program: TS.Program,
  checker: TS.TypeChecker,
  file: string,
): SurfaceResult {
  const source = program.getSourceFile(file);
  if (source === undefined) return { ok: false, error: 'TypeScript cannot read it' };
  const moduleSymbol = checker.getSymbolAtLocation(source);
  const exported = moduleSymbol === undefined ? [] : checker.getExportsOfModule(moduleSymbol);
  // the loader takes the default export first, then the others in order
  const ordered = [
    ...exported.filter((s) => s.getName() === 'default'),
    ...exported.filter((s) => s.getName() !== 'default'),
  ];
  for (const symbol of ordered) {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    if (!(target.flags & ts.SymbolFlags.Class)) continue;
    const type = checker.getDeclaredTypeOfSymbol(target);
    if (!extendsAnalysis(checker, type)) continue;
    return { ok: true, surface: classSurface(ts, checker, target, type, source) };
  }
  // an import that does not resolve (databench-ts not installed) hides the base class: say that
  const unresolved = program
    .getSemanticDiagnostics(source)
    .find((d) => d.code === 2307 || d.code === 2792);
  if (unresolved !== undefined) {
    const text = ts.flattenDiagnosticMessageText(unresolved.messageText, ' ');
    return { ok: false, error: `${text.replace(/\.$/, '')} (not installed? npm install)` };
  }
  return {
    ok: false,
    error: "it exports no class that extends Analysis (from 'databench-ts')",
  };
}

/** Whether `type`'s base classes include one named `Analysis`. */
function extendsAnalysis(checker: TS.TypeChecker, type: TS.Type, depth = 0): boolean {
  if (depth > 20 || !type.isClassOrInterface()) return false;
  for (const base of checker.getBaseTypes(type)) {
    const target = (base as TS.TypeReference).target ?? base;
    if ((target.symbol as TS.Symbol | undefined)?.getName() === 'Analysis') return true;
    if (extendsAnalysis(checker, target, depth + 1)) return true;
  }
  return false;
}

function classSurface(
  ts: typeof TS,
  checker: TS.TypeChecker,
  symbol: TS.Symbol,
  type: TS.Type,
  source: TS.SourceFile,
): AnalysisSurface {
  const actions = new Set<string>(BUILT_IN);
  let wildcard = false;
  for (const member of checker.getPropertiesOfType(type)) {
    if (!(member.flags & ts.SymbolFlags.Method)) continue;
    const name = member.getName();
    if (name.startsWith('on_') && name.length > 3) actions.add(name.slice(3));
    for (const declaration of member.declarations ?? []) {
      if (!ts.canHaveDecorators(declaration)) continue;
      for (const decorator of ts.getDecorators(declaration) ?? []) {
        const taken = decoratedAction(ts, checker, decorator, name);
        if (taken === '*') wildcard = true;
        else if (taken !== undefined) actions.add(taken);
      }
    }
  }
  return {
    className: symbol.getName(),
    actions: [...actions],
    wildcard,
    dataKeys: storeKeys(ts, checker, type, 'data', source),
    classDataKeys: storeKeys(ts, checker, type, 'classData', source),
  };
}

/**
 * The action a decorator makes the method `method` handle, as actions.ts
 * marks it: `@on` the method's name, `@on({…})` that name without `on_`,
 * `@onAction('x')` x; `'*'` for a name that is `*` or not a literal.
 */
function decoratedAction(
  ts: typeof TS,
  checker: TS.TypeChecker,
  decorator: TS.Decorator,
  method: string,
): string | undefined {
  const call = ts.isCallExpression(decorator.expression) ? decorator.expression : undefined;
  const callee = call?.expression ?? decorator.expression;
  let symbol = checker.getSymbolAtLocation(callee);
  if (symbol !== undefined && symbol.flags & ts.SymbolFlags.Alias) {
    symbol = checker.getAliasedSymbol(symbol);
  }
  const name = symbol?.getName();
  if (name === 'on') {
    if (call === undefined) return method;
    return /^on_./.test(method) ? method.slice(3) : method;
  }
  if (name === 'onAction') {
    const first = call?.arguments[0];
    return first !== undefined && ts.isStringLiteralLike(first) ? first.text : '*';
  }
  return undefined;
}

/** The keys of the type of the store `data` / `classData`; undefined when any key goes. */
function storeKeys(
  ts: typeof TS,
  checker: TS.TypeChecker,
  type: TS.Type,
  store: 'data' | 'classData',
  source: TS.SourceFile,
): string[] | undefined {
  const property = type.getProperty(store);
  if (property === undefined) return undefined;
  const storeType = checker.getTypeOfSymbolAtLocation(property, source);
  // DataProxy<D> (an alias), Datastore<D> (a class), or a plain object type D
  const values =
    storeType.aliasTypeArguments?.[0] ??
    (isReference(ts, storeType) ? checker.getTypeArguments(storeType)[0] : undefined) ??
    storeType;
  if (values.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return undefined;
  if (checker.getIndexInfosOfType(values).length > 0) return undefined;
  return checker.getPropertiesOfType(values).map((p) => p.getName());
}

function isReference(ts: typeof TS, type: TS.Type): type is TS.TypeReference {
  return (
    (type.flags & ts.TypeFlags.Object) !== 0 &&
    ((type as TS.ObjectType).objectFlags & ts.ObjectFlags.Reference) !== 0
  );
}

/** Bases a Python analysis may name for databench's own class. */
const PYTHON_ANALYSIS = new Set(['Analysis', 'databench.Analysis']);

/**
 * The surface of a Python analysis, from the text of its `analysis.py`
 * (nothing is imported or run), so that it errs towards taking an action
 * rather than reporting one falsely: every `on_<name>` method and `@on` /
 * `@databench.on` method of the file (of any class), and every
 * `@on_action('name')`. Its actions are not known (`wildcard`) when the
 * analysis class has a base that is not in the file (a mixin, a base class
 * imported from another module, an alias of Analysis), when no class of
 * the file derives from Analysis, when an `on_action` name is not a string
 * literal, or when the file calls `setattr`. Data keys are not read
 * (undefined: any key goes).
 */
export async function readPythonSurface(file: string): Promise<SurfaceResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    return { ok: false, error: `cannot read it: ${(error as Error).message}` };
  }
  // top-level classes and their bases, as written
  const classes = new Map<string, string[]>();
  for (const m of text.matchAll(/^class\s+(\w+)\s*(?:\(([^)]*)\))?\s*:/gm)) {
    const bases = (m[2] ?? '')
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b !== '' && !b.includes('='));
    classes.set(m[1]!, bases);
  }
  // what a class derives from: databench's Analysis, a base not in this file, both or neither
  const reach = (name: string, seen: Set<string>): { analysis: boolean; outside: boolean } => {
    const result = { analysis: false, outside: false };
    for (const base of classes.get(name) ?? []) {
      if (PYTHON_ANALYSIS.has(base)) result.analysis = true;
      else if (base === 'object') continue;
      else if (classes.has(base) && !seen.has(base)) {
        const up = reach(base, new Set([...seen, base]));
        result.analysis ||= up.analysis;
        result.outside ||= up.outside;
      } else result.outside = true;
    }
    return result;
  };
  const reached = [...classes.keys()].map((name) => ({ name, ...reach(name, new Set([name])) }));
  const analyses = reached.filter((c) => c.analysis);
  // the loader takes the class no other derives from; any of them names the report
  const leaf =
    analyses.find((c) => !analyses.some((o) => classes.get(o.name)?.includes(c.name))) ??
    reached.find((c) => c.outside);
  let wildcard =
    analyses.length === 0 || analyses.some((c) => c.outside) || /\bsetattr\s*\(/.test(text);
  const actions = new Set<string>(BUILT_IN);
  let pending = false;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    const decorator = /^@(?:\w+\.)*(on|on_action)\b\s*(\()?\s*(?:'([^']*)'|"([^"]*)")?/.exec(
      trimmed,
    );
    if (decorator) {
      const literal = decorator[3] ?? decorator[4];
      if (decorator[1] === 'on') pending = true;
      else if (literal === undefined || literal === '*') wildcard = true;
      else actions.add(literal);
      continue;
    }
    const def = /^(?:async\s+)?def\s+(\w+)\s*\(/.exec(trimmed);
    if (def) {
      const name = def[1]!;
      if (name.startsWith('on_') && name.length > 3) actions.add(name.slice(3));
      // as databench.on marks it: the function's own name
      if (pending) actions.add(name);
    }
    if (trimmed !== '' && !trimmed.startsWith('@') && !trimmed.startsWith('#')) pending = false;
  }
  return {
    ok: true,
    surface: {
      className: leaf?.name ?? 'the analysis',
      actions: [...actions],
      wildcard,
      dataKeys: undefined,
      classDataKeys: undefined,
    },
  };
}
