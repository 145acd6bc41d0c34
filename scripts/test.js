#!/usr/bin/env node
// Runs every test file (unit tests next to the code, integration and browser
// suites under test/) with Node's test runner, TypeScript loaded by tsx and
// the package's own imports resolved to src/ (the "source" condition).
// Usage: node scripts/test.js [path-filter ...]
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const skipDirs = new Set(['node_modules', 'dist', 'fixtures', '.git', 'test-artifacts']);

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    if (skipDirs.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

const filters = process.argv.slice(2);
const files = [
  ...collect(join(root, 'src'), []),
  ...collect(join(root, 'analyses'), []),
  ...collect(join(root, 'test'), []),
]
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const child = spawn(
  process.execPath,
  [
    '--conditions=databench-source',
    '--import',
    import.meta.resolve('tsx'),
    '--test',
    '--test-concurrency=2',
    ...files,
  ],
  { cwd: root, stdio: 'inherit' },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
