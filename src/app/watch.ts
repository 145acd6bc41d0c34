import { watch, type FSWatcher } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import picomatch from 'picomatch';
import type { Logger } from '../util/logger.js';

/** Folders whose changes never reload analyses (static files are served as they are). */
const IGNORED = /(^|[/\\])(node_modules|\.git|dist|test-artifacts|static|__pycache__)([/\\]|$)/;
/**
 * The files whose change reloads: code, templates, READMEs, styles, index.yaml.
 * Anything else (a cache file, data an analysis writes) reloads only when a
 * `watch` glob names it (a write to `static/cache.txt` must not restart
 * every session).
 */
const RELOADING = /\.(?:[cm]?[jt]s|json|html|md|css|py|ya?ml)$/i;

/** The static part of a glob (`src/**\/*.py` → `src`): what can be watched. */
function globBase(pattern: string): string {
  const parts = pattern.split(/[/\\]/);
  const index = parts.findIndex((p) => /[*?[\]{}]/.test(p));
  return (index < 0 ? parts : parts.slice(0, index)).join(sep) || '.';
}

/**
 * Watch the analyses folder (code, templates, READMEs, index.yaml; not
 * static/ or node_modules) and the files the `watch` globs of index.yaml
 * name, and call `onChange` once per burst of changes (debounced by
 * `debounceMs`). Returns a function that stops watching.
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
  const globs = options.extra.map((pattern) => picomatch(resolve(dir, pattern), { dot: true }));
  const named = (file: string): boolean => globs.some((isMatch) => isMatch(file));
  const add = (path: string, analysesFolder: boolean): void => {
    try {
      const watcher = watch(path, { recursive: true }, (_event, name) => {
        const file = name ? join(path, String(name)) : path;
        const wanted = analysesFolder
          ? (!IGNORED.test(file.slice(path.length)) && RELOADING.test(file)) || named(file)
          : named(file);
        if (!wanted) return;
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
  add(dir, true);
  for (const pattern of options.extra) {
    const base = resolve(dir, globBase(pattern));
    if (!base.startsWith(dir + sep) && base !== dir) add(base, false);
  }
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
