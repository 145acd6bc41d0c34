import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DatabenchError } from '../protocol/errors.js';
import type { AnalysisClass } from '../analysis/analysis.js';
import { compileAnalysis, holdCompiler } from '../loader/compile-analysis.js';
import { importRoutes } from '../loader/load-routes.js';
import { pickReadme, renderReadme } from './readme.js';
import { describeLoadError, importAnalysis } from '../loader/load-analysis.js';
import type { Logger } from '../util/logger.js';
import { PACKAGE_ROOT } from '../util/package-root.js';
import { InProcessKernel } from '../kernel/in-process.js';
import type { Kernel } from '../kernel/kernel.js';
import { Meta } from '../analysis/meta.js';

/** The analyses served when the user has none. */
const PACKAGED_ANALYSES = join(PACKAGE_ROOT, 'analyses');

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
  /** `kernel:` of index.yaml: undefined (in this process), `worker` or `py`. */
  kernelKind: string | undefined;
  /** `threads:` of index.yaml (a worker kernel's pool size). */
  threads: number | undefined;
  watch: string[];
  build: string | undefined;
  dir: string;
  readmeHtml: string;
  /** File name of its thumbnail, if it has one. */
  thumbnail: string | undefined;
  /** What runs the analysis's sessions; undefined when it failed to load. */
  kernel: Kernel | undefined;
  /** Why it could not be loaded (file and line where known). */
  error: string | undefined;
  /** A hash of its files: a reload re-imports only analyses whose hash changed. */
  version: string;
  /** True when `kernel` is the last good version kept after a failed reload. */
  stale: boolean;
  /**
   * TypeScript type errors of its folder from the last background check
   * (`--typecheck`), shown on its page as a warning; the analysis still runs.
   */
  typeErrors?: string | undefined;
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
    const dir = s.isDirectory() ? path : dirname(path);
    if (s.isDirectory()) await checkAnalysesFolder(dir, cwd);
    return { dir, packaged: false };
  }
  if (await exists(join(cwd, 'analyses', 'index.yaml'))) {
    return { dir: join(cwd, 'analyses'), packaged: false };
  }
  if (await exists(join(cwd, 'index.yaml'))) return { dir: cwd, packaged: false };
  return { dir: PACKAGED_ANALYSES, packaged: true };
}

/**
 * A folder given as `--analyses` must hold analyses: one with no index.yaml
 * that is itself an analysis, or holds none, is a clear error instead of a
 * server with nothing to serve.
 */
async function checkAnalysesFolder(dir: string, cwd: string): Promise<void> {
  if (await exists(join(dir, 'index.yaml'))) return;
  if (await exists(join(dir, 'analysis.ts'))) {
    const parent = relative(cwd, dirname(dir)) || '.';
    throw new DatabenchError(
      'ANALYSES_IS_ANALYSIS',
      `--analyses points at the analysis \`${basename(dir)}\`; serve its parent folder: \`--analyses ${parent}\``,
    );
  }
  const items = await readdir(dir, { withFileTypes: true });
  for (const item of items) {
    if (item.isDirectory() && (await exists(join(dir, item.name, 'analysis.ts')))) return;
  }
  throw new DatabenchError(
    'NO_ANALYSES',
    `--analyses ${relative(cwd, dir) || '.'}: no analyses there (no index.yaml, no folder with an analysis.ts); create one with \`databench new NAME\``,
  );
}

function str(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : fallback;
}

function strList(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * A `static` key as a regex on the request path. `^…` is used as written;
 * otherwise it is matched the way databench 0.7 (Tornado) did: from the
 * start of the path after its `/`, to the end (`static/(.*)`,
 * `node_modules/(test_file\.txt)`).
 */
export function staticPattern(pattern: string): RegExp {
  if (pattern.startsWith('^')) return new RegExp(pattern);
  const body = pattern.replace(/^\//, '');
  return new RegExp('^/' + body + (body.endsWith('$') ? '' : '$'));
}

function staticMap(value: unknown, dir: string, errors: App['errors']): Array<[RegExp, string]> {
  const maps = Array.isArray(value) ? value : value ? [value] : [];
  const out: Array<[RegExp, string]> = [];
  for (const map of maps) {
    if (typeof map !== 'object' || map === null) continue;
    for (const [pattern, folder] of Object.entries(map as Record<string, unknown>)) {
      try {
        out.push([staticPattern(pattern), resolve(dir, str(folder))]);
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

/**
 * Read an analysis folder once: the names at its top, the text of its
 * README, and a hash of its code and page files below it (not node_modules
 * or static), which tells a reload whether to import it again.
 */
async function readAnalysisFolder(dir: string): Promise<{
  names: string[];
  readme: { name: string; text: string } | undefined;
  version: string;
}> {
  const hash = createHash('sha256');
  const names: string[] = [];
  const readmes = new Map<string, string>();
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
      } else if (/\.(ts|mts|js|mjs|json|html|md|rst|css|py)$/.test(item.name)) {
        const content = await readFile(path);
        hash.update(relative(dir, path)).update(content);
        if (depth === 0 && /^readme\.(md|rst)$/i.test(item.name)) {
          readmes.set(item.name, content.toString('utf8'));
        }
      }
    }
  };
  await walk(dir, 0);
  const readmeName = pickReadme([...readmes.keys()]);
  const readme =
    readmeName === undefined
      ? undefined
      : { name: readmeName, text: readmes.get(readmeName) ?? '' };
  return { names, readme, version: hash.digest('hex').slice(0, 12) };
}

/** `threads` or `processes` of an index.yaml entry: undefined, or a whole number of at least 1. */
function countOption(
  item: Record<string, unknown>,
  key: 'threads' | 'processes',
  name: string,
): number | undefined {
  const value = item[key];
  if (value === undefined || (typeof value === 'number' && Number.isInteger(value) && value >= 1)) {
    return value;
  }
  throw new Error(
    `index.yaml: analysis "${name}": ${key} must be a whole number of at least 1, got ${JSON.stringify(value)}`,
  );
}

/** How long esbuild's process stays after a reload (saves come in runs while editing). */
const RELOAD_COMPILER_LINGER_MS = 30_000;

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
  // one esbuild process for every analysis of the folder, stopped after the
  // last; after a reload it waits a while for the next save
  const release = holdCompiler();
  try {
    return await loadFolder(options);
  } finally {
    release(options.previous ? RELOAD_COMPILER_LINGER_MS : 0);
  }
}

async function loadFolder(options: Parameters<typeof loadApp>[0]): Promise<App> {
  const { dir, packaged, cliArgs, logger, previous } = options;
  const errors: App['errors'] = [];
  const hash = createHash('sha256');
  const yamlText = await readOptional(join(dir, 'index.yaml'));
  hash.update(yamlText ?? '');
  // the folder's own templates and README: a change must reach open pages too
  for (const item of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  )) {
    if (item.isFile() && /\.(html|md|rst)$/.test(item.name)) {
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
      errors.push({ name: 'index.yaml', message: `index.yaml: ${describeLoadError(error)}` });
    }
  }
  const folderReadmeName = pickReadme(await readdir(dir));
  const folderReadme =
    folderReadmeName === undefined ? undefined : await readOptional(join(dir, folderReadmeName));
  const info: AnalysesInfo = {
    title: str(config['title'], 'databench'),
    description: str(config['description']),
    author: str(config['author']),
    version: str(config['version']),
    static: staticMap(config['static'], dir, errors),
    build: typeof config['build'] === 'string' ? config['build'] : undefined,
    watch: strList(config['watch']),
    readmeHtml:
      folderReadme && folderReadmeName ? await renderReadme(folderReadmeName, folderReadme) : '',
    datastore: typeof config['datastore'] === 'string' ? config['datastore'] : undefined,
  };

  let list: unknown[];
  if (Array.isArray(config['analyses'])) {
    list = config['analyses'];
  } else {
    // no list: every subfolder with an analysis.ts (or an analysis.py, run by a Python kernel)
    const names = (await readdir(dir, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    list = [];
    for (const name of names) {
      if (await exists(join(dir, name, 'analysis.ts'))) list.push({ name });
      else if (await exists(join(dir, name, 'analysis.py'))) list.push({ name, kernel: 'py' });
    }
  }

  const entries = new Map<string, AnalysisEntry>();
  /** A load error: shown for the entry, and the last good version, if any, keeps serving. */
  const failed = (entry: AnalysisEntry, prev: AnalysisEntry | undefined, error: unknown): void => {
    entry.error = describeLoadError(error, entry.dir);
    logger.error(`analysis "${entry.name}" failed to load: ${entry.error}`);
    if (prev?.kernel) {
      // keep serving the last good version until a save fixes the error
      entry.kernel = prev.kernel;
      entry.stale = true;
      logger.warn(`analysis "${entry.name}": the last good version keeps serving`);
    }
  };
  /** Python kernels starting: a process is ready in ~75 ms, while the next analyses load. */
  const starting: Array<Promise<void>> = [];
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
      kernelKind: typeof item['kernel'] === 'string' ? item['kernel'] : undefined,
      threads: undefined,
      watch: strList(item['watch']),
      build: typeof item['build'] === 'string' ? item['build'] : undefined,
      dir: adir,
      readmeHtml: '',
      thumbnail: undefined,
      kernel: undefined,
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
      if (readme) entry.readmeHtml = await renderReadme(readme.name, readme.text);
      entry.version = version;
      hash.update(entry.version);
      if (!options.force && prev?.kernel && !prev.error && prev.version === entry.version) {
        entry.kernel = prev.kernel;
        continue;
      }
      if (
        entry.kernelKind !== undefined &&
        entry.kernelKind !== 'worker' &&
        entry.kernelKind !== 'py'
      ) {
        throw new Error(
          `index.yaml: analysis "${name}": unknown kernel "${entry.kernelKind}" (known: worker, py; none runs it in the server's own thread)`,
        );
      }
      entry.threads = countOption(item, 'threads', name);
      const sourceName = entry.kernelKind === 'py' ? 'analysis.py' : 'analysis.ts';
      const source = join(adir, sourceName);
      if (!files.includes(sourceName)) throw new Error(`${source} is missing`);
      const routes = files.includes('routes.ts')
        ? await importRoutes(join(adir, 'routes.ts'), dir)
        : [];
      if (entry.kernelKind === 'py') {
        const processes = countOption(item, 'processes', name);
        const python = item['python'];
        if (python !== undefined && (typeof python !== 'string' || python === '')) {
          throw new Error(
            `index.yaml: analysis "${name}": python must be the path or name of an interpreter, got ${JSON.stringify(python)}`,
          );
        }
        const { PythonKernel } = await import('../kernel/python/python-kernel.js');
        starting.push(
          PythonKernel.create({
            name,
            file: source,
            routes,
            cliArgs,
            logger,
            python,
            processes,
          }).then(
            (kernel) => void (entry.kernel = kernel),
            (error: unknown) => failed(entry, prev, error),
          ),
        );
      } else if (entry.kernelKind === 'worker') {
        const { WorkerKernel } = await import('../kernel/worker/worker-kernel.js');
        // threads import it as they start: it lives as long as the kernel
        const compiled = await compileAnalysis(source, { root: dir });
        try {
          entry.kernel = await WorkerKernel.create({
            name,
            file: source,
            module: compiled,
            routes,
            cliArgs,
            logger,
            threads: entry.threads,
          });
        } catch (error) {
          await compiled.dispose();
          throw error;
        }
      } else {
        const compiled = await compileAnalysis(source, { root: dir });
        let cls: AnalysisClass;
        try {
          cls = await importAnalysis(compiled.url, source);
        } finally {
          await compiled.dispose();
        }
        entry.kernel = new InProcessKernel(new Meta(name, cls, adir, routes, cliArgs), logger);
      }
    } catch (error) {
      failed(entry, prev, error);
    }
  }
  await Promise.all(starting);
  logger.debug(
    `loaded ${entries.size} ${entries.size === 1 ? 'analysis' : 'analyses'} from ${relative(process.cwd(), dir) || '.'}`,
  );
  return {
    dir,
    packaged,
    info,
    entries,
    errors,
    version: hash.digest('hex').slice(0, 12),
  };
}
