import { createRequire } from 'node:module';
import { dirname } from 'node:path';

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

const require = createRequire(import.meta.url);
const folders = new Map<string, string>();

/** The folder and file name of a vendored browser file, or undefined for any other name. */
export function vendorFile(name: string): { root: string; file: string } | undefined {
  const pkg = Object.hasOwn(VENDOR, name) ? VENDOR[name] : undefined;
  if (pkg === undefined) return undefined;
  let root = folders.get(pkg);
  if (root === undefined) {
    try {
      root = dirname(require.resolve(pkg));
    } catch {
      // an optional package that is not installed: a 404, and the page's plot says so
      return undefined;
    }
    folders.set(pkg, root);
  }
  return { root, file: name };
}
