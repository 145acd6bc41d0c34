// The start-up rows of `npm run bench`: `node bin/databench.js`
// on the packaged analyses, the way a user starts it (dist/, not src/
// through tsx), against a raw `ws` server run by plain `node`. Each figure
// is a fresh process: ms from spawn to the first answered `GET /`, and the
// RSS of the server process and of its whole process tree (a Python
// kernel, a type check) once it has settled (read from /proc: Linux).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ensureDist } from './dist.ts';
import { childrenOf, freePort, httpGet, rssBytes, sleep, treeRssBytes } from './processes.ts';

const ROOT = new URL('../', import.meta.url).pathname;
/** After the first answer (and a finished type check), RSS is read this much later. */
const SETTLE_MS = 1000;
/** One start may take this long before the bench gives up on it. */
const START_DEADLINE_MS = 60_000;

/** A start-up row: [workload, metric, ours per start, raw per start]. */
export type StartupRow = [string, string, number[], number[]];

/** Whether `pid` has a Node child process (the type check runs in one). */
function hasNodeChild(pid: number): boolean {
  return childrenOf(pid).some((c) => {
    try {
      return readFileSync(`/proc/${c}/cmdline`, 'utf8').split('\0')[0] === process.execPath;
    } catch {
      return false;
    }
  });
}

interface Start {
  /** ms from spawn to the first answered GET / */
  firstMs: number;
  /** MiB */
  rss: number;
  treeRss: number;
}

/**
 * Start `args` (after `node`) in `cwd` on a free port, time the first
 * answered GET /, wait for `ready` (the server has printed that it serves,
 * and no type check runs), then read RSS.
 */
async function startOnce(args: string[], cwd: string, ours: boolean): Promise<Start> {
  const port = await freePort();
  const t0 = performance.now();
  const child: ChildProcess = spawn(
    process.execPath,
    [...args, ...(ours ? ['--port', String(port)] : [String(port)])],
    {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PORT: '', HOST: '', DATABENCH_DATASTORE: '', NODE_OPTIONS: '' },
    },
  );
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += String(d)));
  child.stderr?.on('data', (d: Buffer) => (err += String(d)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let ended = false;
  void exited.then(() => (ended = true));
  try {
    let firstMs = NaN;
    while (Number.isNaN(firstMs)) {
      if (ended) throw new Error(`${args.join(' ')} exited: ${err}`);
      if (performance.now() - t0 > START_DEADLINE_MS) throw new Error(`no answer: ${err}`);
      try {
        const status = await httpGet(port, '/');
        if (status !== 200) throw new Error(`GET / answered ${status}`);
        firstMs = performance.now() - t0;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ECONNREFUSED') throw error;
        await sleep(2);
      }
    }
    const pid = child.pid ?? 0;
    if (ours) {
      // the first type check starts before the server says it serves; wait for its end
      while (!/serving at/.test(out) || hasNodeChild(pid)) {
        if (ended) throw new Error(`${args.join(' ')} exited: ${err}`);
        if (performance.now() - t0 > START_DEADLINE_MS) {
          // a loaded machine: say so and read RSS with the check still running
          process.stderr.write(
            `  ${args.join(' ')}: the type check still ran ${START_DEADLINE_MS / 1000} s after the spawn; RSS read while it runs\n`,
          );
          break;
        }
        await sleep(20);
      }
    }
    await sleep(SETTLE_MS);
    return { firstMs, rss: rssBytes(pid) / 1024 / 1024, treeRss: treeRssBytes(pid) / 1024 / 1024 };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/**
 * The start-up rows: `starts` fresh starts of each (median in the table).
 * `node bin/databench.js` in the checkout (as `npm start`) with the
 * default flags (a type check of the checkout's tsconfig) and with
 * `--typecheck off`, and in an empty folder (as `npx databench` in a new
 * project: the packaged analyses, nothing to check).
 */
export async function startupRows(starts: number): Promise<StartupRow[]> {
  const bin = join(ROOT, 'bin', 'databench.js');
  const empty = mkdtempSync(join(tmpdir(), 'databench-start-'));
  const cases: Array<[string, string[], string]> = [
    ['start-up: npm start (type check on)', [bin], ROOT],
    ['start-up: npm start --typecheck off', [bin, '--typecheck', 'off'], ROOT],
    ['start-up: npx databench, empty folder', [bin], empty],
  ];
  const rows: StartupRow[] = [];
  try {
    for (const [name, args, cwd] of cases) {
      process.stderr.write(`${name}…\n`);
      const ours: Start[] = [];
      const raw: Start[] = [];
      for (let i = 0; i < starts; i++) {
        raw.push(await startOnce([join(ROOT, 'bench', 'raw-server.js')], ROOT, false));
        ours.push(await startOnce(args, cwd, true));
      }
      const pick = (f: (s: Start) => number): [number[], number[]] => [ours.map(f), raw.map(f)];
      rows.push([name, 'ms spawn → first GET / answered', ...pick((s) => s.firstMs)]);
      rows.push([name, 'MB RSS, server process', ...pick((s) => s.rss)]);
      rows.push([name, 'MB RSS, process tree', ...pick((s) => s.treeRss)]);
    }
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
  return rows;
}

// run alone: node --conditions=databench-source --import tsx bench/startup.ts [starts]
if (import.meta.url === `file://${process.argv[1]}`) {
  ensureDist();
  const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  for (const [w, m, o, r] of await startupRows(Number(process.argv[2] ?? 5))) {
    process.stdout.write(
      `| ${w} | ${m} | ${median(o).toFixed(1)} | ${median(r).toFixed(1)} | ${(median(o) / median(r)).toFixed(2)} | ours ${o.map((x) => x.toFixed(0)).join(' ')} raw ${r.map((x) => x.toFixed(0)).join(' ')}\n`,
    );
  }
}
