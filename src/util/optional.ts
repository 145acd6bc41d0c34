import { DatabenchError } from '../protocol/errors.js';

/**
 * Import one of databench's optional peer dependencies (the plotting
 * libraries, the certificate generator, TypeScript). They are left out of a
 * plain install to keep it small; the first feature that needs one imports
 * it here, and a missing package becomes a `DatabenchError` with the code
 * `MISSING_DEPENDENCY` that says what to install, instead of Node's bare
 * "Cannot find package".
 *
 * @param load the `import()` itself: a literal specifier keeps bundlers and
 *   type checkers able to follow it.
 * @param packages the npm packages `load` needs (named in the message).
 * @param purpose what they are needed for, as "for ...".
 * @internal
 */
export async function importOptional<T>(
  load: () => Promise<T>,
  packages: readonly string[],
  purpose: string,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isMissingPackage(error, packages)) {
      throw missingDependency(packages, purpose, error);
    }
    throw error;
  }
}

/**
 * The error for an optional peer dependency that is not installed.
 * @internal
 */
export function missingDependency(
  packages: readonly string[],
  purpose: string,
  cause?: unknown,
): DatabenchError {
  const list = packages.join(' ');
  return new DatabenchError(
    'MISSING_DEPENDENCY',
    `${purpose} needs ${packages.length === 1 ? 'the package' : 'the packages'} ${packages.join(', ')}, ` +
      `which ${packages.length === 1 ? 'is' : 'are'} not installed: run npm install ${list}`,
    { cause },
  );
}

/** Whether `error` is Node's "cannot find" for one of `packages` (not for a file inside it). */
function isMissingPackage(error: unknown, packages: readonly string[]): boolean {
  const e = error as NodeJS.ErrnoException | undefined;
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' && e?.code !== 'MODULE_NOT_FOUND') return false;
  // "Cannot find package 'vega' imported from ..." names the missing package
  return packages.some((name) => e.message.includes(`'${name}'`));
}
