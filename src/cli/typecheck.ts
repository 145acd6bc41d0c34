import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { App } from '../app/app.js';
import type { DatabenchServer } from '../server/create-server.js';
import type { Logger } from '../util/logger.js';
import {
  createTypeChecker,
  diagnosticsIn,
  formatDiagnostic,
  type TypeChecker,
  type TypeCheckResult,
} from '../loader/typecheck.js';
import { isDatabenchError } from '../protocol/errors.js';
import { encodeValue } from '../protocol/encode.js';
import { frameFromEncoded, PROTOCOL, type TypeErrorsLoad } from '../protocol/messages.js';
import { CliError } from './errors.js';
import type { TypecheckMode } from './main.js';

/** After a reload, the check starts this much later (the reload itself comes first). */
const CHECK_DELAY_MS = 150;
/** At most this many diagnostics are shown per analysis (page, frame) and in one log entry. */
const SHOWN = 20;

/**
 * The CLI's side of `--typecheck`: checks on start and after every reload,
 * and reports to the log and, when each check ends, to the open pages of
 * each analysis (`__type_errors`: its errors, or none any more). A check
 * that began before the last reload is given up, never reported.
 */
export interface TypeCheckReporter {
  /** Start reporting for `server` (the first check runs in the background). */
  attach(server: DatabenchServer): void;
  /**
   * `onReload` of the server: what the last check found is forgotten (the
   * save may have fixed it), the check in progress is given up, and a new
   * one starts.
   */
  reloaded(app: App): void;
  /** The check in progress, if any (tests). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** The oldest TypeScript the check runs with (the package's peer dependency). */
const MIN_TYPESCRIPT_MAJOR = 5;

/**
 * Whether the analyses folder `dir` has anything to type check: an analysis
 * folder with an `analysis.ts` or a `routes.ts`. A databench 0.7 folder
 * (Python analyses, browser code built by webpack) has none.
 */
export async function holdsTypeScript(dir: string): Promise<boolean> {
  let items;
  try {
    items = await readdir(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  for (const item of items) {
    if (!item.isDirectory() || /^(node_modules|static|\..*|__pycache__)$/.test(item.name)) continue;
    for (const file of ['analysis.ts', 'routes.ts']) {
      const found = await stat(join(dir, item.name, file)).then(
        (s) => s.isFile(),
        () => false,
      );
      if (found) return true;
    }
  }
  return false;
}

/** The major version of a TypeScript version string; undefined when it cannot be read. */
function majorOf(version: string): number | undefined {
  const major = Number(/^(\d+)\./.exec(version)?.[1]);
  return Number.isInteger(major) ? major : undefined;
}

function listed(lines: string[]): string {
  const more = lines.length - SHOWN;
  return lines.slice(0, SHOWN).join('\n') + (more > 0 ? `\n… and ${more} more` : '');
}

/**
 * Set up type checking of the analyses for `databench` (serve). Resolves to
 * undefined when there is nothing to check (the packaged analyses) or, for
 * the default mode, when TypeScript is not installed (one info line says
 * how to get it, none for a folder without TypeScript analyses) or older
 * than 5.0 (one line). With `--typecheck` given explicitly and no usable
 * TypeScript, and in `error` mode when the analyses have type errors, it
 * throws a CliError: the server does not start. While the folder holds no
 * TypeScript analysis (a databench 0.7 folder), no check runs.
 */
export async function prepareTypeCheck(options: {
  mode: Exclude<TypecheckMode, 'off'>;
  explicit: boolean;
  dir: string;
  packaged: boolean;
  cwd: string;
  logger: Logger;
}): Promise<TypeCheckReporter | undefined> {
  const { mode, cwd, logger } = options;
  if (options.packaged) return undefined;
  const checker = await createTypeChecker({ dir: options.dir, cwd });
  if (!checker) {
    // a folder of Python analyses needs no TypeScript: no line for it
    if (!(await holdsTypeScript(options.dir)) && !options.explicit) return undefined;
    const how = 'install TypeScript in the project: npm install -D typescript';
    if (options.explicit) throw new CliError(`--typecheck=${mode} needs TypeScript: ${how}`, 2);
    logger.info(`type checking is off: ${how}`);
    return undefined;
  }
  const major = majorOf(checker.version);
  if (major !== undefined && major < MIN_TYPESCRIPT_MAJOR) {
    // a 0.7 project's own TypeScript (2.8 for its webpack build) cannot check analyses
    await checker.close();
    const text = `type checking is off: the project's TypeScript ${checker.version} is older than ${MIN_TYPESCRIPT_MAJOR}.0 (npm install -D typescript@5 to check the analyses)`;
    if (options.explicit) throw new CliError(text, 2);
    if (await holdsTypeScript(options.dir)) logger.warn(text);
    else logger.debug(text);
    return undefined;
  }
  let first: TypeCheckResult | undefined;
  if (mode === 'error' && (await holdsTypeScript(options.dir))) {
    // a server started with type errors would run code that is known to be wrong
    first = await checker.check();
    if (first.diagnostics.length > 0) {
      await checker.close();
      throw new CliError(
        `${first.diagnostics.length} type error(s) in the analyses (--typecheck=error):\n` +
          listed(first.diagnostics.map((d) => formatDiagnostic(d, cwd))),
        1,
      );
    }
  }
  return createReporter(checker, mode, options.dir, cwd, logger, first);
}

function createReporter(
  checker: TypeChecker,
  mode: Exclude<TypecheckMode, 'off'>,
  dir: string,
  cwd: string,
  logger: Logger,
  first: TypeCheckResult | undefined,
): TypeCheckReporter {
  let server: DatabenchServer | undefined;
  let lastLogged = '';
  /** Per analysis: the type errors its open pages were last told of. */
  const told = new Map<string, string>();
  /** Counts reloads: a check that began before the last one reports nothing. */
  let reloads = 0;
  let pending: Promise<void> = Promise.resolve();
  let delay: ReturnType<typeof setTimeout> | undefined;
  let settle: ((done: Promise<void>) => void) | undefined;
  const level = mode === 'error' ? 'error' : 'warn';

  const report = (result: TypeCheckResult): void => {
    if (!server) return;
    // how long a check took (--log debug); the bench waits for the check's process to end instead
    logger.debug(
      `type check done: ${result.files} file(s), ${result.diagnostics.length} error(s), ${result.durationMs} ms`,
    );
    const all = result.diagnostics.map((d) => formatDiagnostic(d, cwd));
    const logged = all.join('\n');
    if (logged !== lastLogged) {
      const where = result.config ? relative(cwd, result.config) || result.config : 'defaults';
      if (all.length > 0) {
        logger[level](
          `${all.length} type error(s) (TypeScript ${checker.version}, ${where}; the code still runs):\n` +
            listed(all),
        );
      } else if (lastLogged !== '') {
        logger.info('type check: no more type errors');
      }
      lastLogged = logged;
    }
    for (const entry of server.app.entries.values()) {
      const mine = diagnosticsIn(result, entry.dir).map((d) => formatDiagnostic(d, cwd));
      const text = mine.length > 0 ? listed(mine) : undefined;
      // pages loaded from now on get them right after their `__connect` reply
      entry.typeErrors = text;
      // open pages hear of errors after every check (a page loaded since the save
      // has none shown), and of "none any more" once
      if (text === undefined && !told.has(entry.name)) continue;
      if (text === undefined) told.delete(entry.name);
      else told.set(entry.name, text);
      const load: TypeErrorsLoad = { analysis: entry.name, text: text ?? null };
      const frame = frameFromEncoded(PROTOCOL.typeErrorsSignal, encodeValue(load));
      for (const session of server.sessions) {
        if (session.kernel.name !== entry.name || !session.replied) continue;
        session.frame(frame).catch(() => undefined);
      }
    }
  };

  let closing = false;
  /** The last failure logged as a warning: the same again (each reload) is a debug line. */
  let lastFailure = '';
  const check = async (restart: boolean): Promise<void> => {
    // a folder of Python analyses has nothing to check (until a TypeScript one is added)
    if (!(await holdsTypeScript(dir))) {
      logger.debug('type check skipped: no analysis.ts or routes.ts in the analyses folder');
      return;
    }
    const since = reloads;
    try {
      const result = await (restart ? checker.restart() : checker.check());
      lastFailure = '';
      // the files changed again while it ran: the check that follows reports
      if (since === reloads) report(result);
    } catch (error) {
      // given up for a newer check, or ended by a shutdown (a terminal's
      // Ctrl-C reaches its process too): not a failure
      if (closing || isDatabenchError(error, 'TYPECHECK_SUPERSEDED')) return;
      // a broken TypeScript fails every check alike: one warning, its first line
      const text = `type check failed (TypeScript ${checker.version}): ${String((error as Error).message).split('\n')[0]}`;
      if (text === lastFailure) logger.debug(text);
      else logger.warn(text);
      lastFailure = text;
    }
  };
  const run = (restart: boolean): void => {
    pending = check(restart);
  };

  return {
    attach(s) {
      server = s;
      if (first) report(first);
      else run(false);
    },
    reloaded(app) {
      reloads++;
      // the save may have fixed them: a page loaded now shows none until the check ends
      for (const entry of app.entries.values()) entry.typeErrors = undefined;
      // start once the open pages have reconnected to the new code: the check
      // then takes no CPU from the reload a person is waiting for; the check
      // still running is about the files before this save: give it up
      clearTimeout(delay);
      const superseded = settle;
      pending = new Promise<void>((resolve) => {
        settle = resolve;
        delay = setTimeout(() => {
          run(true);
          resolve(pending);
        }, CHECK_DELAY_MS);
      });
      // whoever waited for a check that was put off waits for this one
      superseded?.(pending);
    },
    idle: () => pending,
    async close() {
      closing = true;
      clearTimeout(delay);
      await checker.close();
    },
  };
}
