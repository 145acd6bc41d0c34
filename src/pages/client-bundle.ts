import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../util/package-root.js';

/** The browser script served at `/_static/databench.js`, with its ETag. */
export interface ClientBundle {
  text: string;
  etag: string;
}

const PREBUILT = join(PACKAGE_ROOT, 'dist', 'browser', 'databench.js');
const ENTRY = join(PACKAGE_ROOT, 'src', 'client', 'browser.ts');

let cached: Promise<ClientBundle> | undefined;

/**
 * Whether this code runs from `src/` (a clone, `npm run dev` and the tests):
 * then the bundle is made from `src/client`, never taken from a `dist/` that
 * `npm ci` built before the client code was edited.
 */
const FROM_SOURCE = import.meta.url.endsWith('.ts');

/**
 * The client bundle: the prebuilt `dist/browser/databench.js` when running
 * from dist/ (a published package, `npm start`), or, when running from
 * src/, bundled once from `src/client` with esbuild (a dev dependency: a
 * clone has it, a published package ships the bundle).
 */
export function clientBundle(): Promise<ClientBundle> {
  cached ??= load().catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

async function load(): Promise<ClientBundle> {
  let text: string;
  if (
    !FROM_SOURCE &&
    (await stat(PREBUILT).then(
      () => true,
      () => false,
    ))
  ) {
    text = await readFile(PREBUILT, 'utf8');
  } else {
    const esbuild = await import('esbuild');
    const result = await esbuild.build({
      entryPoints: [ENTRY],
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'es2020',
      minify: true,
      write: false,
      legalComments: 'none',
    });
    text = result.outputFiles[0]?.text ?? '';
  }
  const etag = '"' + createHash('sha256').update(text).digest('base64url').slice(0, 20) + '"';
  return { text, etag };
}
