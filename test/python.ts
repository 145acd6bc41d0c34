// The Python interpreter the Python suites run, and the one every server a
// test starts runs its Python analyses with: DATABENCH_PYTHON when it is
// set, else Debian's /usr/bin/python3 (it has python3-matplotlib and
// python3-tornado; `python3` on PATH may be a build without them, such as
// pyenv's), else what a user's server would pick. Checked once.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolvePython } from '../src/kernel/python/python-kernel.ts';

const fromEnv = process.env['DATABENCH_PYTHON'];
export const PYTHON =
  fromEnv !== undefined && fromEnv !== ''
    ? fromEnv
    : existsSync('/usr/bin/python3')
      ? '/usr/bin/python3'
      : resolvePython();
// the servers of this test process's tests (their index.yaml entries name no python:)
process.env['DATABENCH_PYTHON'] = PYTHON;
const CI = process.env['CI'] === 'true';

function runs(code: string): boolean {
  const result = spawnSync(PYTHON, ['-c', code], { stdio: 'ignore', timeout: 30_000 });
  return result.status === 0;
}

/** Python 3.9 or newer is there. */
export const hasPython = runs('import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)');
/** matplotlib imports in it. */
export const hasMatplotlib = hasPython && runs('import matplotlib');
/** Tornado 5 or newer (whose IOLoop runs on asyncio) imports in it. */
export const hasTornado =
  hasPython && runs('import sys, tornado; sys.exit(0 if tornado.version_info >= (5,) else 1)');

/** pyspark imports in it (databench 0.7's `kernel: pyspark` then runs). */
export const hasPyspark = hasPython && runs('import pyspark');

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

/** The same for tests that need Tornado. */
export const tornadoSkip: false | string =
  hasTornado || CI ? false : `no Tornado for ${PYTHON}: apt-get install -y python3-tornado`;

/** Fails (under CI, where nothing is skipped) when Python, matplotlib or Tornado is missing. */
export function assertPython(matplotlib = false, tornado = false): void {
  if (!hasPython) throw new Error(`no Python >= 3.9 at ${PYTHON}: apt-get install -y python3`);
  if (matplotlib && !hasMatplotlib) {
    throw new Error(`no matplotlib for ${PYTHON}: apt-get install -y python3-matplotlib`);
  }
  if (tornado && !hasTornado) {
    throw new Error(`no Tornado for ${PYTHON}: apt-get install -y python3-tornado`);
  }
}
