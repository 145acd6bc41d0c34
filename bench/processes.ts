// Small helpers of the bench for the processes it starts: a free port, one
// GET, resident memory from /proc (Linux), polling with a deadline.
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';

/** A free port on 127.0.0.1. */
export { freePort } from '../test/redis.ts';

/** One `GET path` on 127.0.0.1:`port`: resolves to the status, rejects when nothing answers. */
export function httpGet(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Bytes of resident memory of `pid` (0 when it is gone). */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** The child processes of `pid`. */
export function childrenOf(pid: number): number[] {
  let ids: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (text) ids = ids.concat(text.split(/\s+/).map(Number));
    }
  } catch {
    // gone meanwhile
  }
  return ids;
}

/** Bytes of resident memory of `pid` and every process below it. */
export function treeRssBytes(pid: number): number {
  return childrenOf(pid).reduce((sum, c) => sum + treeRssBytes(c), rssBytes(pid));
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `check` every 5 ms until it returns true; rejects with `what` after `ms`. */
export async function waitFor(check: () => Promise<boolean>, ms: number, what: string) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(what);
    await sleep(5);
  }
}
