import { createHash } from 'node:crypto';
import { register } from 'node:module';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import MarkdownIt from 'markdown-it';
import { parse as parseYaml } from 'yaml';
import { isAnalysisClass, type AnalysisClass } from './analysis.js';
import type { Logger } from './logger.js';
import { Meta, type ExtraRoute } from './meta.js';

/** This package's root folder (works from src/server and dist/server). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The analyses served when the user has none. */
export const PACKAGED_ANALYSES = join(PACKAGE_ROOT, 'analyses');

/** Folder-level settings of index.yaml. */
export interface AnalysesInfo {
  title: string;
  description: string;
  author: string;
  version: string;
  /** URL regex (one capture group) → folder, from index.yaml `static`. */
  static: Array<[RegExp, string]>;
  build: string | undefined;
  watch: string[];
  readmeHtml: string;
  /** index.yaml `datastore`: where `data` and `classData` live (a `redis://` URL). */
  datastore: string | undefined;
}

/** One analysis of the folder, loaded or not. */
export interface AnalysisEntry {
  name: string;
  title: string;
  description: string;
  showInIndex: boolean;
  kernel: string | undefined;
  watch: string[];
  build: string | undefined;
  dir: string;
  readmeHtml: string;
  /** File name of its thumbnail, if it has one. */
  thumbnail: string | undefined;
  meta: Meta | undefined;
  /** Why it could not be loaded (file and line where known). */
  error: string | undefined;
  /** A hash of its files: a reload re-imports only analyses whose hash changed. */
  version: string;
  /** True when `meta` is the last good version kept after a failed reload. */
  stale: boolean;
}

/** A loaded folder of analyses. */
export interface App {
  dir: string;
  packaged: boolean;
  info: AnalysesInfo;
  entries: Map<string, AnalysisEntry>;
  /** Problems of the folder itself (index.yaml), shown on the index page. */
  errors: Array<{ name: string; message: string }>;
  /** A hash of the sources: pages reload when it changes between two connects. */
  version: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED = new Set(['static', '_static', 'node_modules', 'ws', 'index', 'index.html']);
const markdown = new MarkdownIt({ html: false, linkify: true });

/** Render a README (markdown, raw HTML disabled) to HTML. */
export function renderMarkdown(text: string): string {
  return markdown.render(text);
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where the analyses are, as in the original: `explicit` (a folder or its
 * index.yaml), else `./analyses/index.yaml`, else `./index.yaml`, else the
 * packaged analyses.
 */
export async function findAnalysesDir(
  cwd: string,
  explicit?: string,
): Promise<{ dir: string; packaged: boolean }> {
  if (explicit !== undefined) {
    const path = resolve(cwd, explicit);
    const s = await stat(path).catch(() => undefined);
    if (!s) throw new Error(`analyses folder not found: ${path}`);
    return { dir: s.isDirectory() ? path : dirname(path), packaged: false };
  }
  if (await exists(join(cwd, 'analyses', 'index.yaml'))) {
    return { dir: join(cwd, 'analyses'), packaged: false };
  }
  if (await exists(join(cwd, 'index.yaml'))) return { dir: cwd, packaged: false };
  return { dir: PACKAGED_ANALYSES, packaged: true };
}

function str(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : fallback;
}

function strList(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function staticMap(value: unknown, dir: string, errors: App['errors']): Array<[RegExp, string]> {
  const maps = Array.isArray(value) ? value : value ? [value] : [];
  const out: Array<[RegExp, string]> = [];
  for (const map of maps) {
    if (typeof map !== 'object' || map === null) continue;
    for (const [pattern, folder] of Object.entries(map as Record<string, unknown>)) {
      try {
        out.push([new RegExp(pattern), resolve(dir, str(folder))]);
      } catch (error) {
        errors.push({
          name: 'index.yaml',
          message: `static: bad regex ${pattern}: ${(error as Error).message}`,
        });
      }
    }
  }
  return out;
}

/** The query parameter that makes a reloaded module, and its local imports, load anew. */
const VERSION_PARAM = 'databench-v';

/**
 * A resolve hook: a relative import from a module loaded with
 * `?databench-v=N` gets the same parameter, so an analysis's own helper
 * modules reload with it (packages in node_modules stay shared).
 */
const RELOAD_HOOKS = `
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  const parent = context.parentURL;
  if (parent && (specifier.startsWith('./') || specifier.startsWith('../'))) {
    const m = /[?&]${VERSION_PARAM}=(\\d+)/.exec(parent);
    if (m && result.url.startsWith('file:') && !result.url.includes('/node_modules/')) {
      const url = new URL(result.url);
      url.searchParams.set('${VERSION_PARAM}', m[1]);
      return { ...result, url: url.href };
    }
  }
  return result;
}
`;
let hooksRegistered = false;

function registerReloadHooks(): void {
  if (hooksRegistered) return;
  hooksRegistered = true;
  register('data:text/javascript,' + encodeURIComponent(RELOAD_HOOKS));
}

/**
 * Read an analysis folder once: the names at its top, the text of its
 * README, and a hash of its code and page files below it (not node_modules
 * or static), which tells a reload whether to import it again.
 */
async function readAnalysisFolder(
  dir: string,
): Promise<{ names: string[]; readme: string | undefined; version: string }> {
  const hash = createHash('sha256');
  const names: string[] = [];
  let readme: string | undefined;
  const walk = async (folder: string, depth: number): Promise<void> => {
    const items = (await readdir(folder, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    );
    for (const item of items) {
      const path = join(folder, item.name);
      if (depth === 0) names.push(item.name);
      if (item.isDirectory()) {
        if (depth < 8 && !/^(node_modules|static|\..*|__pycache__)$/.test(item.name)) {
          await walk(path, depth + 1);
        }
      } else if (/\.(ts|mts|js|mjs|json|html|md|css|py)$/.test(item.name)) {
        const content = await readFile(path);
        hash.update(relative(dir, path)).update(content);
        if (depth === 0 && item.name === 'README.md') readme = content.toString('utf8');
      }
    }
  };
  await walk(dir, 0);
  return { names, readme, version: hash.digest('hex').slice(0, 12) };
}

function extendsClassNamed(cls: Function, name: string): boolean {
  for (
    let p = Object.getPrototypeOf(cls) as Function | null;
    p;
    p = Object.getPrototypeOf(p) as Function | null
  ) {
    if (p.name === name) return true;
  }
  return false;
}

/** Import an analysis module and find its Analysis subclass. */
async function importAnalysis(file: string, generation: number): Promise<AnalysisClass> {
  const mod = (await import(
    `${pathToFileURL(file).href}?${VERSION_PARAM}=${generation}`
  )) as Record<string, unknown>;
  // a module outside a "type": "module" package arrives wrapped as CommonJS
  const namespaces = [mod, mod['default']].filter(
    (m): m is Record<string, unknown> => typeof m === 'object' && m !== null,
  );
  const candidates: unknown[] = [mod['default']];
  for (const ns of namespaces) candidates.push(...Object.values(ns));
  const found = candidates.find((c) => isAnalysisClass(c));
  if (found) return found as AnalysisClass;
  const foreign = candidates.find(
    (c) => typeof c === 'function' && extendsClassNamed(c, 'Analysis'),
  );
  if (foreign) {
    throw new Error(
      `${file}: ${(foreign as Function).name} extends another copy of databench's Analysis. ` +
        `Is the folder a CommonJS package? Add a package.json with {"type": "module"} next to index.yaml`,
    );
  }
  const names = namespaces.flatMap((ns) => Object.keys(ns)).filter((n) => n !== 'default');
  throw new Error(
    `${file} exports no Analysis subclass (exports: ${names.join(', ') || 'none'}); ` +
      `export a class that extends Analysis from 'databench'`,
  );
}

async function importRoutes(file: string, generation: number): Promise<ExtraRoute[]> {
  const mod = (await import(
    `${pathToFileURL(file).href}?${VERSION_PARAM}=${generation}`
  )) as Record<string, unknown>;
  const routes =
    mod['ROUTES'] ?? (mod['default'] as Record<string, unknown> | undefined)?.['ROUTES'];
  if (!Array.isArray(routes)) throw new Error(`${file} must export ROUTES: Array<[path, handler]>`);
  for (const route of routes) {
    if (
      !Array.isArray(route) ||
      !(typeof route[0] === 'string' || route[0] instanceof RegExp) ||
      typeof route[1] !== 'function'
    ) {
      throw new Error(`${file}: every ROUTES entry must be [string | RegExp, handler]`);
    }
  }
  return routes as ExtraRoute[];
}

function describeError(error: unknown, dir?: string): string {
  if (!(error instanceof Error)) return String(error);
  // esbuild/tsx errors already carry file:line:column in their message; an
  // error thrown while the module runs gets its first frame in the folder
  if (dir === undefined || /\.[cm]?[jt]s:\d+/.test(error.message)) return error.message;
  const frame = (error.stack ?? '')
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line.startsWith('at ') && line.includes(dir));
  return frame ? `${error.message}\n    ${frame.replace(/\?databench-v=\d+/, '')}` : error.message;
}

let generation = 0;

/** Load a folder of analyses: index.yaml, each analysis module, its routes, README and thumbnail. */
export async function loadApp(options: {
  dir: string;
  packaged: boolean;
  cliArgs: string[];
  logger: Logger;
  /** The app this one replaces: unchanged analyses keep their loaded class. */
  previous?: App;
  /** Import every analysis again (a shared file outside the analysis folders changed). */
  force?: boolean;
}): Promise<App> {
  const { dir, packaged, cliArgs, logger, previous } = options;
  const gen = ++generation;
  registerReloadHooks();
  const errors: App['errors'] = [];
  const hash = createHash('sha256');
  const yamlText = await readOptional(join(dir, 'index.yaml'));
  hash.update(yamlText ?? '');
  // the folder's own templates and README: a change must reach open pages too
  for (const item of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  )) {
    if (item.isFile() && /\.(html|md)$/.test(item.name)) {
      hash.update(item.name).update(await readFile(join(dir, item.name)));
    }
  }
  let config: Record<string, unknown> = {};
  if (yamlText !== undefined) {
    try {
      const parsed = parseYaml(yamlText) as unknown;
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
        config = parsed as Record<string, unknown>;
      } else if (parsed !== null && parsed !== undefined) {
        errors.push({ name: 'index.yaml', message: 'index.yaml must be a mapping' });
      }
    } catch (error) {
      errors.push({ name: 'index.yaml', message: `index.yaml: ${describeError(error)}` });
    }
  }
  const folderReadme = await readOptional(join(dir, 'README.md'));
  const info: AnalysesInfo = {
    title: str(config['title'], 'databench'),
    description: str(config['description']),
    author: str(config['author']),
    version: str(config['version']),
    static: staticMap(config['static'], dir, errors),
    build: typeof config['build'] === 'string' ? config['build'] : undefined,
    watch: strList(config['watch']),
    readmeHtml: folderReadme ? renderMarkdown(folderReadme) : '',
    datastore: typeof config['datastore'] === 'string' ? config['datastore'] : undefined,
  };

  let list: unknown[];
  if (Array.isArray(config['analyses'])) {
    list = config['analyses'];
  } else {
    // no list: every subfolder with an analysis.ts
    const names = (await readdir(dir, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    list = [];
    for (const name of names) {
      if (await exists(join(dir, name, 'analysis.ts'))) list.push({ name });
    }
  }

  const entries = new Map<string, AnalysisEntry>();
  for (const [index, raw] of list.entries()) {
    const item = (typeof raw === 'string' ? { name: raw } : raw) as Record<string, unknown> | null;
    const name = item && typeof item === 'object' ? str(item['name']) : '';
    if (!item || !NAME.test(name) || RESERVED.has(name)) {
      const message = `index.yaml: analyses[${index}] needs a "name" that is an identifier (letters, digits, _) and not reserved; got ${JSON.stringify(raw)}`;
      errors.push({ name: name || `analyses[${index}]`, message });
      logger.error(message);
      continue;
    }
    if (entries.has(name)) {
      errors.push({ name, message: `index.yaml: analysis "${name}" is listed twice` });
      continue;
    }
    const adir = join(dir, name);
    const entry: AnalysisEntry = {
      name,
      title: str(item['title'], name),
      description: str(item['description']),
      showInIndex: item['show_in_index'] !== false,
      kernel: typeof item['kernel'] === 'string' ? item['kernel'] : undefined,
      watch: strList(item['watch']),
      build: typeof item['build'] === 'string' ? item['build'] : undefined,
      dir: adir,
      readmeHtml: '',
      thumbnail: undefined,
      meta: undefined,
      error: undefined,
      version: '',
      stale: false,
    };
    entries.set(name, entry);
    const prev = previous?.entries.get(name);
    try {
      if (!(await exists(adir))) throw new Error(`folder ${adir} is missing`);
      const { names: files, readme, version } = await readAnalysisFolder(adir);
      entry.thumbnail = ['thumbnail.png', 'thumbnail.jpg', 'thumbnail.jpeg'].find((f) =>
        files.includes(f),
      );
      if (readme) entry.readmeHtml = renderMarkdown(readme);
      entry.version = version;
      hash.update(entry.version);
      if (!options.force && prev?.meta && !prev.error && prev.version === entry.version) {
        entry.meta = prev.meta;
        continue;
      }
      if (entry.kernel !== undefined) {
        throw new Error(`kernel "${entry.kernel}" is not supported by this version of databench`);
      }
      const source = join(adir, 'analysis.ts');
      if (!files.includes('analysis.ts')) throw new Error(`${source} is missing`);
      const cls = await importAnalysis(source, gen);
      const routes = files.includes('routes.ts')
        ? await importRoutes(join(adir, 'routes.ts'), gen)
        : [];
      entry.meta = new Meta(name, cls, adir, routes, cliArgs);
    } catch (error) {
      entry.error = describeError(error, adir);
      logger.error(`analysis "${name}" failed to load: ${entry.error}`);
      if (prev?.meta) {
        // keep serving the last good version until a save fixes the error
        entry.meta = prev.meta;
        entry.stale = true;
        logger.warn(`analysis "${name}": the last good version keeps serving`);
      }
    }
  }
  logger.debug(`loaded ${entries.size} analyses from ${relative(process.cwd(), dir) || '.'}`);
  return {
    dir,
    packaged,
    info,
    entries,
    errors,
    version: hash.digest('hex').slice(0, 12),
  };
}
