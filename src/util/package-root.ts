import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This package's root folder (the same from src/util and dist/util). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
