import { DatabenchError } from '../protocol/errors.js';
import type { ExtraRoute } from '../analysis/routes.js';
import { compileAnalysis } from './compile-analysis.js';

/** Compile and import an analysis's `routes.ts`: its `ROUTES`, checked. */
export async function importRoutes(file: string, root: string): Promise<ExtraRoute[]> {
  const compiled = await compileAnalysis(file, { root });
  let mod: Record<string, unknown>;
  try {
    mod = (await import(compiled.url)) as Record<string, unknown>;
  } finally {
    // imported: the file is no longer needed (its source map is read at import)
    await compiled.dispose();
  }
  const routes =
    mod['ROUTES'] ?? (mod['default'] as Record<string, unknown> | undefined)?.['ROUTES'];
  if (!Array.isArray(routes)) {
    throw new DatabenchError('ROUTES', `${file} must export ROUTES: Array<[path, handler]>`);
  }
  for (const route of routes) {
    if (
      !Array.isArray(route) ||
      !(typeof route[0] === 'string' || route[0] instanceof RegExp) ||
      typeof route[1] !== 'function'
    ) {
      throw new DatabenchError(
        'ROUTES',
        `${file}: every ROUTES entry must be [string | RegExp, handler]`,
      );
    }
  }
  return routes as ExtraRoute[];
}
