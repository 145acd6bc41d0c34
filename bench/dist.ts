// dist/ for the bench: it measures the server as `npx databench` runs it.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Build dist/ when it is missing or older than src/: the bench measures the
 * server as `npx databench` runs it (compiled by tsc), not the source
 * through tsx, whose transform (esbuild with keepNames) adds a call per
 * closure that a user never runs.
 */
export function ensureDist(): void {
  const root = new URL('..', import.meta.url).pathname;
  const built = (() => {
    try {
      return statSync(join(root, 'dist/index.js')).mtimeMs;
    } catch {
      return 0;
    }
  })();
  const newest = (dir: string): number => {
    let t = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }
    return t;
  };
  if (built > newest(join(root, 'src'))) return;
  process.stderr.write('dist/ is missing or older than src/: npm run build…\n');
  const r = spawnSync('npm', ['run', 'build'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`npm run build failed (exit ${r.status})`);
}
