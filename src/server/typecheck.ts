import { createRequire } from 'node:module';
import { join, relative, sep } from 'node:path';
import { Worker } from 'node:worker_threads';

/** One TypeScript diagnostic of a type check. */
export interface TypeDiagnostic {
  /** Absolute path of the file, or undefined for a diagnostic of the configuration. */
  file: string | undefined;
  /** 1-based line and column (0 without a file). */
  line: number;
  column: number;
  /** The TypeScript error number (2322 for TS2322). */
  code: number;
  /** The message, with its chain of explanations on indented lines. */
  message: string;
}

/** The result of one {@link TypeChecker.check}. */
export interface TypeCheckResult {
  /** The tsconfig.json used, or undefined when none was found (defaults were used). */
  config: string | undefined;
  /** How many files the program checked (the analyses and what they import). */
  files: number;
  diagnostics: TypeDiagnostic[];
  /** Time spent in the worker. */
  durationMs: number;
}

/**
 * Checks the TypeScript of a folder of analyses on a worker thread, so a
 * check of several seconds never holds up the server, and keeps the
 * previous program to check again incrementally after a change.
 */
export interface TypeChecker {
  /** The TypeScript version in use. */
  readonly version: string;
  /** Check again; concurrent calls share one run that starts after the current one. */
  check(): Promise<TypeCheckResult>;
  /** Stop the worker. */
  close(): Promise<void>;
}

/** How long one check may take before it is given up (a runaway program). */
const CHECK_TIMEOUT_MS = 120_000;

/**
 * Where `typescript` is: the project's own (from `cwd`) first, else the one
 * next to this package (an optional peer dependency). Undefined when neither
 * is installed.
 */
export function findTypeScript(cwd: string): string | undefined {
  for (const from of [join(cwd, 'package.json'), import.meta.url]) {
    try {
      return createRequire(from).resolve('typescript');
    } catch {
      // not there: try the next place
    }
  }
  return undefined;
}

/**
 * Start a type checker for the analyses in `dir`: the nearest tsconfig.json
 * from `dir` upwards decides the files and options (as `tsc -p` would, with
 * `noEmit`); without one, every `.ts` under `dir` is checked with strict
 * defaults. Resolves to undefined when TypeScript is not installed.
 */
export async function createTypeChecker(options: {
  dir: string;
  cwd: string;
}): Promise<TypeChecker | undefined> {
  const tsPath = findTypeScript(options.cwd);
  if (tsPath === undefined) return undefined;
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { tsPath, dir: options.dir },
  });
  // the worker must not keep a server that is shutting down alive
  worker.unref();
  const version = await new Promise<string>((resolve, reject) => {
    worker.once('message', (m: { version: string }) => resolve(m.version));
    worker.once('error', reject);
  });
  let nextId = 0;
  const waiting = new Map<
    number,
    { resolve: (r: TypeCheckResult) => void; reject: (e: Error) => void }
  >();
  let failure: Error | undefined;
  let closed = false;
  const failAll = (error: Error): void => {
    failure = error;
    for (const w of waiting.values()) w.reject(error);
    waiting.clear();
  };
  worker.on('message', (m: { id: number; result?: TypeCheckResult; error?: string }) => {
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.result) w.resolve(m.result);
    else w.reject(new Error(m.error ?? 'type check failed'));
  });
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new Error(`the type check worker exited (${code})`)));

  let running: Promise<TypeCheckResult> | undefined;
  let queued: Promise<TypeCheckResult> | undefined;
  const runOnce = (): Promise<TypeCheckResult> => {
    if (failure) return Promise.reject(failure);
    const id = nextId++;
    return new Promise<TypeCheckResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`the type check took more than ${CHECK_TIMEOUT_MS / 1000} s`));
      }, CHECK_TIMEOUT_MS);
      timer.unref();
      waiting.set(id, {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      worker.ref();
      worker.postMessage({ id });
    }).finally(() => {
      if (waiting.size === 0 && !closed) worker.unref();
    });
  };
  return {
    version,
    check() {
      if (!running) {
        running = runOnce().finally(() => (running = undefined));
        return running;
      }
      // a change during a check: one more check after it, shared by every caller meanwhile
      queued ??= running
        .catch(() => undefined)
        .then(() => {
          queued = undefined;
          running = runOnce().finally(() => (running = undefined));
          return running;
        });
      return queued;
    },
    async close() {
      closed = true;
      failAll(new Error('the type checker was closed'));
      // an unref'd worker would let the process end before it has stopped
      worker.ref();
      await worker.terminate();
    },
  };
}

/** `file:line:column - error TS2322: message`, with the path relative to `cwd`. */
export function formatDiagnostic(d: TypeDiagnostic, cwd: string): string {
  const where =
    d.file === undefined ? '' : `${relative(cwd, d.file) || d.file}:${d.line}:${d.column} - `;
  return `${where}error TS${d.code}: ${d.message}`;
}

/** The diagnostics whose file is under `dir` (an analysis folder). */
export function diagnosticsIn(result: TypeCheckResult, dir: string): TypeDiagnostic[] {
  return result.diagnostics.filter((d) => d.file !== undefined && d.file.startsWith(dir + sep));
}

/**
 * The worker: plain CommonJS run with `eval`, so it needs no TypeScript
 * loader of its own. It keeps the last builder program and a cache of parsed
 * files by modification time, so a check after a save re-reads only what
 * changed (the lib and @types files stay parsed).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { statSync } = require('node:fs');
const ts = require(workerData.tsPath);
const dir = workerData.dir;
const DEFAULTS = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  isolatedModules: true,
};
const cache = new Map();
let old;

function mtime(file) {
  try { return statSync(file).mtimeMs; } catch { return -1; }
}

function configure() {
  const config = ts.findConfigFile(dir, ts.sys.fileExists, 'tsconfig.json');
  if (config) {
    const errors = [];
    const parsed = ts.getParsedCommandLineOfConfigFile(config, { noEmit: true }, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => errors.push(d),
    });
    if (!parsed) return { config, options: { ...DEFAULTS, noEmit: true }, rootNames: [], errors };
    return { config, options: { ...parsed.options, noEmit: true }, rootNames: parsed.fileNames, errors: [...errors, ...parsed.errors] };
  }
  const rootNames = ts.sys.readDirectory(dir, ['.ts', '.mts', '.cts'], ['**/node_modules/**'], undefined);
  return { config: undefined, options: { ...DEFAULTS, noEmit: true }, rootNames, errors: [] };
}

function check() {
  const start = Date.now();
  const { config, options, rootNames, errors } = configure();
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile;
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const time = mtime(fileName);
    const key = fileName + '|' + JSON.stringify(languageVersion);
    const hit = cache.get(key);
    if (hit && hit.time === time) return hit.file;
    const file = getSourceFile(fileName, languageVersion, onError, shouldCreate);
    if (file) {
      file.version = String(time);
      cache.set(key, { time, file });
    }
    return file;
  };
  const builder = ts.createSemanticDiagnosticsBuilderProgram(rootNames, options, host, old, errors);
  old = builder;
  const all = [
    ...builder.getConfigFileParsingDiagnostics(),
    ...builder.getOptionsDiagnostics(),
    ...builder.getGlobalDiagnostics(),
    ...builder.getSyntacticDiagnostics(),
    ...builder.getSemanticDiagnostics(),
  ].filter((d) => d.category === ts.DiagnosticCategory.Error);
  const seen = new Set();
  const diagnostics = [];
  for (const d of all) {
    let line = 0, column = 0;
    if (d.file && d.start !== undefined) {
      const p = d.file.getLineAndCharacterOfPosition(d.start);
      line = p.line + 1;
      column = p.character + 1;
    }
    const item = {
      file: d.file ? d.file.fileName.split('/').join(require('node:path').sep) : undefined,
      line, column, code: d.code,
      message: ts.flattenDiagnosticMessageText(d.messageText, '\\n', 0),
    };
    const key = JSON.stringify(item);
    if (seen.has(key)) continue;
    seen.add(key);
    diagnostics.push(item);
  }
  return { config, files: builder.getProgram().getRootFileNames().length, diagnostics, durationMs: Date.now() - start };
}

parentPort.postMessage({ version: ts.version });
parentPort.on('message', ({ id }) => {
  try {
    parentPort.postMessage({ id, result: check() });
  } catch (error) {
    parentPort.postMessage({ id, error: String(error && error.stack || error) });
  }
});
`;
