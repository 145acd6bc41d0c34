#!/usr/bin/env node
// npm run build: dist/ (JavaScript + type declarations) and the browser bundle
// dist/browser/databench.js that the server serves at /_static/databench.js.
// `--prepare` (npm ci's prepare script): without the dev dependencies
// (npm ci --omit=dev) there is nothing to build with; say so and succeed.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const tscPath = new URL('../node_modules/typescript/bin/tsc', import.meta.url).pathname;
if (process.argv.includes('--prepare') && !existsSync(tscPath)) {
  console.log('no dev dependencies (typescript): dist/ not built');
  process.exit(0);
}
const { buildClientBundle } = await import('./build-client.js');
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [tscPath, '-p', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
});
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
await buildClientBundle(new URL('../dist/browser/databench.js', import.meta.url).pathname);
console.log('built dist/');
