// The Python package's own unit tests (python/databench/tests: AnalysisTest
// as the seed and databench 0.7 show it, the decorators, Datastore and
// DatastoreLegacy, encoding, json_encoder_default, Readme, App, databench.run
// against the real server, databench_py, fig_to_src), run with
// `python -m unittest` so `npm test` covers them; the Python tests of the
// packaged dummypi_py and of a `databench new NAME --python` scaffold.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { scaffoldAnalysis } from '../../src/cli/scaffold.ts';
import { PYTHON_PACKAGE_DIR } from '../../src/kernel/python/python-kernel.ts';
import { assertPython, hasMatplotlib, hasTornado, PYTHON, pythonSkip } from '../python.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** A shell word for `shlex.split`. */
const quoted = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;
/** The databench command from source, as the tests' own helper starts it. */
const DATABENCH_FROM_SOURCE = [
  process.execPath,
  '--conditions=databench-source',
  '--import',
  import.meta.resolve('tsx'),
  join(ROOT, 'bin', 'databench.js'),
]
  .map(quoted)
  .join(' ');

/**
 * Runs `python -m unittest [args] -v` in `cwd` with the package on
 * PYTHONPATH; fails with its output.
 */
async function unittestIn(cwd: string, args: string[] = []): Promise<string> {
  const child = spawn(PYTHON, ['-m', 'unittest', ...args, '-v'], {
    cwd,
    env: {
      ...process.env,
      PYTHONPATH: PYTHON_PACKAGE_DIR,
      PYTHONDONTWRITEBYTECODE: '1',
      MPLBACKEND: 'Agg',
      // databench.run starts the server from this checkout's source, not a build of it
      DATABENCH_COMMAND: DATABENCH_FROM_SOURCE,
      PORT: '',
      HOST: '',
    },
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, output);
  return output;
}

test('python -m unittest: the databench package', { skip: pythonSkip }, async () => {
  // under CI=true the matplotlib test must not skip: fail here with what to install
  assertPython(process.env['CI'] === 'true', process.env['CI'] === 'true');
  const output = await unittestIn(PYTHON_PACKAGE_DIR, [
    'discover',
    '-s',
    'databench/tests',
    '-t',
    '.',
  ]);
  assert.match(output, /^OK/m);
  if (hasMatplotlib) assert.match(output, /test_fig_to_src .* ok$/m);
  if (hasTornado)
    assert.match(output, /test_a_periodic_callback_calls_a_generator_handler .* ok$/m);
  // databench.run against the real server (Node is here: this runs in it)
  assert.match(output, /test_serves_the_analysis_until_the_loop_stops/);
  assert.doesNotMatch(
    output,
    /test_serves_the_analysis_until_the_loop_stops \([^)]*\) \.\.\. skipped/,
  );
});

test('the packaged dummypi_py passes its Python test', { skip: pythonSkip }, async () => {
  assertPython();
  const output = await unittestIn(join(ROOT, 'analyses', 'dummypi_py'));
  assert.match(output, /Ran 2 tests/);
});

test(
  'databench new NAME --python scaffolds a Python analysis whose test passes',
  { skip: pythonSkip },
  async () => {
    assertPython();
    const dir = join(ROOT, 'test-artifacts', 'scaffold-python');
    await rm(dir, { recursive: true, force: true });
    const { created } = await scaffoldAnalysis('hello_py', { analysesDir: dir, python: true });
    assert.ok(created.some((f) => f.endsWith('hello_py/analysis.py')));
    assert.ok(!created.some((f) => f.endsWith('package.json')), 'no package.json for Python');
    assert.match(
      await readFile(join(dir, 'index.yaml'), 'utf8'),
      /- name: hello_py\n(.*\n)*?\s+kernel: py\n/,
    );
    assert.match(
      await readFile(join(dir, 'hello_py', 'analysis.py'), 'utf8'),
      /class HelloPy\(databench\.Analysis\)/,
    );
    const output = await unittestIn(join(dir, 'hello_py'));
    assert.match(output, /test_counts_clicks .* ok/);
    await rm(dir, { recursive: true, force: true });
  },
);

test(
  'the Python guide’s analysis passes the guide’s Python test',
  { skip: pythonSkip },
  async () => {
    assertPython();
    const guide = await readFile(join(ROOT, 'docs/guides/python.md'), 'utf8');
    const blocks = [...guide.matchAll(/```python\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
    const analysis = blocks.find((b) => b.includes('class Pi(databench.Analysis)'));
    const testFile = blocks.find((b) => b.includes('class TestPi'));
    assert.ok(analysis && testFile, 'docs/guides/python.md has the analysis and its test');
    const dir = join(ROOT, 'test-artifacts', 'readme-python');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'analysis.py'), analysis);
    await writeFile(join(dir, 'test_analysis.py'), testFile);
    assert.match(await unittestIn(dir), /test_run .* ok/);
    await rm(dir, { recursive: true, force: true });
  },
);
