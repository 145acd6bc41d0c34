#!/usr/bin/env node
// Bundles the browser client (src/client/browser.ts, the global `Databench`)
// with esbuild into one minified IIFE script.
//
//   node scripts/build-client.js [outfile]   writes dist/browser/databench.js (+ .map)
//
// The server imports `buildClientBundle()` to build the script in memory when
// dist/browser/databench.js is absent (running from source under tsx).
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The entry of the browser bundle. */
export const CLIENT_ENTRY = resolve(root, 'src/client/browser.ts');
/** Where `node scripts/build-client.js` writes the bundle. */
export const DEFAULT_CLIENT_OUTFILE = resolve(root, 'dist/browser/databench.js');

// The bundle may contain only these folders: anything else (ws, node:*, the
// server) would mean a boundary was crossed. fast-json-patch applies `__delta`
// frames (src/protocol/delta.ts): a browser-safe ES module without dependencies.
// (A checkout may take its packages from a node_modules folder above it.)
const ALLOWED_INPUTS = ['src/client/', 'src/protocol/', 'node_modules/fast-json-patch/'];
const ALLOWED_PACKAGE = /(^|\/)node_modules\/fast-json-patch\//;

/** esbuild is a dependency of tsx; find it even when npm did not hoist it. */
async function loadEsbuild() {
  try {
    return await import('esbuild');
  } catch (error) {
    try {
      const require = createRequire(import.meta.url);
      const fromTsx = createRequire(require.resolve('tsx')).resolve('esbuild');
      return await import(pathToFileURL(fromTsx).href);
    } catch {
      throw new Error(`cannot load esbuild (a dependency of tsx): ${error.message}`, {
        cause: error,
      });
    }
  }
}

/**
 * Build the browser bundle and return its text.
 *
 * With `outfile`, also write it there with an external source map
 * (`<outfile>.map`, referenced from the script); without, nothing is written
 * and the text has no source map.
 *
 * @param {string} [outfile] where to write the bundle; omitted: in memory only
 * @returns {Promise<string>} the bundle (a minified IIFE that defines `globalThis.Databench`)
 */
export async function buildClientBundle(outfile) {
  const esbuild = await loadEsbuild();
  const target = outfile === undefined ? DEFAULT_CLIENT_OUTFILE : resolve(outfile);
  const result = await esbuild.build({
    entryPoints: [CLIENT_ENTRY],
    outfile: target,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2020'],
    minify: true,
    sourcemap: outfile === undefined ? false : 'external',
    sourcesContent: true,
    legalComments: 'none',
    write: false,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: root,
  });
  for (const input of Object.keys(result.metafile.inputs)) {
    const path = relative(root, resolve(root, input)).split(sep).join('/');
    if (!ALLOWED_INPUTS.some((prefix) => path.startsWith(prefix)) && !ALLOWED_PACKAGE.test(path)) {
      throw new Error(
        `the browser bundle must not include ${path} (only ${ALLOWED_INPUTS.join(', ')})`,
      );
    }
  }
  const js = result.outputFiles.find((f) => f.path === target);
  if (js === undefined) throw new Error('esbuild produced no bundle');
  let text = js.text;
  if (outfile !== undefined) {
    const map = result.outputFiles.find((f) => f.path === `${target}.map`);
    // esbuild adds the sourceMappingURL comment only when it writes the files itself
    if (map !== undefined && !text.includes('sourceMappingURL=')) {
      text += `//# sourceMappingURL=${basename(target)}.map\n`;
    }
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, text);
    if (map !== undefined) await writeFile(map.path, map.contents);
  }
  return text;
}

if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(resolve(process.argv[1])).href
) {
  const outfile = process.argv[2] ?? DEFAULT_CLIENT_OUTFILE;
  buildClientBundle(outfile).then(
    (text) =>
      console.log(
        `${relative(process.cwd(), resolve(outfile))}: ${(text.length / 1024).toFixed(1)} KiB`,
      ),
    (error) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    },
  );
}
