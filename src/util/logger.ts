import { safeString } from '../protocol/errors.js';

/** Log levels, most verbose first. */
const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
/** A log level: `debug`, `info`, `warn`, `error`, or `silent` (nothing). */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** What databench writes its log through. Inject your own to route it elsewhere. */
export interface Logger {
  /** Detail for debugging (`--log debug`). */
  debug(message: string): void;
  /** What the server does (start, reloads). */
  info(message: string): void;
  /** Something a person should look at; the server carries on. */
  warn(message: string): void;
  /** Something failed (an analysis that does not load, a handler that threw). */
  error(message: string): void;
}

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * A logger that writes `LEVEL [scope] message` lines to a stream (stderr by
 * default) and drops lines below `level`.
 */
export function createLogger(
  level: LogLevel = 'info',
  stream: { write(s: string): unknown } = process.stderr,
  scope = 'databench',
): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const line =
    (lvl: LogLevel) =>
    (message: string): void => {
      if (LOG_LEVELS.indexOf(lvl) >= min) {
        // a JavaScript caller may pass an error or an object without a prototype
        const text = safeString(message);
        stream.write(`${new Date().toISOString()} ${lvl.toUpperCase()} [${scope}] ${text}\n`);
      }
    };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

// an analysis id as we issue them (a UUID): the first 8 characters stay
const ANALYSIS_ID = /\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;

/**
 * A logger that writes through `logger` with every analysis id cut to its
 * first 8 characters (`1b4e28ba…`). A whole id is the key that resumes a
 * session: it must not reach a log, whoever wrote the line (the server, an
 * analysis, a user's handler).
 *
 * @example withoutIds(logger).info(`resumed ${id}`) // "resumed 1b4e28ba…"
 */
export function withoutIds(logger: Logger): Logger {
  // a logger passed on (run() to createServer) is not wrapped twice
  if (cutting.has(logger)) return logger;
  const cut = (message: string): string => safeString(message).replace(ANALYSIS_ID, '$1…');
  const wrapped: Logger = {
    debug: (m) => logger.debug(cut(m)),
    info: (m) => logger.info(cut(m)),
    warn: (m) => logger.warn(cut(m)),
    error: (m) => logger.error(cut(m)),
  };
  cutting.add(wrapped);
  return wrapped;
}

/** The loggers made by {@link withoutIds}. */
const cutting = new WeakSet<Logger>();

/** A logger that keeps its lines in memory (tests, AnalysisTest). */
export function createMemoryLogger(): Logger & { lines: Array<[LogLevel, string]> } {
  const lines: Array<[LogLevel, string]> = [];
  return {
    lines,
    debug: (m) => lines.push(['debug', m]),
    info: (m) => lines.push(['info', m]),
    warn: (m) => lines.push(['warn', m]),
    error: (m) => lines.push(['error', m]),
  };
}

let defaultLogger: Logger = createLogger(
  isLogLevel(process.env['DATABENCH_LOG'] ?? '')
    ? (process.env['DATABENCH_LOG'] as LogLevel)
    : 'info',
);

/** The logger analyses use when nothing else was injected. */
export function getDefaultLogger(): Logger {
  return defaultLogger;
}

/** Replace the process-wide default logger (the CLI does this for `--log`). */
export function setDefaultLogger(logger: Logger): void {
  defaultLogger = logger;
}
