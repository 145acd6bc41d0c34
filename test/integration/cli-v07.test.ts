// The databench 0.7 command line, run as 0.7's users and its own tests ran it:
// `databench` in a 0.7 project (no type-check noise), `--coverage FILE`,
// `--analyses` as an import path, `scaffold-databench NAME`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { databench, FIXTURES, serving, TestClient, writeFakeD3 } from '../helpers.ts';
import { PYTHON, tornadoSkip } from '../python.ts';

const PROJECT = join(FIXTURES, 'v07py');
const hasCoverage = spawnSync(PYTHON, ['-c', 'import coverage'], { stdio: 'ignore' }).status === 0;
/** Under CI=true a missing coverage fails the test (it must run there); elsewhere it skips, saying what to install. */
const coverageSkip: false | string =
  hasCoverage || process.env['CI'] === 'true'
    ? false
    : `no module coverage for ${PYTHON}: apt-get install -y python3-coverage`;

describe('the databench 0.7 command line', () => {
  const temps: string[] = [];
  const temp = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'databench-v07-'));
    temps.push(dir);
    return dir;
  };
  after(async () => {
    for (const t of temps) await rm(t, { recursive: true, force: true });
  });

  test(
    'databench in a 0.7 project: no type check, --coverage measures the kernels and is no analysis flag',
    { skip: tornadoSkip || coverageSkip },
    async () => {
      await writeFakeD3(join(PROJECT, 'node_modules', 'd3'));
      const out = await temp();
      const file = join(out, 'cov');
      // watching (the default) is what turns the type check on
      const run = databench(['--port', '0', '--coverage', file, '--some-test-flag'], {
        cwd: PROJECT,
      });
      const url = await serving(run);
      const { client } = await TestClient.connect(url.replace('http', 'ws') + '/parameters/ws');
      client.send('test_cli_args');
      assert.deepEqual((await client.next('cli_args')).load, ['--some-test-flag']);
      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0, run.stderr);
      const output = run.stdout + run.stderr;
      assert.doesNotMatch(output, /type check|type error|TypeScript/i);
      assert.match(output, /--coverage: Python kernels write .*cov\.<host>\.<pid>\.<random>/);
      // one data file per kernel process, as 0.7 wrote its own; the analysis ran measured
      const files = (await readdir(out)).filter((f) => f.startsWith('cov.'));
      assert.ok(files.length >= 1, `coverage data files in ${out}: ${files.join(', ')}`);
      const measured = spawnSync(
        PYTHON,
        [
          '-c',
          'import coverage, sys\n' +
            'files = set()\n' +
            'for name in sys.argv[1:]:\n' +
            '    data = coverage.CoverageData(basename=name)\n' +
            '    data.read()\n' +
            '    files.update(data.measured_files())\n' +
            'print("\\n".join(sorted(files)))\n',
          ...files.map((f) => join(out, f)),
        ],
        { encoding: 'utf8' },
      );
      assert.equal(measured.status, 0, measured.stderr);
      assert.ok(
        measured.stdout.includes(join(PROJECT, 'analyses', 'parameters', 'analysis.py')),
        measured.stdout,
      );
    },
  );

  test("--build --analyses as 0.7's import path, from the package's parent; --coverage understood", async () => {
    const dir = await temp();
    await mkdir(join(dir, 'pkg', 'tests', 'analyses', 'hello'), { recursive: true });
    await writeFile(
      join(dir, 'pkg', 'tests', 'analyses', 'index.yaml'),
      'build: touch build_test.txt\nanalyses:\n  - name: hello\n',
    );
    const run = databench(
      ['--build', '--analyses', 'tests.analyses', '--coverage', join(dir, '.coverage')],
      { cwd: join(dir, 'pkg') },
    );
    assert.equal(await run.exited, 0, run.stderr);
    assert.ok((await stat(join(dir, 'pkg', 'tests', 'analyses', 'build_test.txt'))).isFile());
    const missing = databench(['--build', '--analyses', 'tests.nothing'], {
      cwd: join(dir, 'pkg'),
    });
    assert.equal(await missing.exited, 2);
    assert.match(
      missing.stderr,
      /analyses folder not found: .*tests\.nothing \(nor a package tests\.nothing from /,
    );
  });

  test(
    "scaffold-databench NAME: a Python analysis in 0.7's layout that serves; again: exit 2",
    { skip: tornadoSkip },
    async () => {
      const dir = await temp();
      const first = databench(['hello'], { cwd: dir, bin: 'scaffold-databench.js' });
      assert.equal(await first.exited, 0, first.stderr);
      const listing = (await readdir(join(dir, 'analyses', 'hello'))).sort();
      assert.deepEqual(listing, [
        'README.md',
        '__init__.py',
        'analysis.js',
        'analysis.py',
        'index.html',
      ]);
      assert.deepEqual(
        (await readdir(dir)).sort(),
        ['analyses'],
        'no package.json, no tsconfig.json',
      );
      assert.ok((await stat(join(dir, 'analyses', '__init__.py'))).isFile());
      const index = await readFile(join(dir, 'analyses', 'index.yaml'), 'utf8');
      assert.match(index, /- name: hello\n/);
      assert.doesNotMatch(index, /kernel:/, '0.7 listed it without kernel:');
      assert.match(
        await readFile(join(dir, 'analyses', 'hello', 'analysis.py'), 'utf8'),
        /class Hello\(databench\.Analysis\)/,
      );
      assert.match(
        await readFile(join(dir, 'analyses', 'hello', 'index.html'), 'utf8'),
        /\/hello\/analysis\.js/,
      );
      assert.match(first.stdout, /created analyses[/\\]hello[/\\]analysis\.py/);

      const again = databench(['hello'], { cwd: dir, bin: 'scaffold-databench.js' });
      assert.equal(await again.exited, 2);
      assert.match(again.stderr, /already exists/);

      const py = databench(['other', '--kernel', 'py', '-y'], {
        cwd: dir,
        bin: 'scaffold-databench.js',
      });
      assert.equal(await py.exited, 0, py.stderr);
      assert.match(
        await readFile(join(dir, 'analyses', 'index.yaml'), 'utf8'),
        /- name: other\n.*\n.*\n\s+kernel: py\n/,
      );

      // what it made serves: the page, and the analysis in a Python kernel
      const server = await createServer({ port: 0, cwd: dir, logger: createMemoryLogger() });
      try {
        assert.equal(server.app.entries.get('hello')?.error, undefined);
        assert.equal((await fetch(server.url + '/hello/')).status, 200);
        const { client } = await TestClient.connect(server.url.replace('http', 'ws') + '/hello/ws');
        const data = await client.waitFor((f) => f.signal === 'data', 'the status');
        assert.deepEqual(data.load, { status: 'Hello World' });
        client.send('ping');
        assert.deepEqual(
          (
            await client.waitFor(
              (f) => f.signal === 'data' && JSON.stringify(f.load) === '{"status":"pong"}',
              'pong',
            )
          ).load,
          { status: 'pong' },
        );
        client.close();
      } finally {
        await server.close();
      }
    },
  );
});
