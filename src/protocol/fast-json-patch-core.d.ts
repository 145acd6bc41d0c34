// The ES module of fast-json-patch's core: `applyPatch` without the observer
// half (`observe`, `compare`) that the browser client does not need, 3 KB
// less in its bundle. The package's types (module/core.d.ts) sit beside it
// under a name TypeScript does not look up for a `.mjs` import: the one
// function used, declared as module/core.d.ts declares it.
declare module 'fast-json-patch/module/core.mjs' {
  import type { Operation, PatchResult } from 'fast-json-patch';
  export function applyPatch<T>(
    document: T,
    patch: readonly Operation[],
    validateOperation?: boolean,
    mutateDocument?: boolean,
    banPrototypeModifications?: boolean,
  ): PatchResult<T>;
}
