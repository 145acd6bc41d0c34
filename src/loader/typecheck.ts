import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { DatabenchError } from '../protocol/errors.js';

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
  /** Time spent in the check's process, from its start (loading TypeScript) to the result. */
  durationMs: number;
  /** The process that ran the check (each check has its own; it has ended by now). */
  pid: number;
}

/**
 * Checks the TypeScript of a folder of analyses, each check in a Node
 * process of its own that ends once it has reported: a check of several
 * seconds never holds up the server, and the memory of TypeScript's program
 * (100–500 MB with the libraries' types) is all given back after each check
 * instead of being held for the life of the server. (A worker thread would
 * leave some 50 MB of it in the server's RSS: freed, but kept by malloc.)
 */
export interface TypeChecker {
  /** The TypeScript version in use. */
  readonly version: string;
  /** The process of the check in progress; undefined between checks. */
  readonly pid: number | undefined;
  /**
   * Check again in a fresh process; resolves once that process has ended.
   * Concurrent calls share one run that starts after the current one.
   */
  check(): Promise<TypeCheckResult>;
  /**
   * The files changed: give up the check in progress, if any (its promise
   * rejects with a `TYPECHECK_SUPERSEDED` DatabenchError: what it would
   * report is about files that are gone), and check again as
   * {@link check} does, at once instead of after it.
   */
  restart(): Promise<TypeCheckResult>;
  /** Stop the running check, if any; later checks are refused. */
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

/** The version of the TypeScript at `tsPath`, read from its package.json (no need to load it). */
function typeScriptVersion(tsPath: string): string {
  const manifest = join(dirname(tsPath), '..', 'package.json');
  try {
    return String((JSON.parse(readFileSync(manifest, 'utf8')) as { version?: unknown }).version);
  } catch {
    return 'unknown';
  }
}

/**
 * A type checker for the analyses in `dir`: the nearest tsconfig.json
 * from `dir` upwards decides the files and options (as `tsc -p` would, with
 * `noEmit`); without one, every `.ts` under `dir` is checked with strict
 * defaults. Resolves to undefined when TypeScript is not installed. No
 * process runs until the first {@link TypeChecker.check}.
 */
export async function createTypeChecker(options: {
  dir: string;
  cwd: string;
}): Promise<TypeChecker | undefined> {
  const tsPath = findTypeScript(options.cwd);
  if (tsPath === undefined) return undefined;
  const version = typeScriptVersion(tsPath);
  // TypeScript's incremental state between checks (a .tsbuildinfo: which
  // files were checked, with their diagnostics), private to this checker and
  // never in the user's project: a check after a save re-checks what changed
  const cacheDir = await mkdtemp(join(tmpdir(), 'databench-typecheck-'));
  const buildInfo = join(cacheDir, 'check.tsbuildinfo');
  let closed = false;
  /** The process of the check in progress and how to give it up. */
  let live: { child: ChildProcess; fail: (error: Error) => void } | undefined;

  const runOnce = (): Promise<TypeCheckResult> => {
    if (closed)
      return Promise.reject(new DatabenchError('TYPECHECK', 'the type checker was closed'));
    const child = spawn(process.execPath, ['-e', CHECK_SOURCE, tsPath, options.dir, buildInfo], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      windowsHide: true,
    });
    /** The end of what it wrote to stderr, for the error when it dies (out of memory). */
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + String(d)).slice(-2000)));
    const exited = new Promise<void>((resolve) => {
      child.once('close', () => resolve());
      // a process that could not start has no close to wait for
      child.once('error', () => child.pid === undefined && resolve());
    });
    const result = new Promise<TypeCheckResult>((resolve, reject) => {
      const fail = (error: Error): void => {
        reject(error);
        child.kill();
      };
      live = { child, fail };
      const timer = setTimeout(
        () =>
          fail(
            new DatabenchError(
              'TYPECHECK',
              `the type check took more than ${CHECK_TIMEOUT_MS / 1000} s`,
            ),
          ),
        CHECK_TIMEOUT_MS,
      );
      timer.unref();
      child.once('message', (m: { result?: TypeCheckResult; error?: string }) => {
        clearTimeout(timer);
        if (m.result) resolve(m.result);
        else reject(new DatabenchError('TYPECHECK', m.error ?? 'type check failed'));
      });
      child.once('error', (error) => (clearTimeout(timer), reject(error)));
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        // after a result this does nothing: a settled promise stays settled
        reject(
          new DatabenchError(
            'TYPECHECK',
            `the type check process exited (${code ?? signal}) ${stderr.trim()}`.trim(),
          ),
        );
      });
    });
    // settled once the process has ended, so that its memory is given back
    const ended = (): void => {
      live = undefined;
    };
    return result.then(
      async (r) => (await exited, ended(), r),
      async (error: unknown) => {
        await exited;
        ended();
        throw error;
      },
    );
  };

  let running: Promise<TypeCheckResult> | undefined;
  let queued: Promise<TypeCheckResult> | undefined;
  const check = (): Promise<TypeCheckResult> => {
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
  };
  return {
    version,
    get pid() {
      return live?.child.pid;
    },
    check,
    restart() {
      // (the next check starts as soon as the given-up process has ended)
      live?.fail(
        new DatabenchError(
          'TYPECHECK_SUPERSEDED',
          'the files changed during the type check: a new check runs',
        ),
      );
      return check();
    },
    async close() {
      closed = true;
      live?.fail(new DatabenchError('TYPECHECK', 'the type checker was closed'));
      await running?.catch(() => undefined);
      await rm(cacheDir, { recursive: true, force: true });
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
 * The check's process: plain CommonJS run with `node -e` (argv: the path
 * of typescript, the analyses folder, the .tsbuildinfo to read and write),
 * so it needs no TypeScript loader of its own. It runs one check, sends the
 * result and ends.
 */
const CHECK_SOURCE = `
const { sep } = require('node:path');
const start = Date.now();
const [tsPath, dir, buildInfo] = process.argv.slice(1);
const ts = require(tsPath);
const DEFAULTS = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  isolatedModules: true,
};

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
  const { config, options: configured, rootNames, errors } = configure();
  // the previous check's state (if any) spares re-checking unchanged files
  const options = { ...configured, incremental: true, tsBuildInfoFile: buildInfo };
  const program = ts.createIncrementalProgram({ rootNames, options, configFileParsingDiagnostics: errors });
  const all = [
    ...program.getConfigFileParsingDiagnostics(),
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...program.getSyntacticDiagnostics(),
    ...program.getSemanticDiagnostics(),
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
      file: d.file ? d.file.fileName.split('/').join(sep) : undefined,
      line, column, code: d.code,
      message: ts.flattenDiagnosticMessageText(d.messageText, '\\n', 0),
    };
    const key = JSON.stringify(item);
    if (seen.has(key)) continue;
    seen.add(key);
    diagnostics.push(item);
  }
  try {
    // with noEmit this writes the .tsbuildinfo only
    program.emit();
  } catch {
    // no state for the next check: it checks everything, as the first did
  }
  return { config, files: rootNames.length, diagnostics, durationMs: Date.now() - start, pid: process.pid };
}

let message;
try {
  message = { result: check() };
} catch (error) {
  message = { error: String(error && error.stack || error) };
}
// the open channel would keep this process alive
process.send(message, () => process.disconnect());
`;
