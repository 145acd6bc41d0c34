import { watch, type FSWatcher } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type { Logger } from './logger.js';

/** Folders whose changes never reload analyses. */
const IGNORED = /(^|[/\\])(node_modules|\.git|dist|test-artifacts)([/\\]|$)/;

/** The static part of a glob (`src/**\/*.py` → `src`): what can be watched. */
function globBase(pattern: string): string {
  const parts = pattern.split(/[/\\]/);
  const index = parts.findIndex((p) => /[*?[\]{}]/.test(p));
  return (index < 0 ? parts : parts.slice(0, index)).join(sep) || '.';
}

/**
 * Watch the analyses folder (sources, templates, READMEs, index.yaml) and the
 * `watch` globs of index.yaml, and call `onChange` once per burst of changes
 * (debounced by `debounceMs`). Returns a function that stops watching.
 */
export function watchAnalyses(options: {
  dir: string;
  extra: string[];
  debounceMs?: number;
  logger: Logger;
  onChange: (files: string[]) => void;
}): () => void {
  const { dir, logger } = options;
  const debounceMs = options.debounceMs ?? 50;
  const pending = new Set<string>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watchers: FSWatcher[] = [];
  const add = (path: string): void => {
    try {
      const watcher = watch(path, { recursive: true }, (_event, name) => {
        const file = name ? join(path, String(name)) : path;
        if (IGNORED.test(file.slice(path.length))) return;
        pending.add(file);
        clearTimeout(timer);
        timer = setTimeout(() => {
          const files = [...pending];
          pending.clear();
          options.onChange(files);
        }, debounceMs);
      });
      watcher.on('error', (error) => logger.warn(`watching ${path}: ${error.message}`));
      watchers.push(watcher);
    } catch (error) {
      logger.warn(`cannot watch ${path}: ${(error as Error).message}`);
    }
  };
  add(dir);
  for (const pattern of options.extra) {
    const base = resolve(dir, globBase(pattern));
    if (!base.startsWith(dir + sep) && base !== dir) add(base);
  }
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
