#!/usr/bin/env node
// The databench command. A published package runs dist/; a clone of the
// repository (no dist/) runs src/ through tsx with the "databench-source"
// condition, so that analyses importing 'databench' get the same modules.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const argv = process.argv.slice(2);
const fromSource = process.execArgv.some((a) => a.includes('databench-source'));
const dist = new URL('../dist/cli/main.js', import.meta.url);

if (fromSource) {
  const { main } = await import('../src/cli/main.ts');
  process.exitCode = await main(argv);
} else if (existsSync(dist)) {
  // no loader hook: analyses are compiled to JavaScript as they load (src/loader/compile-analysis.ts)
  const { main } = await import(dist.href);
  process.exitCode = await main(argv);
} else {
  const child = spawn(
    process.execPath,
    [
      '--conditions=databench-source',
      '--import',
      import.meta.resolve('tsx'),
      new URL(import.meta.url).pathname,
      ...argv,
    ],
    { stdio: 'inherit' },
  );
  // forward signals; the child ignores a repeat (a terminal's Ctrl-C reaches it
  // directly too) and the parent waits for its exit code
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
