// The Python package's own unit tests (python/databench/tests: AnalysisTest
// as the seed shows it, Datastore, encoding, fig_to_src), run with
// `python -m unittest` so `npm test` covers them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { PYTHON_PACKAGE_DIR } from '../../src/kernel/python-kernel.ts';
import { assertPython, hasMatplotlib, PYTHON, pythonSkip } from '../python.ts';

test('python -m unittest: the databench package', { skip: pythonSkip }, async () => {
  // under CI=true the matplotlib test must not skip: fail here with what to install
  assertPython(process.env['CI'] === 'true');
  const child = spawn(
    PYTHON,
    ['-m', 'unittest', 'discover', '-s', 'databench/tests', '-t', '.', '-v'],
    {
      cwd: PYTHON_PACKAGE_DIR,
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', MPLBACKEND: 'Agg' },
    },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, output);
  assert.match(output, /^OK/m);
  if (hasMatplotlib) assert.match(output, /test_fig_to_src .* ok$/m);
});
