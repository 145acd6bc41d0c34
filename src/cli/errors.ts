import { DatabenchError, describeError, type DatabenchErrorCode } from '../protocol/errors.js';

/**
 * An error the CLI reports as one line and maps to an exit code (2: bad
 * usage, 1: the command failed). Thrown by commands, caught in one place.
 */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/**
 * The exit code of each kind of failure the CLI reports: 2 for bad usage
 * (an option, a variable or a path to fix), 1 when the command failed. A
 * code not listed exits 1.
 */
const EXIT_CODES: Partial<Record<DatabenchErrorCode, number>> = {
  INVALID_OPTION: 2,
  DATASTORE_URL: 2,
  ANALYSES_NOT_FOUND: 2,
  ANALYSES_IS_ANALYSIS: 2,
  NO_ANALYSES: 2,
  SSL_FILE: 2,
  DATASTORE_UNREACHABLE: 1,
  DATASTORE_AUTH: 1,
  DATASTORE_CLIENT_MISSING: 1,
  MISSING_DEPENDENCY: 1,
  PORT_IN_USE: 1,
  PORT_NOT_ALLOWED: 1,
  SSL_PORT_IN_USE: 1,
  PAGE_NAMES: 1,
  OIDC_UNREACHABLE: 1,
};

/**
 * What the CLI prints for a failure and the exit code it ends with: a
 * {@link CliError} or a `DatabenchError` is one line (its message says what
 * to do); anything else is unexpected and printed with its stack.
 */
export function reportError(error: unknown): { text: string; exitCode: number } {
  if (error instanceof CliError) return { text: error.message, exitCode: error.exitCode };
  if (error instanceof DatabenchError) {
    return { text: error.message, exitCode: EXIT_CODES[error.code] ?? 1 };
  }
  return { text: describeError(error).stack, exitCode: 1 };
}
