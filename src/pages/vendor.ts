import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Browser builds of this package's own dependencies, served at
 * `/_static/vendor/<name>` for pages that need them (a `data-vega` plot
 * loads these three on first use; no page loads them otherwise). Each is
 * found next to its package's entry, in its `build/` folder. They are
 * optional packages (`npm install vega vega-lite vega-embed`).
 */
const VENDOR: Readonly<Record<string, string>> = {
  'vega.min.js': 'vega',
  'vega-lite.min.js': 'vega-lite',
  'vega-embed.min.js': 'vega-embed',
};

/**
 * A package that was not found is looked for again at most this often: a
 * page that asks for it over and over costs a few `stat`s a second, not one
 * per request.
 */
export const VENDOR_RETRY_MS = 1000;

/** Finds the vendored files of packages installed beside `from` (a folder). */
export interface VendorLookup {
  /** The folder and file name of a vendored browser file, or undefined for any other name or a package not installed. */
  (name: string): { root: string; file: string } | undefined;
}

/**
 * A lookup of the vendored files, for packages installed at or above the
 * folder `from`. A package found is remembered; one not found is looked for
 * again on a later request (at most every {@link VENDOR_RETRY_MS}), so that
 * `npm install vega vega-lite vega-embed` while the server runs serves them
 * without a restart. Node's resolver remembers a package it did not find
 * (its package.json reads are cached): after a miss the `node_modules`
 * folders are looked through directly.
 */
export function createVendorLookup(from: string, now: () => number = Date.now): VendorLookup {
  const require = createRequire(join(from, 'noop.js'));
  const folders = new Map<string, string>();
  const missedAt = new Map<string, number>();

  const locate = (pkg: string, file: string): string | undefined => {
    if (!missedAt.has(pkg)) {
      try {
        return dirname(require.resolve(pkg));
      } catch {
        // not installed (yet): below
      }
    }
    for (let dir = from; ; dir = dirname(dir)) {
      const build = join(dir, 'node_modules', pkg, 'build');
      if (existsSync(join(build, file))) return build;
      if (dirname(dir) === dir) return undefined;
    }
  };

  return (name) => {
    const pkg = Object.hasOwn(VENDOR, name) ? VENDOR[name] : undefined;
    if (pkg === undefined) return undefined;
    let root = folders.get(pkg);
    if (root === undefined) {
      const missed = missedAt.get(pkg);
      if (missed !== undefined && now() - missed < VENDOR_RETRY_MS) return undefined;
      root = locate(pkg, name);
      if (root === undefined) {
        // an optional package that is not installed: a 404, and the page's plot says so
        missedAt.set(pkg, now());
        return undefined;
      }
      folders.set(pkg, root);
    }
    return { root, file: name };
  };
}

/** The vendored files of the packages installed beside this one. */
export const vendorFile: VendorLookup = createVendorLookup(dirname(fileURLToPath(import.meta.url)));
