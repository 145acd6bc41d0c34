import { lstat, mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { isMap, isScalar, isSeq, parseDocument, stringify, type Document } from 'yaml';
import { CliError } from './errors.js';
import { isPlainObject } from '../protocol/messages.js';

/** Options of {@link scaffoldAnalysis}. */
export interface ScaffoldOptions {
  /** The analyses folder: its `index.yaml` gets the new entry, `NAME/` the files. Created if missing. */
  analysesDir: string;
  /** The folder copied as the new analysis. Default: this package's `analyses/scaffold/` (`analyses/scaffold_py/` with `python`). */
  templateDir?: string;
  /** A Python analysis (`analysis.py`, `kernel: py`). Default: false. */
  python?: boolean;
  /**
   * databench 0.7's layout (`scaffold-databench`): a Python analysis listed
   * without `kernel:` (an `analysis.py` alone runs in Python), with its
   * `analysis.js`, a Tornado `index.html` and an `__init__.py`, and the
   * analyses folder's `__init__.py`. Default: false.
   */
  v07?: boolean;
  /** With `v07`: the entry's `kernel:` (0.7's `--kernel py`). Default: none. */
  kernel?: string;
}

/** What {@link scaffoldAnalysis} did, as absolute paths. */
export interface ScaffoldResult {
  /** The files it created (index.yaml among them when it was missing). */
  created: string[];
  /** Files that existed and got an addition: index.yaml when it was there. */
  updated: string[];
}

/** Names an analysis cannot have: they are routes of the server or the index itself. */
const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'static',
  '_static',
  'node_modules',
  'ws',
  'index',
]);

const NAME_PATTERN = /^[a-z_][a-z0-9_]*$/;

/** Files of the template whose text gets the new name (the rest is copied as it is). */
const TEXT_EXTENSIONS = new Set([
  '.ts',
  '.js',
  '.mjs',
  '.html',
  '.md',
  '.css',
  '.json',
  '.yaml',
  '.yml',
  '.txt',
  '.py',
]);

/** Never copied from a template folder. */
const SKIPPED = new Set(['node_modules', '.DS_Store']);

const DEFAULT_INDEX_YAML = `# The analyses in this folder: \`databench\` serves them, \`databench new NAME\`
# adds one. Each entry names a folder next to this file.
title: Analyses
description: Live data analyses.
version: 0.1.0

analyses:
`;

/** This package's `analyses/scaffold/`, from src/cli/ and from dist/cli/ alike. */
export function defaultTemplateDir(python = false): string {
  return fileURLToPath(
    new URL(python ? '../../analyses/scaffold_py/' : '../../analyses/scaffold/', import.meta.url),
  );
}

/** This package's `templates/scaffold-0.7/`: the analysis `scaffold-databench` makes. */
export const V07_TEMPLATE_DIR = fileURLToPath(
  new URL('../../templates/scaffold-0.7/', import.meta.url),
);

/** Why `name` cannot name an analysis, or undefined when it can. */
function invalidNameReason(name: string): string | undefined {
  if (!NAME_PATTERN.test(name)) {
    return `"${name}" is not a valid analysis name: use lowercase letters, digits and _, starting with a letter or _ (like my_analysis)`;
  }
  if (RESERVED_NAMES.has(name)) {
    return `"${name}" is reserved: pick another name (reserved: ${[...RESERVED_NAMES].join(', ')})`;
  }
  return undefined;
}

/** `my_analysis` → `MyAnalysis`: the name of the Analysis subclass. */
export function className(name: string): string {
  const pascal = name
    .split('_')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
  // an identifier cannot start with a digit (`_1` → `1`)
  if (!/^[A-Z]/.test(pascal)) return 'Analysis' + pascal;
  // nor shadow what the template imports (Analysis, AnalysisTest) or a global (Map, Error, ...)
  if (['Analysis', 'AnalysisTest'].includes(pascal) || pascal in globalThis)
    return pascal + 'Analysis';
  return pascal;
}

/** `my_analysis` → `My analysis`: the title of its index.yaml entry. */
function titleOf(name: string): string {
  const words = name.replace(/_+/g, ' ').trim();
  return words ? words.charAt(0).toUpperCase() + words.slice(1) : name;
}

/**
 * Create a new analysis `name` in `analysesDir`: `analysesDir/index.yaml`
 * (created when missing) gets an entry for it, appended to `analyses:` with
 * the comments and layout already there kept, and `analysesDir/NAME/` gets a
 * copy of the template folder with the class renamed to the PascalCase of
 * the name. Refuses, with a `CliError` (exit code 2) and before touching any
 * file, a name that is not valid, is reserved or already exists.
 *
 * @example
 * const { created } = await scaffoldAnalysis('hello', { analysesDir: 'analyses' });
 */
export async function scaffoldAnalysis(
  name: string,
  options: ScaffoldOptions,
): Promise<ScaffoldResult> {
  const reason = invalidNameReason(name);
  if (reason) throw new CliError(reason, 2);

  const analysesDir = resolve(options.analysesDir);
  const v07 = options.v07 === true;
  const python = options.python === true || v07;
  const templateDir = resolve(
    options.templateDir ?? (v07 ? V07_TEMPLATE_DIR : defaultTemplateDir(python)),
  );
  const target = join(analysesDir, name);
  const indexPath = join(analysesDir, 'index.yaml');

  if (await exists(target)) {
    throw new CliError(`${relativeOrAbsolute(target)} already exists: pick another name`, 2);
  }

  // read and plan everything first: a refusal must leave every file as it was
  const indexText = await readTextIfExists(indexPath);
  const kernel = v07 ? options.kernel : python ? 'py' : undefined;
  const entry: IndexEntry = {
    name,
    title: titleOf(name),
    description: `Describe ${name} here.`,
    ...(kernel !== undefined ? { kernel } : {}),
  };
  const newIndexText = addIndexEntry(indexText ?? DEFAULT_INDEX_YAML, entry, indexPath);
  const files = await planFiles(templateDir, name, className(name));

  const created: string[] = [];
  const updated: string[] = [];
  const analysesDirExisted = await exists(analysesDir);
  let madeTarget = false;
  try {
    await mkdir(analysesDir, { recursive: true });
    try {
      await mkdir(target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new CliError(`${relativeOrAbsolute(target)} already exists: pick another name`, 2);
      }
      throw error;
    }
    madeTarget = true;
    for (const file of files) {
      const path = join(target, file.path);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, file.content, { flag: 'wx' });
      created.push(path);
    }
    // analysis.ts files are ES modules: without a package.json saying so, a
    // CommonJS project would load them as CommonJS with a second copy of databench
    const packagePath = join(analysesDir, 'package.json');
    if (!python && !(await exists(packagePath))) {
      await writeFile(packagePath, '{\n  "type": "module"\n}\n', { flag: 'wx' });
      created.push(packagePath);
    }
    // 0.7's analyses folder is a Python package (`from analyses.x import …`)
    const packageInit = join(analysesDir, '__init__.py');
    if (v07 && !(await exists(packageInit))) {
      await writeFile(packageInit, '', { flag: 'wx' });
      created.push(packageInit);
    }
    // index.yaml last, so that nothing points at a half-made folder
    if (indexText === undefined) {
      await writeFile(indexPath, newIndexText, { flag: 'wx' });
      created.unshift(indexPath);
    } else {
      if ((await readTextIfExists(indexPath)) !== indexText) {
        throw new CliError(`${relativeOrAbsolute(indexPath)} changed while scaffolding: run again`);
      }
      await writeFile(indexPath, newIndexText);
      updated.push(indexPath);
    }
  } catch (error) {
    // undo only what this call made
    if (madeTarget) await rm(target, { recursive: true, force: true });
    for (const path of created) {
      if (dirname(path) === analysesDir) await rm(path, { force: true });
    }
    if (!analysesDirExisted) await rmdir(analysesDir).catch(() => undefined);
    throw error;
  }
  return { created, updated };
}

/** An entry {@link addIndexEntry} adds to index.yaml. */
export interface IndexEntry {
  name: string;
  title: string;
  description: string;
  /** `py` for a Python analysis. */
  kernel?: string;
}

interface PlannedFile {
  /** Relative to the new analysis folder. */
  path: string;
  content: string | Buffer;
}

/** Every file of the template, read, with `Scaffold`/`scaffold` renamed in text files. */
async function planFiles(templateDir: string, name: string, cls: string): Promise<PlannedFile[]> {
  let paths: string[];
  try {
    paths = await listFiles(templateDir, '');
  } catch (error) {
    throw new CliError(`cannot read the scaffold template ${templateDir}: ${String(error)}`, 1, {
      cause: error,
    });
  }
  if (paths.length === 0) throw new CliError(`the scaffold template ${templateDir} is empty`);
  const files: PlannedFile[] = [];
  for (const path of paths) {
    const bytes = await readFile(join(templateDir, path));
    if (TEXT_EXTENSIONS.has(extname(path))) {
      const text = bytes
        .toString('utf8')
        .replace(/\bScaffold\b/g, cls)
        .replace(/\bscaffold\b/g, name);
      files.push({ path, content: text });
    } else {
      files.push({ path, content: bytes });
    }
  }
  return files;
}

async function listFiles(root: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(join(root, prefix), { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    if (SKIPPED.has(entry.name)) continue;
    const path = prefix ? join(prefix, entry.name) : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(root, path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/**
 * `text` (an index.yaml) with `entry` appended to its `analyses:` list.
 *
 * The entry is inserted as text after the last item, in the indentation the
 * list already uses, so every byte of the file stays as it was; the result is
 * parsed again and must hold exactly the old data plus the entry. Where that
 * cannot be done (a flow list `[...]`, an unusual layout), the yaml Document
 * API adds the entry instead, which keeps the comments but may reformat.
 * Refuses (exit code 2) a name that the list already has.
 */
export function addIndexEntry(text: string, entry: IndexEntry, path = 'index.yaml'): string {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new CliError(`${relativeOrAbsolute(path)} is not valid YAML: ${doc.errors[0]!.message}`);
  }
  if (doc.contents !== null && !isMap(doc.contents)) {
    throw new CliError(`${relativeOrAbsolute(path)} must be a mapping (title:, analyses:, ...)`);
  }
  const list = doc.get('analyses', true);
  if (list !== undefined && !isSeq(list) && !(isScalar(list) && list.value === null)) {
    throw new CliError(`${relativeOrAbsolute(path)}: "analyses" must be a list`);
  }
  const before = (doc.toJS() ?? {}) as Record<string, unknown>;
  const entries = Array.isArray(before['analyses']) ? (before['analyses'] as unknown[]) : [];
  if (entries.some((e) => e === entry.name || (isPlainObject(e) && e['name'] === entry.name))) {
    throw new CliError(
      `${relativeOrAbsolute(path)} already has an analysis named "${entry.name}": pick another name`,
      2,
    );
  }
  const expected = { ...before, analyses: [...entries, entry] };

  const inserted = insertEntryText(text, doc, entry);
  if (inserted !== undefined && holds(inserted, expected)) return inserted;

  // fallback: the Document API (comments kept, layout normalised)
  const node = doc.createNode(entry);
  if (isSeq(list)) {
    if (list.items.length === 0) list.flow = false;
    list.add(node);
  } else {
    doc.set('analyses', doc.createNode([entry]));
  }
  const result = doc.toString({ lineWidth: 0 });
  if (!holds(result, expected)) {
    throw new CliError(
      `could not add "${entry.name}" to ${relativeOrAbsolute(path)}: add it by hand`,
    );
  }
  return result;
}

/** The text insertion of {@link addIndexEntry}, or undefined where the layout is not a plain one. */
function insertEntryText(text: string, doc: Document, entry: IndexEntry): string | undefined {
  const defined = Object.entries(entry).filter(
    (kv): kv is [string, string] => typeof kv[1] === 'string',
  );
  const fields = defined.map(([key, value]) => {
    const scalar = stringify(value, { lineWidth: 0 }).trimEnd();
    return `${key}: ${scalar}`;
  });
  if (fields.some((field) => field.includes('\n'))) return undefined;

  const list = doc.get('analyses', true);
  if (isSeq(list)) {
    if (list.flow || list.items.length === 0) return undefined;
    const first = list.items[0] as { range?: [number, number, number] | null };
    const last = list.items.at(-1) as {
      range?: [number, number, number] | null;
      spaceBefore?: boolean;
    };
    if (!first.range || !last.range) return undefined;
    // the indentation of the list's "- " and of the keys after it, from its first item
    const lineStart = text.lastIndexOf('\n', first.range[0] - 1) + 1;
    const lead = /^( *)-( +)$/.exec(text.slice(lineStart, first.range[0]));
    if (!lead) return undefined;
    const dash = lead[1]! + '-' + lead[2]!;
    const keys = ' '.repeat(dash.length);
    const blank = list.items
      .slice(1)
      .some((item) => (item as { spaceBefore?: boolean }).spaceBefore);
    const block =
      (blank ? '\n' : '') +
      fields.map((field, i) => (i === 0 ? dash : keys) + field + '\n').join('');
    return insertAfterLine(text, last.range[2], block);
  }
  const entryBlock = fields.map((field, i) => (i === 0 ? '  - ' : '    ') + field + '\n').join('');
  if (isScalar(list) && list.value === null && list.range) {
    // `analyses:` with nothing after it
    return insertAfterLine(text, list.range[2], entryBlock);
  }
  if (
    list === undefined &&
    (doc.contents === null || (isMap(doc.contents) && !doc.contents.flow))
  ) {
    const sep = text.length === 0 || text.endsWith('\n') ? '' : '\n';
    return text + sep + (text.trim() ? '\n' : '') + 'analyses:\n' + entryBlock;
  }
  return undefined;
}

/** Insert `block` at the start of the line after the one holding `offset` (the end when there is none). */
function insertAfterLine(text: string, offset: number, block: string): string {
  let at = offset;
  if (at > 0 && text[at - 1] !== '\n') {
    const newline = text.indexOf('\n', at);
    at = newline === -1 ? text.length : newline + 1;
  }
  if (at === text.length && text.length > 0 && !text.endsWith('\n')) {
    return text + '\n' + block;
  }
  return text.slice(0, at) + block + text.slice(at);
}

/** Whether `text` parses, without errors, to exactly `expected`. */
function holds(text: string, expected: unknown): boolean {
  const doc = parseDocument(text);
  return doc.errors.length === 0 && isDeepStrictEqual(doc.toJS(), expected);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** The text of the file at `path`, or undefined when there is none. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** A path as the user would type it from the working directory. */
function relativeOrAbsolute(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}
