// The Python interpreter the Python-kernel suites run: the one a `kernel: py`
// analysis gets by default (Debian's /usr/bin/python3, which sees
// python3-matplotlib), checked once.
import { spawnSync } from 'node:child_process';
import { resolvePython } from '../src/kernel/python/python-kernel.ts';

export const PYTHON = resolvePython();
const CI = process.env['CI'] === 'true';

function runs(code: string): boolean {
  const result = spawnSync(PYTHON, ['-c', code], { stdio: 'ignore', timeout: 30_000 });
  return result.status === 0;
}

/** Python 3.9 or newer is there. */
export const hasPython = runs('import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)');
/** matplotlib imports in it. */
export const hasMatplotlib = hasPython && runs('import matplotlib');
/** Tornado imports in it (databench 0.7 analyses use its IOLoop, gen and RequestHandler). */
export const hasTornado = hasPython && runs('import tornado.web');

/**
 * The `skip` option of a suite that needs Python: false when it is there, and
 * under CI=true (where the suite then fails); elsewhere the one line that
 * says what to install.
 */
export const pythonSkip: false | string =
  hasPython || CI ? false : `no Python >= 3.9 at ${PYTHON}: apt-get install -y python3`;

/** The same for tests that need matplotlib. */
export const matplotlibSkip: false | string =
  hasMatplotlib || CI
    ? false
    : `no matplotlib for ${PYTHON}: apt-get install -y python3-matplotlib`;

/** The same for tests of databench 0.7 analyses, which need Tornado. */
export const tornadoSkip: false | string =
  hasTornado || CI ? false : `no Tornado for ${PYTHON}: apt-get install -y python3-tornado`;

/** Fails (under CI, where nothing is skipped) when Python or matplotlib is missing. */
export function assertPython(matplotlib = false): void {
  if (!hasPython) throw new Error(`no Python >= 3.9 at ${PYTHON}: apt-get install -y python3`);
  if (matplotlib && !hasMatplotlib) {
    throw new Error(`no matplotlib for ${PYTHON}: apt-get install -y python3-matplotlib`);
  }
}
