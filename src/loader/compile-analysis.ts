/**
 * Analyses are TypeScript, imported at run time. Instead of a loader hook
 * in the server (tsx: a module-loader thread, esbuild's worker thread and
 * its Go process for the whole life of the server: ~150 MB), each analysis
 * module is compiled once per load with esbuild's async API into one
 * JavaScript file: its own local modules bundled in (so a reload imports
 * them anew too), packages and Node builtins left as imports. esbuild's
 * process is stopped once no compile is running.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, isAbsolute, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Loader, Message, Plugin } from 'esbuild';
import { DatabenchError } from '../protocol/errors.js';

/** An analysis module compiled to JavaScript, on disk until disposed. */
export interface CompiledModule {
  /** The `file://` URL to import. */
  url: string;
  /** Remove the file (its temp folder too once nothing else is in it). */
  dispose(): Promise<void>;
}

/** Options of {@link compileAnalysis}. */
export interface CompileOptions {
  /**
   * The folder whose files are the user's: an import that resolves to a file
   * in it (outside node_modules) is compiled in, even written as a bare name
   * (tsconfig `paths`, package `imports`). Default: the module's folder.
   */
  root?: string;
}

type Esbuild = typeof import('esbuild');

let esbuild: Promise<Esbuild> | undefined;
/** Compiles running (or held by {@link holdCompiler}): esbuild's process stops when none is. */
let holds = 0;
let stopTimer: NodeJS.Timeout | undefined;
/** The per-process folder of compiled files; made on first use, removed when empty and at exit. */
let outDir: string | undefined;
let live = 0;
let counter = 0;
let exitHook = false;

/**
 * The conditions Node resolves package exports with in this process (beside
 * `node`, `import`/`require` and `default`): those of `--conditions`/`-C`.
 */
function processConditions(): string[] {
  const out: string[] = [];
  const argv = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const m = /^(?:--conditions|-C)(?:=(.*))?$/.exec(arg);
    if (!m) continue;
    const value = m[1] ?? argv[++i];
    if (value) out.push(value);
  }
  return out;
}

/**
 * Keep esbuild's process between the compiles of one load (a folder of
 * analyses); the returned function releases the hold. When the last hold is
 * released the process stops, after `lingerMs` if given (a reload expects
 * the next save soon; a new hold meanwhile keeps the process).
 *
 * @example const release = holdCompiler(); try { ... } finally { release(); }
 */
export function holdCompiler(): (lingerMs?: number) => void {
  clearTimeout(stopTimer);
  stopTimer = undefined;
  if (++holds === 1) {
    // esbuild's process starts now, while the caller reads its files and renders READMEs
    void loadEsbuild().then((e) => {
      if (holds === 0) return;
      try {
        void e.initialize({});
      } catch {
        // already running
      }
    });
  }
  let released = false;
  return (lingerMs = 0) => {
    if (released) return;
    released = true;
    if (--holds > 0 || !esbuild) return;
    const stop = (): void => {
      stopTimer = undefined;
      // esbuild starts a new process on the next build after stop()
      if (holds === 0) void esbuild?.then((e) => e.stop());
    };
    if (lingerMs > 0) stopTimer = setTimeout(stop, lingerMs).unref();
    else stop();
  };
}

/** @internal This process's folder of compiled modules; undefined when none is alive (tests). */
export function compiledFolder(): string | undefined {
  return outDir;
}

function loadEsbuild(): Promise<Esbuild> {
  esbuild ??= import('esbuild');
  return esbuild;
}

function ensureOutDir(): string {
  if (outDir === undefined) {
    outDir = mkdtempSync(join(tmpdir(), `databench-analyses-${process.pid}-`));
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => {
        if (outDir !== undefined) rmSync(outDir, { recursive: true, force: true });
      });
    }
  }
  return outDir;
}

async function releaseFile(file: string): Promise<void> {
  await rm(file, { force: true });
  if (--live === 0 && outDir !== undefined) {
    const dir = outDir;
    outDir = undefined;
    await rm(dir, { recursive: true, force: true });
  }
}

function isInside(file: string, folder: string): boolean {
  const rel = relative(folder, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** This package's sources (from src/server or dist/server): run from a clone, Node imports them through tsx. */
const PACKAGE_SOURCES = fileURLToPath(new URL('../../src/', import.meta.url));
const TYPESCRIPT = /\.[cm]?tsx?$/;

const inNodeModules = (file: string): boolean => file.split(sep).includes('node_modules');

const LOADERS: Record<string, Loader> = {
  '.ts': 'ts',
  '.mts': 'ts',
  '.cts': 'ts',
  '.tsx': 'tsx',
  '.jsx': 'jsx',
  '.js': 'js',
  '.mjs': 'js',
  '.cjs': 'js',
};

/** The namespace of the per-file `import.meta` values. */
const META_NS = 'databench-import-meta';
const META_NAMES = {
  url: '__databench_import_meta_url',
  dirname: '__databench_import_meta_dirname',
  filename: '__databench_import_meta_filename',
};

/**
 * The plugin that keeps packages out of the bundle and `import.meta` at
 * each source file. Packages are imported by their absolute URL, resolved
 * by esbuild with Node's conditions, so that the analysis shares the
 * server's 'databench-ts' (and every other package instance) whatever folder
 * the compiled file is in. A source that mentions `import.meta` gets an
 * import of its own `url`, `dirname` and `filename` appended (imports are
 * hoisted, and an appended line moves no line or column of the source, so
 * source maps and syntax errors still point where the user looks); the
 * build's `define` turns `import.meta.url` into that binding.
 */
function analysisPlugin(root: string): Plugin {
  return {
    name: 'databench-analysis',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.namespace === META_NS || args.pluginData === 'databench-resolving') {
          return undefined;
        }
        if (args.path.startsWith(`${META_NS}:`)) {
          return { path: args.path.slice(META_NS.length + 1), namespace: META_NS };
        }
        if (isBuiltin(args.path)) return { path: args.path, external: true };
        const result = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          namespace: 'file',
          pluginData: 'databench-resolving',
          ...(args.with ? { with: args.with } : {}),
        });
        if (result.errors.length > 0) {
          // an optional package, imported or required where its absence is caught:
          // left to fail at run time as it did before, not at load
          if (args.kind === 'dynamic-import' || args.kind === 'require-call') {
            return { path: args.path, external: true };
          }
          return { errors: result.errors };
        }
        if (result.external || result.namespace !== 'file') return result;
        const bare = !/^(\.\.?)(\/|$)/.test(args.path) && !isAbsolute(args.path);
        const own =
          (!inNodeModules(result.path) && (!bare || isInside(result.path, root))) ||
          // a package published as TypeScript (a workspace's): Node cannot import it,
          // except this package's own sources, run from a clone with tsx
          (TYPESCRIPT.test(result.path) && !isInside(result.path, PACKAGE_SOURCES));
        if (own) return { path: result.path, sideEffects: result.sideEffects };
        // require() takes a path, import a URL
        const path = args.kind === 'require-call' ? result.path : pathToFileURL(result.path).href;
        return { path, external: true };
      });
      build.onLoad({ filter: /.*/, namespace: META_NS }, (args) => ({
        contents:
          `export const url = ${JSON.stringify(pathToFileURL(args.path).href)};\n` +
          `export const dirname = ${JSON.stringify(dirname(args.path))};\n` +
          `export const filename = ${JSON.stringify(args.path)};\n`,
        loader: 'js',
      }));
      build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, async (args) => {
        const loader = LOADERS[extname(args.path)];
        if (loader === undefined) return undefined;
        let contents = await readFile(args.path, 'utf8');
        if (contents.includes('import.meta')) {
          const names = Object.entries(META_NAMES)
            .map(([key, local]) => `${key} as ${local}`)
            .join(', ');
          contents += `\nimport { ${names} } from ${JSON.stringify(`${META_NS}:${args.path}`)};\n`;
        }
        return { contents, loader };
      });
    },
  };
}

/** esbuild's messages as one error naming `file:line:column` (column from 0, as esbuild counts). */
function buildError(messages: Message[], workingDir: string, cause: unknown): DatabenchError {
  const lines = messages.map((m) => {
    const at = m.location
      ? `${isAbsolute(m.location.file) ? m.location.file : join(workingDir, m.location.file)}:${m.location.line}:${m.location.column}: `
      : '';
    return `${at}ERROR: ${m.text}`;
  });
  const n = messages.length;
  return new DatabenchError(
    'COMPILE',
    `Build failed with ${n} error${n === 1 ? '' : 's'}:\n${lines.join('\n')}`,
    { cause },
  );
}

/**
 * Compile the analysis module `file` (and the local modules it imports) to
 * one JavaScript module in this process's temp folder. Import its `url`;
 * dispose it when nothing will import it again (a worker kernel's threads
 * import it as they start, so it lives as long as the kernel). A syntax
 * error rejects with `file:line:column: ERROR: …`.
 *
 * @example const mod = await compileAnalysis('/a/hello/analysis.ts'); await import(mod.url); await mod.dispose();
 */
export async function compileAnalysis(
  file: string,
  options: CompileOptions = {},
): Promise<CompiledModule> {
  const release = holdCompiler();
  try {
    const { build } = await loadEsbuild();
    // counted before it exists, so that another module's dispose cannot remove the folder meanwhile
    const dir = ensureOutDir();
    live++;
    const out = join(dir, `${++counter}-${basename(file).replace(/\.[^.]*$/, '')}.mjs`);
    const workingDir = dirname(file);
    let code: string;
    try {
      const result = await build({
        entryPoints: [file],
        absWorkingDir: workingDir,
        outfile: out,
        write: false,
        bundle: true,
        format: 'esm',
        platform: 'node',
        target: `node${process.versions.node}`,
        conditions: processConditions(),
        mainFields: ['main'],
        sourcemap: 'inline',
        sourcesContent: false,
        // a class renamed to avoid a clash between two bundled modules keeps its name
        keepNames: true,
        logLevel: 'silent',
        // a CommonJS helper's require() of a package or builtin (esbuild's shim uses this one)
        banner: {
          js: "import { createRequire as __databenchCreateRequire } from 'node:module';\nconst require = __databenchCreateRequire(import.meta.url);",
        },
        define: {
          'import.meta.url': META_NAMES.url,
          'import.meta.dirname': META_NAMES.dirname,
          'import.meta.filename': META_NAMES.filename,
        },
        plugins: [analysisPlugin(options.root ?? workingDir)],
      });
      code = result.outputFiles[0]?.text ?? '';
    } catch (error) {
      await releaseFile(out);
      const errors = (error as { errors?: Message[] } | null)?.errors;
      if (Array.isArray(errors) && errors.length > 0) throw buildError(errors, workingDir, error);
      throw error;
    }
    try {
      await writeFile(out, code);
    } catch (error) {
      await releaseFile(out);
      throw error;
    }
    // stack traces name the .ts source (the inline source map) in the
    // modules imported from now on
    process.setSourceMapsEnabled(true);
    let disposed: Promise<void> | undefined;
    return {
      url: pathToFileURL(out).href,
      // every caller waits for the one removal
      dispose: () => (disposed ??= releaseFile(out)),
    };
  } finally {
    release();
  }
}
