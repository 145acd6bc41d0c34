import { readdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type * as TS from 'typescript';
import { listAnalyses, type ListedAnalysis } from '../app/app.js';
import {
  readPythonSurface,
  readTypeScriptSurfaces,
  type AnalysisSurface,
  type SurfaceResult,
} from '../loader/analysis-surface.js';
import { findTypeScript } from '../loader/typecheck.js';
import { TEMPLATES_DIR } from '../pages/pages.js';
import { DatabenchError } from '../protocol/errors.js';
import { didYouMean } from '../util/nearest.js';
import { Lines, scanHtml, scanScript, type PageReference } from './page-scan.js';

/** One thing a page names that its analysis does not have. */
export interface CheckProblem {
  /** The file, as given (absolute). */
  file: string;
  /** 1-based; 0 for a problem of the analysis itself (it could not be read). */
  line: number;
  column: number;
  /** The analysis it belongs to. */
  analysis: string;
  /** What is wrong, and the nearest name when there is one. */
  message: string;
}

/** What {@link checkAnalyses} found. */
export interface CheckReport {
  /** The analyses checked, by name. */
  analyses: string[];
  /** Sorted by file, line and column. */
  problems: CheckProblem[];
  /** What was not checked, in words (data keys of Python analyses). */
  notes: string[];
}

/** Actions the server runs itself: a page that sends one is told so. */
const SERVER_ONLY = new Set(['connect', 'args', 'connected', 'disconnected']);

/**
 * Check the pages of every analysis in `dir` against the analysis: each
 * action a widget sends (`data-action`, `data-process`, a button's or
 * input's `name`/`id`, as `ui.wire` reads them) and each `d.emit('name')` of
 * a page script must have a handler; each key a page shows
 * (`data-signal="data:key"`, `data-options`, a display's `data-action`,
 * `d.on({ data: 'key' })`) must be a key of the analysis's data type
 * (TypeScript: `Analysis<Data, ClassData>`; Python analyses: keys are not
 * checked). Pages are the analysis's `*.html`; page scripts the inline
 * `<script>`s, `analysis.js` and `*.page.ts` / `*.page.js`.
 *
 * Needs TypeScript (the project's, else the one beside this package), to
 * read TypeScript analyses and to parse page scripts.
 *
 * @example
 * const { problems } = await checkAnalyses({ dir: 'analyses', cwd: process.cwd() });
 */
export async function checkAnalyses(options: { dir: string; cwd: string }): Promise<CheckReport> {
  const { dir, cwd } = options;
  const tsPath = findTypeScript(cwd);
  if (tsPath === undefined) {
    throw new DatabenchError(
      'MISSING_DEPENDENCY',
      'databench check needs TypeScript, to read the analyses and page scripts: npm install -D typescript',
    );
  }
  const ts = createRequire(import.meta.url)(tsPath) as typeof TS;
  const { analyses, errors } = await listAnalyses(dir);
  const problems: CheckProblem[] = errors.map((e) => ({
    file: join(dir, 'index.yaml'),
    line: 0,
    column: 0,
    analysis: e.name,
    message: e.message.replace(/^index\.yaml: /, ''),
  }));
  const notes: string[] = [];

  const tsFiles = analyses
    .filter((a) => a.source === 'analysis.ts')
    .map((a) => join(a.dir, 'analysis.ts'));
  const tsSurfaces =
    tsFiles.length > 0
      ? await readTypeScriptSurfaces(tsFiles, { dir, cwd })
      : new Map<string, SurfaceResult>();
  let python = false;

  for (const analysis of analyses) {
    const name = analysis.entry.name;
    let result: SurfaceResult;
    if (analysis.source === undefined) {
      result = { ok: false, error: `unknown kernel "${String(analysis.entry.kernel)}"` };
    } else if (analysis.source === 'analysis.py') {
      python = true;
      result = await readPythonSurface(join(analysis.dir, analysis.source));
    } else {
      result = tsSurfaces?.get(join(analysis.dir, analysis.source)) ?? {
        ok: false,
        error: 'TypeScript did not read it',
      };
    }
    const source = join(analysis.dir, analysis.source ?? '');
    if (analysis.source !== undefined && !(await exists(source))) {
      result = { ok: false, error: `there is no ${analysis.source}` };
    }
    if (!result.ok) {
      problems.push({
        file: source,
        line: 0,
        column: 0,
        analysis: name,
        message: `${result.error}; its pages were not checked`,
      });
      continue;
    }
    if (result.surface.wildcard && analysis.source === 'analysis.py') {
      notes.push(
        `the actions of ${name} are not checked: its analysis.py takes any action, or has a base class or handlers check cannot read`,
      );
    }
    const pages = await pageReferences(ts, analysis, dir);
    for (const missing of pages.missing) problems.push({ ...missing, analysis: name });
    for (const ref of pages.refs) {
      const message = mismatch(ref, result.surface);
      if (message !== undefined) {
        problems.push({
          file: ref.file,
          line: ref.line,
          column: ref.column,
          analysis: name,
          message: `${ref.how}: ${message}`,
        });
      }
    }
  }
  if (python) notes.push('the data keys of Python analyses are not checked');
  problems.sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line || a.column - b.column,
  );
  return { analyses: analyses.map((a) => a.entry.name), problems, notes };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** What is wrong with `ref` for an analysis of `surface`, or undefined when nothing is. */
function mismatch(ref: PageReference, surface: AnalysisSurface): string | undefined {
  if (ref.kind === 'action') {
    if (SERVER_ONLY.has(ref.name)) return `'${ref.name}' is run by the server only`;
    if (surface.wildcard || surface.actions.includes(ref.name)) return undefined;
    const names = surface.actions.filter((a) => !SERVER_ONLY.has(a)).sort();
    const missing = `no handler for '${ref.name}' on ${surface.className}${didYouMean(ref.name, names)}`;
    // a widget named by its id or name only may be one a script of the page handles itself
    const by = /^(id|name)=/.exec(ref.how)?.[1];
    return by === undefined
      ? missing
      : `${missing}; ui.wire sends its ${by} as an action (data-skipwire if the page's script handles it)`;
  }
  const keys = ref.kind === 'data' ? surface.dataKeys : surface.classDataKeys;
  if (keys === undefined || keys.includes(ref.name)) return undefined;
  const store = ref.kind === 'data' ? 'data' : 'classData';
  return `no key '${ref.name}' in the ${store} of ${surface.className}${didYouMean(ref.name, [...keys].sort())}`;
}

/** `{% include "name" %}` and `{% extends "name" %}` with a literal name (Nunjucks and Tornado alike). */
const TEMPLATE_REF = /\{%-?\s*(include|extends)\s+(["'])([^"'{}]+)\2/g;

/**
 * Every name the pages and page scripts of `analysis` use, the templates
 * its pages include or extend among them (found where the page renderer
 * finds them: the analyses folder `root`, or beside the page for a name
 * that starts with `./` or `../`; the package's own templates are not
 * read), and the includes that name no template at all.
 */
async function pageReferences(
  ts: typeof TS,
  analysis: ListedAnalysis,
  root: string,
): Promise<{ refs: PageReference[]; missing: Omit<CheckProblem, 'analysis'>[] }> {
  const refs: PageReference[] = [];
  const missing: Omit<CheckProblem, 'analysis'>[] = [];
  root = resolve(root);
  const queue = (await pageFiles(analysis.dir)).map((f) => resolve(f));
  const seen = new Set(queue);
  for (let i = 0; i < queue.length; i++) {
    const file = queue[i]!;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    if (!file.endsWith('.html')) {
      refs.push(...scanScript(ts, file, text));
      continue;
    }
    refs.push(
      ...scanHtml(file, text, (script, line, column) => scanScript(ts, file, script, line, column)),
    );
    let lines: Lines | undefined;
    for (const m of text.matchAll(TEMPLATE_REF)) {
      const name = m[3]!;
      const found = await findTemplate(name, file, root);
      if (found === 'package' || (found !== undefined && seen.has(found.path))) continue;
      if (found !== undefined) {
        seen.add(found.path);
        queue.push(found.path);
        continue;
      }
      lines ??= new Lines(text);
      missing.push({
        file,
        ...lines.at(m.index),
        message: `{% ${m[1]!} "${name}" %}: no template '${name}' ${
          /^\.\.?\//.test(name)
            ? 'beside this page'
            : "in the analyses folder or among databench's own templates"
        }`,
      });
    }
  }
  return { refs, missing };
}

/**
 * Where the page renderer finds template `name` named in `from`: a file of
 * the analyses folder `root`, 'package' for one of databench's own
 * templates, or undefined when there is none.
 */
async function findTemplate(
  name: string,
  from: string,
  root: string,
): Promise<{ path: string } | 'package' | undefined> {
  const path = /^\.\.?\//.test(name) ? resolve(dirname(from), name) : resolve(root, name);
  const inside = relative(root, path);
  if (!inside.startsWith('..') && inside !== '' && (await isFile(path))) return { path };
  if (!/^\.\.?\//.test(name) && (await isFile(join(TEMPLATES_DIR, name)))) return 'package';
  return undefined;
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** The pages (`*.html`) and page scripts (`analysis.js`, `*.page.ts`, `*.page.js`) of an analysis folder. */
async function pageFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  const walk = async (folder: string, top: boolean): Promise<void> => {
    let entries;
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        // static/ holds what the pages load, bundles among it: not sources
        if (!/^(node_modules|static|\..*)$/.test(entry.name)) await walk(path, false);
      } else if (
        (top && entry.name.endsWith('.html')) ||
        (top && entry.name === 'analysis.js') ||
        /\.page\.[cm]?[jt]s$/.test(entry.name)
      ) {
        files.push(path);
      }
    }
  };
  await walk(dir, true);
  return files;
}

/** The counts of a report in words: `2 problems in 3 analyses`, `1 analysis, no problems`. */
export function summary(report: CheckReport): string {
  const n = report.problems.length;
  const count = `${report.analyses.length} ${report.analyses.length === 1 ? 'analysis' : 'analyses'}`;
  return n === 0 ? `${count}, no problems` : `${n} problem${n === 1 ? '' : 's'} in ${count}`;
}

/**
 * The report as the CLI prints it on stdout: one line per problem
 * (`file:line:column: message`, the file relative to `cwd`), then the notes;
 * for a clean report, its summary.
 */
export function formatReport(report: CheckReport, cwd: string): string {
  const lines = report.problems.map((p) => {
    // relative to where it runs, unless the file is outside it
    const rel = relative(cwd, p.file);
    const file = rel === '' ? basename(p.file) : rel.startsWith('..') ? p.file : rel;
    const where = p.line > 0 ? `${file}:${p.line}:${p.column}` : file;
    return `${where}: ${p.message}`;
  });
  if (lines.length === 0) lines.push(`databench check: ${summary(report)}`);
  const notes = report.notes.map((note) => `(${note})`);
  return [...lines, ...notes].join('\n') + '\n';
}
