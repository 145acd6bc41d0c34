import { relative } from 'node:path';
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

function listed(lines: string[]): string {
  const more = lines.length - SHOWN;
  return lines.slice(0, SHOWN).join('\n') + (more > 0 ? `\n… and ${more} more` : '');
}

/**
 * Set up type checking of the analyses for `databench` (serve). Resolves to
 * undefined when there is nothing to check (the packaged analyses) or, for
 * the default mode, when TypeScript is not installed (one info line says
 * how to get it). With `--typecheck` given explicitly and no TypeScript, and
 * in `error` mode when the analyses have type errors, it throws a CliError:
 * the server does not start.
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
    const how = 'install TypeScript in the project: npm install -D typescript';
    if (options.explicit) throw new CliError(`--typecheck=${mode} needs TypeScript: ${how}`, 2);
    logger.info(`type checking is off: ${how}`);
    return undefined;
  }
  let first: TypeCheckResult | undefined;
  if (mode === 'error') {
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
  return createReporter(checker, mode, cwd, logger, first);
}

function createReporter(
  checker: TypeChecker,
  mode: Exclude<TypecheckMode, 'off'>,
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
  const run = (restart: boolean): void => {
    const since = reloads;
    pending = (restart ? checker.restart() : checker.check()).then(
      (result) => {
        // the files changed again while it ran: the check that follows reports
        if (since === reloads) report(result);
      },
      (error: unknown) => {
        // given up for a newer check, or ended by a shutdown (a terminal's
        // Ctrl-C reaches its process too): not a failure
        if (closing || isDatabenchError(error, 'TYPECHECK_SUPERSEDED')) return;
        logger.warn(`type check failed: ${(error as Error).message}`);
      },
    );
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
