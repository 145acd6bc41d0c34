// The original databench 0.7.3 (Python, Tornado) as a target of
// `npm run bench`: a checkout of it named by DATABENCH_ORIGINAL, run by a
// python3 that has its dependencies (Debian: python3-tornado python3-zmq
// python3-wrapt python3-yaml python3-future python3-markdown
// python3-docutils), serving the bench's own Python analysis
// (bench/analyses/bench_py/analysis.py, written so that it runs on both) as
// 0.7 ran analyses: in its Tornado process. Nothing of the original is copied
// here: the bench writes a small analyses package (index.yaml and the bench
// analysis) to a temporary folder and starts the checkout's own CLI on it.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, httpGet, treeRssBytes, waitFor } from './processes.ts';

/** The analyses package the original imports (`databench --analyses NAME`). */
const PACKAGE = 'databench_bench_original';

/** Where the original is and which python runs it, or why it cannot run here. */
export type Original =
  { ok: true; checkout: string; python: string; version: string } | { ok: false; reason: string };

/**
 * Find the original: `DATABENCH_ORIGINAL` names a checkout of
 * https://github.com/svenkreiss/databench (0.7.3: commit 99d4ada);
 * `DATABENCH_ORIGINAL_PYTHON` the interpreter (default /usr/bin/python3, else
 * python3), which must import tornado, zmq, wrapt, yaml and future.
 */
export function findOriginal(): Original {
  const checkout = process.env.DATABENCH_ORIGINAL;
  if (!checkout) {
    return { ok: false, reason: 'DATABENCH_ORIGINAL is not set (docs/design/performance.md)' };
  }
  if (!existsSync(join(checkout, 'databench', 'cli.py'))) {
    return { ok: false, reason: `DATABENCH_ORIGINAL=${checkout} has no databench/cli.py` };
  }
  const python =
    process.env.DATABENCH_ORIGINAL_PYTHON ??
    (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const probe = spawnSync(
    python,
    ['-c', 'import tornado, zmq, wrapt, yaml, future, databench; print(databench.__version__)'],
    { cwd: checkout, env: { ...process.env, PYTHONPATH: checkout }, encoding: 'utf8' },
  );
  if (probe.status !== 0) {
    const last = (probe.stderr || String(probe.error ?? '')).trim().split('\n').pop() ?? '';
    return {
      ok: false,
      reason: `${python} cannot import the original's dependencies (${last}): apt-get install python3-tornado python3-zmq python3-wrapt python3-yaml python3-future python3-markdown python3-docutils`,
    };
  }
  return { ok: true, checkout, python, version: probe.stdout.trim() };
}

/** A running original: its base URL, pid and how to stop it. */
export interface OriginalServer {
  base: string;
  pid: number;
  /** Bytes of RSS of its process tree. */
  rss(): number;
  stop(): Promise<void>;
}

/** Write the analyses package the original serves into `dir`. */
function writePackage(dir: string): void {
  const pkg = join(dir, PACKAGE);
  const analysis = join(pkg, 'bench');
  mkdirSync(analysis, { recursive: true });
  writeFileSync(join(pkg, '__init__.py'), '');
  writeFileSync(join(analysis, '__init__.py'), '');
  writeFileSync(
    join(pkg, 'index.yaml'),
    'title: databench bench\nversion: 0.0.0\nanalyses:\n  - name: bench\n',
  );
  const ours = new URL('./analyses/bench_py/', import.meta.url).pathname;
  for (const file of ['analysis.py', 'index.html']) {
    copyFileSync(join(ours, file), join(analysis, file));
  }
}

/**
 * Start the original's CLI on the bench analysis (`bench`), on a free port,
 * with autoreload off and its log at ERROR (our server logs at error too);
 * resolves once `GET /` answers.
 */
export async function startOriginal(original: Original & { ok: true }): Promise<OriginalServer> {
  const dir = mkdtempSync(join(tmpdir(), 'databench-original-'));
  writePackage(dir);
  const port = await freePort();
  const child = spawn(
    original.python,
    [
      '-c',
      'import sys; sys.argv[0] = "databench"; from databench.cli import main; sys.exit(main())',
      ...['--analyses', PACKAGE, '--host', '127.0.0.1', '--port', String(port)],
      ...['--no-watch', '--log', 'ERROR'],
    ],
    {
      cwd: dir,
      env: { ...process.env, PYTHONPATH: original.checkout, PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + String(d)).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const stop = async (): Promise<void> => {
    if (!gone) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (gone) throw new Error(`the original databench exited: ${stderr}`);
        return (await httpGet(port, '/').catch(() => 0)) === 200;
      },
      30_000,
      `the original databench did not answer GET / on ${base}: ${stderr}`,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { base, pid: child.pid!, rss: () => treeRssBytes(child.pid!), stop };
}
