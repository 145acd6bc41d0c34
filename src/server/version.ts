import { readFileSync } from 'node:fs';

/**
 * This package's version (the `databench_backend_version` of the protocol).
 * A module of its own, so that `databench --version` loads nothing else.
 */
export const DATABENCH_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
