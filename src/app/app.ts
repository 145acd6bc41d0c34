import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, delimiter, dirname, join, relative, resolve } from 'node:path';
import { DatabenchError } from '../protocol/errors.js';
import type { AnalysisClass } from '../analysis/analysis.js';
import type { ExtraRoute } from '../analysis/routes.js';
import { compileAnalysis, holdCompiler } from '../loader/compile-analysis.js';
import { importRoutes } from '../loader/load-routes.js';
import { pickReadme, renderReadme } from './readme.js';
import { describeLoadError, importAnalysis } from '../loader/load-analysis.js';
import type { Logger } from '../util/logger.js';
import { PACKAGE_ROOT } from '../util/package-root.js';
import { InProcessKernel } from '../kernel/in-process.js';
import type { Kernel } from '../kernel/kernel.js';
import { Meta } from '../analysis/meta.js';
import {
  ANALYSES_KEYS,
  ENTRY_KEYS,
  normalizeEntry,
  readIndexYaml,
  unknownKeyWarning,
  type ConfigError,
  type EntryConfig,
  type IndexConfig,
  type IndexYaml,
} from './config.js';

export { staticPattern } from './config.js';

/** The analyses served when the user has none. */
const PACKAGED_ANALYSES = join(PACKAGE_ROOT, 'analyses');

/**
 * The folder's settings as pages and routes use them (from index.yaml, with
 * `static` folders resolved and the README rendered); index.yaml as read is
 * {@link App.config}.
 */
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
}

/** One analysis of the folder, loaded or not. */
export interface AnalysisEntry {
  name: string;
  title: string;
  description: string;
  showInIndex: boolean;
  /**
   * `resume_on_reload:` of index.yaml: a page loaded again (a save reloaded
   * it, the user refreshed it) resumes its session and its `data`.
   */
  resumeOnReload: boolean;
  /**
   * Who may open it: its `allow` of index.yaml, else the folder's; undefined:
   * everyone who passes the token or login.
   */
  allow: string[] | undefined;
  /**
   * The kind of kernel that runs it: `kernel:` of index.yaml, else `py` when
   * its folder holds an `analysis.py` and no `analysis.ts`; undefined: in
   * this process.
   */
  kernelKind: string | undefined;
  /** `threads:` of index.yaml (a worker kernel's pool size). */
  threads: number | undefined;
  watch: string[];
  build: string | undefined;
  dir: string;
  readmeHtml: string;
  /** File name of its thumbnail, if it has one. */
  thumbnail: string | undefined;
  /** What runs the analysis's sessions; undefined when it failed to load (or is loading). */
  kernel: Kernel | undefined;
  /**
   * Set while its kernel loads in the background (the server already
   * listens): settles when `kernel` or `error` is set.
   */
  loading?: Promise<void> | undefined;
  /**
   * The domain of its `classData` (what every page of this analysis shares,
   * on every kernel; the key of a Redis datastore): the class name when no
   * other analysis of the folder has a class of that name (databench 0.7's
   * domain), else `ClassName@analysisName`, so that two analyses never share
   * it by accident. Decided each time the folder loads; undefined when the
   * analysis did not load (its kernel then uses the class name).
   */
  classDomain?: string | undefined;
  /** Why it could not be loaded (file and line where known). */
  error: string | undefined;
  /** A hash of its files: a reload re-imports only analyses whose hash changed. */
  version: string;
  /** True when `kernel` is the last good version kept after a failed reload. */
  stale: boolean;
  /**
   * TypeScript type errors of its folder from the last background check
   * (`--typecheck`) since the last reload, shown in its pages' error panel
   * as a warning; the analysis still runs.
   */
  typeErrors?: string | undefined;
}

/** A loaded folder of analyses. */
export interface App {
  dir: string;
  packaged: boolean;
  info: AnalysesInfo;
  entries: Map<string, AnalysisEntry>;
  /** index.yaml as read (its unknown keys among it). */
  config: IndexConfig;
  /** Problems of the folder itself (index.yaml), shown on the index page. */
  errors: ConfigError[];
  /** A hash of the sources: pages reload when it changes between two connects. */
  version: string;
  /** Settles when every kernel loading in the background has loaded or failed. */
  loaded: Promise<void>;
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

/** A Python import path of at least two names (`databench.tests.analyses`). */
const IMPORT_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/;

/**
 * The folder of `--analyses` given as databench 0.7 took it, a Python import
 * path (`databench.tests.analyses`, `tests.analyses`), found as Python finds
 * a package: from the working directory (0.7 put it first on `sys.path`),
 * then the folders of `PYTHONPATH`. Undefined when it is no import path or
 * names no folder: it is then taken as a path.
 */
async function importPathFolder(cwd: string, value: string): Promise<string | undefined> {
  if (!IMPORT_PATH.test(value)) return undefined;
  const parts = value.split('.');
  const roots = [cwd, ...(process.env['PYTHONPATH'] ?? '').split(delimiter).filter(Boolean)];
  for (const root of roots) {
    const dir = resolve(cwd, root, ...parts);
    if ((await stat(dir).catch(() => undefined))?.isDirectory()) return dir;
  }
  return undefined;
}

/**
 * Where the analyses are, as in the original: `explicit` (a folder or its
 * index.yaml, or 0.7's Python import path of the folder), else `./analyses/index.yaml`, else `./index.yaml`, else the
 * packaged analyses.
 */
export async function findAnalysesDir(
  cwd: string,
  explicit?: string,
): Promise<{ dir: string; packaged: boolean }> {
  if (explicit !== undefined) {
    const path = (await importPathFolder(cwd, explicit)) ?? resolve(cwd, explicit);
    const s = await stat(path).catch(() => undefined);
    if (!s) {
      const dotted = IMPORT_PATH.test(explicit)
        ? ` (nor a package ${explicit} from ${cwd}${process.env['PYTHONPATH'] ? ' or PYTHONPATH' : ''})`
        : '';
      throw new DatabenchError('ANALYSES_NOT_FOUND', `analyses folder not found: ${path}${dotted}`);
    }
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
  if (await hasSource(dir)) {
    const parent = relative(cwd, dirname(dir)) || '.';
    throw new DatabenchError(
      'ANALYSES_IS_ANALYSIS',
      `--analyses points at the analysis \`${basename(dir)}\`; serve its parent folder: \`--analyses ${parent}\``,
    );
  }
  const items = await readdir(dir, { withFileTypes: true });
  for (const item of items) {
    if (item.isDirectory() && (await hasSource(join(dir, item.name)))) return;
  }
  throw new DatabenchError(
    'NO_ANALYSES',
    `--analyses ${relative(cwd, dir) || '.'}: no analyses there (no index.yaml, no folder with an analysis.ts or analysis.py); create one with \`databench new NAME\``,
  );
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

/** What making a kernel for one analysis gets. */
interface KernelContext {
  /** The analysis, as index.yaml configures it. */
  entry: EntryConfig;
  /** Its source file (the kind's `source` in its folder). */
  source: string;
  /** Its folder. */
  dir: string;
  /** The analyses folder (the root its modules compile against). */
  root: string;
  routes: ExtraRoute[];
  cliArgs: string[];
  logger: Logger;
}

/** One kind of kernel: the source file it runs and how to start it. */
interface KernelKind {
  /** The analysis's source file in its folder. */
  source: 'analysis.ts' | 'analysis.py';
  /**
   * True when it starts in the background while the next analyses load (a
   * Python process is ready in ~75 ms); false when it is awaited in turn.
   */
  background: boolean;
  create(context: KernelContext): Promise<Kernel>;
}

/**
 * The kinds of kernel, by index.yaml's `kernel:`; without one, by the
 * source the folder holds ({@link inferredKernel}: an analysis.py alone runs
 * in `py`, else the server's own thread). The modules of the worker and
 * Python kernels load only when an analysis uses them. A folder without an
 * `analyses` list finds its analyses by these sources.
 */
const KERNEL_KINDS: ReadonlyMap<string | undefined, KernelKind> = new Map<
  string | undefined,
  KernelKind
>([
  [
    undefined,
    {
      source: 'analysis.ts',
      background: false,
      async create({ entry, source, dir, root, routes, cliArgs, logger }) {
        const compiled = await compileAnalysis(source, { root });
        let cls: AnalysisClass;
        try {
          cls = await importAnalysis(compiled.url, source);
        } finally {
          await compiled.dispose();
        }
        return new InProcessKernel(new Meta(entry.name, cls, dir, routes, cliArgs), logger);
      },
    },
  ],
  [
    'worker',
    {
      source: 'analysis.ts',
      background: false,
      async create({ entry, source, root, routes, cliArgs, logger }) {
        const { WorkerKernel } = await import('../kernel/worker/worker-kernel.js');
        // threads import it as they start: it lives as long as the kernel
        const compiled = await compileAnalysis(source, { root });
        try {
          return await WorkerKernel.create({
            name: entry.name,
            file: source,
            module: compiled,
            routes,
            cliArgs,
            logger,
            threads: entry.threads,
            memoryMb: entry.memoryMb,
          });
        } catch (error) {
          await compiled.dispose();
          throw error;
        }
      },
    },
  ],
  ['py', pythonKind('py')],
  // databench 0.7's PySpark kernel: the Python kernel, when pyspark imports in it
  ['pyspark', pythonKind('pyspark')],
]);

/** A Python kernel: `kernel: py`, or `kernel: pyspark` (which needs pyspark). */
function pythonKind(flavour: 'py' | 'pyspark'): KernelKind {
  return {
    source: 'analysis.py',
    background: true,
    async create({ entry, source, root, routes, cliArgs, logger }) {
      const { PythonKernel } = await import('../kernel/python/python-kernel.js');
      return PythonKernel.create({
        name: entry.name,
        file: source,
        root,
        flavour,
        routes,
        cliArgs,
        logger,
        python: entry.python,
        processes: entry.processes,
        loadTimeoutMs: entry.loadTimeoutMs,
      });
    },
  };
}

/**
 * The kernel of an entry without `kernel:`, by the source its folder holds:
 * an `analysis.py` alone runs in the Python kernel (databench 0.7 ran every
 * such analysis in Python), anything else in the server's own thread. A
 * folder with both is an error naming both: which one runs must be said.
 */
function inferredKernel(files: readonly string[], dir: string): string | undefined {
  const ts = files.includes('analysis.ts');
  const py = files.includes('analysis.py');
  if (ts && py) {
    throw new DatabenchError(
      'ANALYSIS_AMBIGUOUS',
      `${join(dir, 'analysis.ts')} and ${join(dir, 'analysis.py')} are both there: remove one, or set kernel: py in index.yaml to run analysis.py`,
    );
  }
  if (py) return 'py';
  if (!ts) {
    throw new DatabenchError(
      'ANALYSIS_MISSING',
      `${join(dir, 'analysis.ts')} is missing (or analysis.py, for a Python analysis)`,
    );
  }
  return undefined;
}

/** The kind of kernel `name` (index.yaml's `kernel:`) names, or an error listing the known ones. */
function kernelKind(name: string | undefined, analysis: string): KernelKind {
  const kind = KERNEL_KINDS.get(name);
  if (kind) return kind;
  const known = [...KERNEL_KINDS.keys()].filter((k) => k !== undefined);
  throw new DatabenchError(
    'UNKNOWN_KERNEL',
    `index.yaml: analysis "${analysis}": unknown kernel "${String(name)}" (known: ${known.join(', ')}; none runs it in the server's own thread)`,
  );
}

/**
 * The folders of index.yaml's `static` map, found as databench 0.7 found
 * them: relative to the analyses folder, else to the working directory
 * (where `npm install` put the project's `node_modules`). A root found in
 * neither is logged (0.7: "Did not find static root") and kept relative to
 * the analyses folder, so it serves once it is made there.
 */
async function resolveStaticRoots(
  map: ReadonlyArray<[RegExp, string]>,
  dir: string,
  cwd: string,
  logger: Logger | undefined,
): Promise<Array<[RegExp, string]>> {
  const out: Array<[RegExp, string]> = [];
  for (const [pattern, folder] of map) {
    const candidates = [resolve(dir, folder), resolve(cwd, folder)];
    let root: string | undefined;
    for (const candidate of candidates) {
      if (await exists(candidate)) {
        root = candidate;
        break;
      }
    }
    if (root === undefined) {
      const where = [...new Set([relative(cwd, dir) || '.', '.'])].join(' or ');
      logger?.warn(
        `index.yaml: did not find static root ${folder} in ${where} (for ${staticKey(pattern)}); run npm install if it is a package`,
      );
    }
    out.push([pattern, root ?? candidates[0]!]);
  }
  return out;
}

/** A `static` key as index.yaml has it (0.7's form: without the anchors and leading `/`). */
function staticKey(pattern: RegExp): string {
  return pattern.source
    .replace(/^\^\\\//, '')
    .replace(/\$$/, '')
    .replace(/\\\//g, '/');
}

/** How long esbuild's process stays after a reload (saves come in runs while editing). */
const RELOAD_COMPILER_LINGER_MS = 30_000;

/** Load a folder of analyses: index.yaml, each analysis module, its routes, README and thumbnail. */
export async function loadApp(options: {
  dir: string;
  packaged: boolean;
  cliArgs: string[];
  logger: Logger;
  /** Its index.yaml, when already read (the server reads it first for its options). */
  index?: IndexYaml;
  /** The app this one replaces: unchanged analyses keep their loaded class. */
  previous?: App;
  /** Import every analysis again (a shared file outside the analysis folders changed). */
  force?: boolean;
  /**
   * The working directory: a `static` root not found in the analyses folder
   * is looked for here. Default: `process.cwd()`.
   */
  cwd?: string;
  /**
   * false: resolve before the kernels that load in the background (Python
   * processes) have loaded; each such entry has `loading` meanwhile and
   * `app.loaded` settles when all have. Default: true (wait for them).
   */
  awaitKernels?: boolean;
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

/** One analysis of a folder as index.yaml (or discovery) names it, before anything loads. */
export interface ListedAnalysis {
  /** The entry of index.yaml (or of a discovered folder). */
  entry: EntryConfig;
  /** Its folder. */
  dir: string;
  /** Its source (`analysis.ts`, `analysis.py`), by its kernel; undefined for an unknown kernel. */
  source: string | undefined;
}

/**
 * The analyses of the folder `dir` without loading them (what `databench
 * check` reads): index.yaml's list, else every subfolder with an analysis
 * source; and the problems of index.yaml.
 */
export async function listAnalyses(
  dir: string,
): Promise<{ analyses: ListedAnalysis[]; errors: ConfigError[] }> {
  const { config } = await readIndexYaml(dir);
  const errors = [...config.errors];
  const list = config.entries ?? (await discoverEntries(dir, errors));
  const analyses = list.map((entry) => {
    const source = KERNEL_KINDS.get(entry.kernel)?.source;
    return { entry, dir: join(dir, entry.name), source };
  });
  return { analyses, errors };
}

/** Each subfolder with an analysis source, as an entry of the kind that runs it. */
async function discoverEntries(dir: string, errors: ConfigError[]): Promise<EntryConfig[]> {
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const entries: EntryConfig[] = [];
  let found = 0;
  for (const name of names) {
    if (!(await hasSource(join(dir, name)))) continue;
    // its kernel follows from its source, as for a listed entry without `kernel:`
    const entry = normalizeEntry({ name }, found++, errors);
    if (entry) entries.push(entry);
  }
  return entries;
}

/** Whether `dir` holds the source of any kind of kernel (an analysis.ts or analysis.py). */
async function hasSource(dir: string): Promise<boolean> {
  const sources = new Set([...KERNEL_KINDS.values()].map((kind) => kind.source));
  for (const source of sources) if (await exists(join(dir, source))) return true;
  return false;
}

/**
 * Give each loaded analysis its `classData` domain (see
 * {@link AnalysisEntry.classDomain}): the class name where that name is the
 * folder's only class of that name, `ClassName@analysisName` where two or
 * more analyses have classes of one name (a TypeScript and a Python version
 * of one analysis, a copied scaffold).
 */
function assignClassDomains(entries: Iterable<AnalysisEntry>): void {
  const all = [...entries];
  const uses = new Map<string, number>();
  for (const entry of all) {
    const name = entry.kernel?.className;
    if (name !== undefined) uses.set(name, (uses.get(name) ?? 0) + 1);
  }
  for (const entry of all) {
    const name = entry.kernel?.className;
    entry.classDomain =
      name === undefined ? undefined : uses.get(name) === 1 ? name : `${name}@${entry.name}`;
  }
}

async function loadFolder(options: Parameters<typeof loadApp>[0]): Promise<App> {
  const { dir, packaged, cliArgs, logger, previous } = options;
  const hash = createHash('sha256');
  const index = options.index ?? (await readIndexYaml(dir));
  hash.update(index.text ?? '');
  // the folder's own templates and README: a change must reach open pages too
  for (const item of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  )) {
    if (item.isFile() && /\.(html|md|rst)$/.test(item.name)) {
      hash.update(item.name).update(await readFile(join(dir, item.name)));
    }
  }
  const config = index.config;
  const errors: ConfigError[] = [...config.errors];
  const folderReadmeName = pickReadme(await readdir(dir));
  const folderReadme =
    folderReadmeName === undefined ? undefined : await readOptional(join(dir, folderReadmeName));
  const info: AnalysesInfo = {
    title: config.analyses.title,
    description: config.analyses.description,
    author: config.analyses.author,
    version: config.analyses.version,
    // a reload finds the roots again, and says nothing of one still missing
    static: await resolveStaticRoots(
      config.analyses.static,
      dir,
      options.cwd ?? process.cwd(),
      previous ? undefined : logger,
    ),
    build: config.analyses.build,
    watch: config.analyses.watch,
    readmeHtml:
      folderReadme && folderReadmeName ? await renderReadme(folderReadmeName, folderReadme) : '',
  };
  const list = config.entries ?? (await discoverEntries(dir, errors));
  for (const error of errors) logger.error(error.message);
  // a typo of a key would otherwise change nothing, silently
  for (const key of config.analyses.unknownKeys) {
    logger.warn(unknownKeyWarning('index.yaml', key, ANALYSES_KEYS));
  }
  for (const item of list) {
    for (const key of item.unknownKeys) {
      logger.warn(unknownKeyWarning(`index.yaml: analysis "${item.name}"`, key, ENTRY_KEYS));
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
  /** Kernels starting in the background while the next analyses load. */
  const starting: Array<Promise<void>> = [];
  for (const item of list) {
    const name = item.name;
    const adir = join(dir, name);
    const entry: AnalysisEntry = {
      name,
      title: item.title,
      description: item.description,
      showInIndex: item.showInIndex,
      resumeOnReload: item.resumeOnReload,
      allow: item.allow ?? config.analyses.allow,
      kernelKind: item.kernel,
      threads: undefined,
      watch: item.watch,
      build: item.build,
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
      if (!(await exists(adir))) {
        throw new DatabenchError('ANALYSIS_MISSING', `folder ${adir} is missing`);
      }
      const { names: files, readme, version } = await readAnalysisFolder(adir);
      entry.thumbnail = ['thumbnail.png', 'thumbnail.jpg', 'thumbnail.jpeg'].find((f) =>
        files.includes(f),
      );
      if (readme) entry.readmeHtml = await renderReadme(readme.name, readme.text);
      entry.version = version;
      hash.update(entry.version);
      if (!options.force && prev?.kernel && !prev.error && prev.version === entry.version) {
        entry.kernel = prev.kernel;
        entry.kernelKind = prev.kernelKind;
        continue;
      }
      const kindName = item.kernel ?? inferredKernel(files, adir);
      const kind = kernelKind(kindName, name);
      entry.kernelKind = kindName;
      if (item.error !== undefined) throw new DatabenchError('INDEX_YAML', item.error);
      entry.threads = item.threads;
      const source = join(adir, kind.source);
      if (!files.includes(kind.source)) {
        throw new DatabenchError('ANALYSIS_MISSING', `${source} is missing`);
      }
      const routes = files.includes('routes.ts')
        ? await importRoutes(join(adir, 'routes.ts'), dir)
        : [];
      const context = { entry: item, source, dir: adir, root: dir, routes, cliArgs, logger };
      if (kind.background) {
        const loading = kind.create(context).then(
          (kernel) => void (entry.kernel = kernel),
          (error: unknown) => failed(entry, prev, error),
        );
        starting.push(loading);
        if (options.awaitKernels === false) {
          entry.loading = loading.finally(() => (entry.loading = undefined));
        }
      } else {
        entry.kernel = await kind.create(context);
      }
    } catch (error) {
      failed(entry, prev, error);
    }
  }
  // the class names known so far (in-process and worker kernels), and again
  // once the kernels that load in the background (Python) have loaded
  assignClassDomains(entries.values());
  const loaded = Promise.all(starting).then(() => assignClassDomains(entries.values()));
  if (options.awaitKernels !== false) await loaded;
  logger.debug(
    `loaded ${entries.size} ${entries.size === 1 ? 'analysis' : 'analyses'} from ${relative(process.cwd(), dir) || '.'}`,
  );
  return {
    dir,
    packaged,
    info,
    config,
    entries,
    errors,
    version: hash.digest('hex').slice(0, 12),
    loaded,
  };
}
