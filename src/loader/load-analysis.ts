import { DatabenchError, safeString } from '../protocol/errors.js';
import { isAnalysisClass, type AnalysisClass } from '../analysis/analysis.js';

function extendsClassNamed(cls: Function, name: string): boolean {
  for (
    let p = Object.getPrototypeOf(cls) as Function | null;
    p;
    p = Object.getPrototypeOf(p) as Function | null
  ) {
    if (p.name === name) return true;
  }
  return false;
}

/**
 * Import an analysis module (`url`, compiled from `file` by
 * `compileAnalysis`) and find its Analysis subclass.
 */
export async function importAnalysis(url: string, file: string): Promise<AnalysisClass> {
  const mod = (await import(url)) as Record<string, unknown>;
  // a module outside a "type": "module" package arrives wrapped as CommonJS
  const namespaces = [mod, mod['default']].filter(
    (m): m is Record<string, unknown> => typeof m === 'object' && m !== null,
  );
  const candidates: unknown[] = [mod['default']];
  for (const ns of namespaces) candidates.push(...Object.values(ns));
  const found = candidates.find((c) => isAnalysisClass(c));
  if (found) return found as AnalysisClass;
  const foreign = candidates.find(
    (c) => typeof c === 'function' && extendsClassNamed(c, 'Analysis'),
  );
  if (foreign) {
    throw new DatabenchError(
      'NO_ANALYSIS_CLASS',
      `${file}: ${(foreign as Function).name} extends another copy of databench's Analysis. ` +
        `Is the folder a CommonJS package? Add a package.json with {"type": "module"} next to index.yaml`,
    );
  }
  const names = namespaces.flatMap((ns) => Object.keys(ns)).filter((n) => n !== 'default');
  throw new DatabenchError(
    'NO_ANALYSIS_CLASS',
    `${file} exports no Analysis subclass (exports: ${names.join(', ') || 'none'}); ` +
      `export a class that extends Analysis from 'databench-ts'`,
  );
}

/** A load error as the user should see it: file and line where known. */
export function describeLoadError(error: unknown, dir?: string): string {
  // a module may throw anything at its top level, even an object without a prototype
  if (!(error instanceof Error)) return safeString(error);
  // a compile error already names file:line:column; an error thrown while
  // the module runs gets its first frame in the folder
  if (dir === undefined || (error instanceof DatabenchError && error.code === 'COMPILE')) {
    return error.message;
  }
  const frame = (error.stack ?? '')
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line.startsWith('at ') && line.includes(dir));
  return frame ? `${error.message}\n    ${frame}` : error.message;
}
