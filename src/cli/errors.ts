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
