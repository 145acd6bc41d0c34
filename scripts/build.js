#!/usr/bin/env node
// npm run build: dist/ (JavaScript + type declarations) and the browser bundle
// dist/browser/databench.js that the server serves at /_static/databench.js.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { buildClientBundle } from './build-client.js';

const root = new URL('..', import.meta.url).pathname;
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
const tsc = spawnSync(
  process.execPath,
  [
    new URL('../node_modules/typescript/bin/tsc', import.meta.url).pathname,
    '-p',
    'tsconfig.build.json',
  ],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
await buildClientBundle(new URL('../dist/browser/databench.js', import.meta.url).pathname);
console.log('built dist/');
