// The targets of `npm run bench`, each a server in its own process that the
// bench starts fresh for a workload and stops after it: the raw `ws` server,
// ours (dist/) with the bench analysis in-process, in worker threads and in a
// Python kernel, and the original databench 0.7.3 when it can run here.
import { fork } from 'node:child_process';
import { findOriginal, startOriginal, type Original } from './original.ts';

/** A target of the bench (`redis`: ours in-process on a Redis datastore, see {@link useRedis}). */
export type TargetKey = 'orig' | 'raw' | 'ts' | 'worker' | 'py' | 'redis';

/** The column headings of the targets, in table order. */
export const TARGET_LABELS: Record<TargetKey, string> = {
  orig: 'original 0.7.3',
  raw: 'raw ws',
  ts: 'ours, TypeScript in-process',
  worker: 'ours, worker kernel',
  py: 'ours, Python kernel',
  redis: 'ours, Redis datastore',
};

/** Which of ours serves which bench analysis (bench/analyses/index.yaml). */
const ANALYSIS: Record<'ts' | 'worker' | 'py' | 'redis', string> = {
  ts: 'bench',
  redis: 'bench',
  worker: 'bench_worker',
  py: 'bench_py',
};

/** A running target. */
export interface Server {
  key: TargetKey;
  /** `http://127.0.0.1:port` */
  base: string;
  /** The WebSocket URL of the target's bench analysis. */
  url: string;
  /** The WebSocket URL of another analysis of the same server (ours; raw has one). */
  urlOf(analysis: string): string;
  /**
   * Bytes of RSS the target counts (a Python kernel's processes for `py`, the
   * process tree of the original) and of JS heap (NaN for Python), after a GC.
   */
  memory(): Promise<{ rss: number; heap: number }>;
  stop(): Promise<void>;
}

let original: Original | undefined;
let redisUrl: string | undefined;

/** The redis:// URL the `redis` target's servers use (a redis-server the bench started). */
export function useRedis(url: string | undefined): void {
  redisUrl = url;
}

/** The original, found once per run (see bench/original.ts). */
export function originalTarget(): Original {
  original ??= findOriginal();
  return original;
}

interface Reported {
  base?: string;
  rss?: number;
  heap?: number;
  kernelRss?: number;
}

/** Fork bench/server.js or bench/raw-server.js; `datastore`: a redis:// URL. */
async function startNode(key: TargetKey, datastore?: string): Promise<Server> {
  const file = key === 'raw' ? './raw-server.js' : './server.js';
  const child = fork(new URL(file, import.meta.url).pathname, datastore ? [datastore] : [], {
    // plain node: no TypeScript loader in the measured process
    execArgv: ['--expose-gc', '--max-old-space-size=4096'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const base = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: Reported) => resolve(m.base ?? ''));
    void exited.then(() => reject(new Error(`${file} exited before it served`)));
  });
  const ws = base.replace('http', 'ws');
  const urlOf = (analysis: string): string => `${ws}/${analysis}/ws`;
  return {
    key,
    base,
    url: key === 'raw' ? `${ws}/ws` : urlOf(ANALYSIS[key as keyof typeof ANALYSIS]),
    urlOf,
    memory: () =>
      new Promise((resolve) => {
        const on = (m: Reported): void => {
          if (m.rss === undefined) return;
          child.off('message', on);
          const rss = m.rss + (key === 'py' ? (m.kernelRss ?? 0) : 0);
          resolve({ rss, heap: m.heap ?? NaN });
        };
        child.on('message', on);
        child.send({ cmd: 'rss' });
      }),
    stop: async () => {
      child.kill();
      await exited;
    },
  };
}

/** Start a fresh server for `key` (the original only when {@link originalTarget} is ok). */
export async function startTarget(key: TargetKey): Promise<Server> {
  if (key === 'redis') {
    if (!redisUrl) throw new Error('the redis target needs useRedis(url) first');
    return startNode(key, redisUrl);
  }
  if (key !== 'orig') return startNode(key);
  const found = originalTarget();
  if (!found.ok) throw new Error(`the original cannot run: ${found.reason}`);
  const s = await startOriginal(found);
  const ws = s.base.replace('http', 'ws');
  return {
    key,
    base: s.base,
    url: `${ws}/bench/ws`,
    urlOf: (analysis) => `${ws}/${analysis}/ws`,
    memory: async () => ({ rss: s.rss(), heap: NaN }),
    stop: () => s.stop(),
  };
}
