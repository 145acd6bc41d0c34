import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { databench, FIXTURES, serving, TestClient, type CliRun } from '../helpers.ts';

/** Serve the fixtures' analyses on a free port, logging only errors. */
const SERVE_FIXTURES = ['--port', '0', '--analyses', join(FIXTURES, 'analyses'), '--log', 'error'];

describe('the databench command', () => {
  const temps: string[] = [];
  after(async () => {
    for (const t of temps) await rm(t, { recursive: true, force: true });
  });

  test('serves a folder; unknown flags become cliArgs; SIGTERM closes sessions with 1001 and exits 0', async () => {
    const run = databench([
      ...SERVE_FIXTURES,
      '--my-flag',
      'value',
      // the fixtures' nearest tsconfig is the checkout's: checking all of it is not this test
      '--typecheck=off',
    ]);
    const url = await serving(run);
    const page = await fetch(url + '/');
    assert.equal(page.status, 200);
    const { client } = await TestClient.connect(url.replace('http', 'ws') + '/args_echo/ws');
    const echo = await client.next('args_echo');
    assert.deepEqual((echo.load as { cli_args: string[] }).cli_args, ['--my-flag', 'value']);
    run.child.kill('SIGTERM');
    assert.equal((await client.closed()).code, 1001);
    assert.equal(await run.exited, 0);
  });

  test('with type checking on (the default while watching) SIGTERM during a check exits 0', async () => {
    // the fixtures' nearest tsconfig.json is the checkout's: a check of many
    // seconds, still running in its own process when the signal comes
    const run = databench(SERVE_FIXTURES);
    await serving(run);
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr);
  });

  test('--typecheck=error refuses to start while an analysis has a type error (exit 1)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'databench-typecheck-'));
    temps.push(dir);
    await mkdir(join(dir, 'hello'));
    await writeFile(join(dir, 'index.yaml'), 'analyses:\n  - name: hello\n');
    await writeFile(join(dir, 'tsconfig.json'), '{ "compilerOptions": { "strict": true } }\n');
    await writeFile(join(dir, 'hello', 'analysis.ts'), 'export const STEP: number = "five";\n');
    const run = databench(['--port', '0', '--analyses', dir, '--typecheck=error'], { cwd: dir });
    assert.equal(await run.exited, 1, run.stderr);
    assert.match(
      run.stderr,
      /^databench: 1 type error\(s\) in the analyses \(--typecheck=error\):\n/,
    );
    assert.match(
      run.stderr,
      /hello\/analysis\.ts:1:14 - error TS2322: Type 'string' is not assignable to type 'number'\./,
    );
    assert.doesNotMatch(run.stdout, /serving at/);
  });

  test('with no analyses folder it serves the packaged analyses', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'databench-empty-'));
    temps.push(empty);
    const run = databench(['--port', '0', '--log', 'error'], { cwd: empty });
    const url = await serving(run);
    const index = await (await fetch(url + '/')).text();
    assert.ok(index.includes('/dummypi/'), 'the index lists dummypi');
    const dummypi = await fetch(url + '/dummypi/');
    assert.equal(dummypi.status, 200);
    const html = await dummypi.text();
    assert.ok(html.includes('id="samples"') && html.includes('data-action="run"'));
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 0);
  });

  const bad: Array<[string[], RegExp]> = [
    [['--port', 'abc'], /--port needs a port number/],
    [['--port', '70000'], /--port needs a port number/],
    [['--log', 'loud'], /--log needs one of/],
    [['--host'], /--host needs a value/],
    [['--ssl-certfile', 'x.pem', '--ssl-port', '1'], /go together/],
    [['--analyses', '/does/not/exist'], /analyses folder not found/],
    [['--prot', '6203'], /unknown option --prot: did you mean --port\?/],
    [['--typecheck', 'strict'], /--typecheck needs one of off, warn, error/],
  ];
  for (const [args, message] of bad) {
    test(`a bad value exits 2 with one line: ${args.join(' ')}`, async () => {
      const run = databench(args);
      assert.equal(await run.exited, 2);
      const lines = run.stderr.trim().split('\n');
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0] ?? '', message);
    });
  }

  test('HOST and PORT come from the environment when no flag gives them; a flag wins', async () => {
    const analyses = join(FIXTURES, 'analyses');
    const fromEnv = databench(['--analyses', analyses, '--log', 'error'], {
      env: { HOST: '127.0.0.1', PORT: '0' },
    });
    // PORT=0 picks a free port; without the variable it would be 5000
    const url = new URL(await serving(fromEnv));
    assert.equal(url.hostname, '127.0.0.1');
    assert.notEqual(url.port, '5000');
    fromEnv.child.kill('SIGTERM');
    assert.equal(await fromEnv.exited, 0);
    const flag = databench(['--analyses', analyses, '--log', 'error', '--port', '0'], {
      env: { PORT: '1' },
    });
    assert.notEqual(new URL(await serving(flag)).port, '1');
    flag.child.kill('SIGTERM');
    assert.equal(await flag.exited, 0);
  });

  test('a bad PORT in the environment exits 2 with one line naming it', async () => {
    const run = databench(['--analyses', join(FIXTURES, 'analyses')], { env: { PORT: 'http' } });
    assert.equal(await run.exited, 2);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0] ?? '', /environment variable PORT must be a port number .*"http"/);
  });

  test('a busy --port fails with one line and exit 1', async () => {
    const { createServer: createNetServer } = await import('node:net');
    const blocker = createNetServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busy = (blocker.address() as { port: number }).port;
    try {
      const run = databench([
        '--port',
        String(busy),
        '--analyses',
        join(FIXTURES, 'analyses'),
        '--log',
        'silent',
      ]);
      assert.equal(await run.exited, 1);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.match(run.stderr, new RegExp(`port ${busy} is in use: pick another with --port`));
    } finally {
      blocker.close();
    }
  });

  test('a busy --ssl-port fails with one line and exit 1, not a hang', async () => {
    const { createServer: createNetServer } = await import('node:net');
    const blocker = createNetServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busy = (blocker.address() as { port: number }).port;
    try {
      const run = databench(['--port', '0', '--ssl-port', String(busy), '--log', 'silent']);
      assert.equal(await run.exited, 1);
      assert.match(run.stderr.trim(), new RegExp(`--ssl-port ${busy} is in use`));
    } finally {
      blocker.close();
    }
  });

  test('scaffold-databench NAME creates a Python analysis; an existing name exits 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'databench-alias-'));
    temps.push(dir);
    const alias = (name: string): CliRun =>
      databench([name], { cwd: dir, bin: 'scaffold-databench.js' });
    const first = alias('hello');
    assert.equal(await first.exited, 0, first.stderr);
    assert.match(first.stdout, /analyses[/\\]hello[/\\]analysis\.py/);
    const again = alias('hello');
    assert.equal(await again.exited, 2);
    assert.equal(again.stderr.trim().split('\n').length, 1);
    assert.match(again.stderr, /already exists/);
  });

  test('--version and --help', async () => {
    const version = databench(['--version']);
    assert.equal(await version.exited, 0);
    assert.match(version.stdout, /^databench \d+\.\d+\.\d+/);
    const help = databench(['--help']);
    assert.equal(await help.exited, 0);
    assert.match(help.stdout, /--no-watch/);
  });

  test('--analyses at one analysis folder exits 2 and names the parent to serve', async () => {
    const run = databench(['--port', '0', '--analyses', 'analyses/dummypi']);
    assert.equal(await run.exited, 2);
    assert.equal(
      run.stderr.trim(),
      'databench: --analyses points at the analysis `dummypi`; serve its parent folder: `--analyses analyses`',
    );
  });

  test('--analyses at a folder with no analyses exits 2 and says how to make one', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'databench-empty-'));
    temps.push(empty);
    const run = databench(['--port', '0', '--analyses', empty]);
    assert.equal(await run.exited, 2);
    assert.match(run.stderr, /no analyses there .*databench new NAME/);
  });
});

describe('shutdown keeps its promise', () => {
  test('SIGTERM exits 0 within the cap while a handler loops on awaited writes and a raw interval', async () => {
    const run = databench(['--port', '0', '--no-watch', '--analyses', join(FIXTURES, 'hardening')]);
    const url = (await serving(run)).replace('http', 'ws') + '/looper/ws';
    const { client } = await TestClient.connect(url);
    client.send('loop');
    await client.waitFor((f) => f.signal === 'data', 'the loop runs');
    const started = Date.now();
    run.child.kill('SIGTERM');
    const code = await run.exited;
    const took = Date.now() - started;
    assert.equal(code, 0, run.stderr);
    // the server's cap is 5 s for sessions; the process's own cap is 6 s
    assert.ok(took < 7000, `shutdown took ${took} ms`);
  });

  test('a second signal, later than the echo of the first, exits at once', async () => {
    const run = databench(['--port', '0', '--no-watch', '--analyses', join(FIXTURES, 'hardening')]);
    const url = (await serving(run)).replace('http', 'ws') + '/looper/ws';
    const { client } = await TestClient.connect(url);
    client.send('loop');
    await client.waitFor((f) => f.signal === 'data', 'the loop runs');
    run.child.kill('SIGTERM');
    // later than the 500 ms echo window, sooner than the 1 s grace the
    // never-ending loop holds the first shutdown for
    await new Promise((r) => setTimeout(r, 650));
    const second = Date.now();
    run.child.kill('SIGTERM');
    const code = await run.exited;
    assert.equal(code, 1, run.stderr);
    assert.match(run.stderr, /again: exiting now/);
    assert.ok(Date.now() - second < 1500);
  });
});
