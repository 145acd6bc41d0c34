import { readFileSync } from 'node:fs';

/**
 * This package's name and version, from its package.json. A module of its
 * own, so that `databench --version` loads nothing else.
 */
export const DATABENCH_PACKAGE: { readonly name: string; readonly version: string } = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { name: string; version: string };

/** This package's version (the `databench_backend_version` of the protocol). */
export const DATABENCH_VERSION: string = DATABENCH_PACKAGE.version;
