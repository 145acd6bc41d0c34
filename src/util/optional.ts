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

/**
 * Whether `error` is Node's "cannot find" because one of `packages` is not
 * installed (not a file missing inside an installed one). Node names the
 * package only in its message, so each package is resolved again from here
 * (this module is in databench, as the `import()` of every caller is).
 */
function isMissingPackage(error: unknown, packages: readonly string[]): boolean {
  const code = (error as NodeJS.ErrnoException | null | undefined)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  return packages.some((name) => !resolvable(name));
}

/** Whether the package `name` is installed where databench can import it. */
function resolvable(name: string): boolean {
  try {
    import.meta.resolve(name);
    return true;
  } catch (error) {
    // a package without a main export is installed all the same
    return (error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND';
  }
}
