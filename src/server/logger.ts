/** Log levels, most verbose first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
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
        stream.write(`${new Date().toISOString()} ${lvl.toUpperCase()} [${scope}] ${message}\n`);
      }
    };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

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
