import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DatabenchError } from '../protocol/errors.ts';
import { CliError, reportError } from './errors.ts';
import { oneEditApart, parseCli } from './main.ts';

test('--watch and --no-watch turn watching on and off; neither leaves it to the server', () => {
  assert.equal(parseCli([]).watch, undefined);
  assert.equal(parseCli(['--no-watch']).watch, false);
  assert.equal(parseCli(['--watch']).watch, true);
  assert.equal(parseCli([]).errorDetails, undefined);
  assert.equal(parseCli(['--error-details']).errorDetails, true);
  assert.equal(parseCli(['--no-error-details']).errorDetails, false);
  assert.equal(parseCli([]).production, undefined);
  assert.equal(parseCli(['--production']).production, true);
});

test('flags not given stay undefined: the server resolves them from the environment', () => {
  const o = parseCli([]);
  assert.equal(o.host, undefined);
  assert.equal(o.port, undefined);
  assert.equal(o.datastore, undefined);
  const flags = parseCli(['--port', '99', '--host=::1', '--datastore', 'redis://h:1/0']);
  assert.equal(flags.port, 99);
  assert.equal(flags.host, '::1');
  assert.equal(flags.datastore, 'redis://h:1/0');
});

test('a failure is one line and the exit code of its kind, from one table', () => {
  assert.deepEqual(reportError(new CliError('bad flag', 2)), { text: 'bad flag', exitCode: 2 });
  const usage = new DatabenchError('INVALID_OPTION', 'environment variable PORT must be …');
  assert.deepEqual(reportError(usage), { text: usage.message, exitCode: 2 });
  for (const code of ['DATASTORE_URL', 'ANALYSES_NOT_FOUND', 'NO_ANALYSES', 'SSL_FILE'] as const) {
    assert.equal(reportError(new DatabenchError(code, 'x')).exitCode, 2, code);
  }
  for (const code of ['PORT_IN_USE', 'DATASTORE_UNREACHABLE', 'MISSING_DEPENDENCY'] as const) {
    assert.equal(reportError(new DatabenchError(code, 'x')).exitCode, 1, code);
  }
  // not one of ours: unexpected, so the stack goes with it
  const bug = new TypeError('undefined is not a function');
  assert.deepEqual(reportError(bug), { text: bug.stack, exitCode: 1 });
});

test('unknown flags are kept in order for the analyses, and so is everything after --', () => {
  const o = parseCli(['--x', '1', '--port', '5', '--y=2', '--', '--port', '7']);
  assert.deepEqual(o.cliArgs, ['--x', '1', '--y=2', '--port', '7']);
  assert.equal(o.port, 5);
});

test('new NAME is the scaffold command', () => {
  const o = parseCli(['new', 'hello']);
  assert.equal(o.command, 'new');
  assert.equal(o.name, 'hello');
  assert.throws(() => parseCli(['new']), CliError);
});

test("scaffold-databench NAME: 0.7's scaffold, with its --kernel py and -y; anything else is usage", () => {
  const o = parseCli(['scaffold-databench', 'hello']);
  assert.deepEqual([o.command, o.name, o.v07, o.kernel], ['new', 'hello', true, undefined]);
  const py = parseCli(['scaffold-databench', '-y', 'hello', '--kernel', 'py']);
  assert.deepEqual([py.name, py.kernel], ['hello', 'py']);
  assert.equal(parseCli(['scaffold-databench', 'x', '--kernel=py']).kernel, 'py');
  for (const argv of [[], ['a', 'b'], ['a', '--kernel', 'go'], ['a', '--port', '1']]) {
    assert.throws(() => parseCli(['scaffold-databench', ...argv]), {
      name: 'CliError',
      exitCode: 2,
    });
  }
  assert.equal(parseCli(['new', 'hello']).v07, false);
});

test("--coverage FILE is the server's (0.7's flag), never an analysis flag", () => {
  const o = parseCli(['--coverage', '.coverage', '--x', '--coverage=other']);
  assert.equal(o.coverage, 'other');
  assert.deepEqual(o.cliArgs, ['--x']);
  assert.throws(() => parseCli(['--coverage']), { name: 'CliError', exitCode: 2 });
});

test('check [FOLDER] is the page check; the folder is what --analyses names; nothing else', () => {
  const here = parseCli(['check']);
  assert.equal(here.command, 'check');
  assert.equal(here.analyses, undefined, 'found as the server finds it');
  assert.equal(parseCli(['check', 'my/analyses']).analyses, 'my/analyses');
  assert.equal(parseCli(['check', '--analyses', 'other']).analyses, 'other');
  assert.throws(() => parseCli(['check', 'a', 'b']), /usage: databench check \[FOLDER\]; "b"/);
  assert.throws(() => parseCli(['check', '--strict']), /"--strict" is not one of its/);
});

test('--log takes databench 0.7 level names in any case, and ours', () => {
  const level = (v: string): string | undefined => parseCli(['--log', v]).log;
  assert.equal(level('DEBUG'), 'debug');
  assert.equal(level('INFO'), 'info');
  assert.equal(level('WARNING'), 'warn');
  assert.equal(level('Warning'), 'warn');
  assert.equal(level('warn'), 'warn');
  assert.equal(level('ERROR'), 'error');
  assert.equal(level('CRITICAL'), 'error');
  assert.equal(level('silent'), 'silent');
  assert.equal(parseCli(['--log=critical']).log, 'error');
  assert.throws(
    () => parseCli(['--log', 'loud']),
    (e: unknown) =>
      e instanceof CliError && e.exitCode === 2 && /CRITICAL|critical/.test(e.message),
  );
});
test('an unknown flag one edit away from an option is refused as a typo (exit 2)', () => {
  for (const [typo, meant] of [
    ['--prot', '--port'],
    ['--hots', '--host'],
    ['--analysis', '--analyses'],
    ['--no-wach', '--no-watch'],
    ['--typechek', '--typecheck'],
  ] as const) {
    assert.throws(
      () => parseCli([typo, '6203']),
      (e: unknown) =>
        e instanceof CliError &&
        e.exitCode === 2 &&
        e.message.includes(`unknown option ${typo}: did you mean ${meant}?`) &&
        e.message.includes(`databench -- ${typo}`),
      typo,
    );
  }
  // the same flag after -- is the analyses' own, and so is one far from every option
  assert.deepEqual(parseCli(['--', '--prot', '6203']).cliArgs, ['--prot', '6203']);
  assert.deepEqual(parseCli(['--samples=7']).cliArgs, ['--samples=7']);
});

test('oneEditApart: insert, delete, replace, swap; not two edits', () => {
  assert.equal(oneEditApart('--prot', '--port'), true);
  assert.equal(oneEditApart('--por', '--port'), true);
  assert.equal(oneEditApart('--portt', '--port'), true);
  assert.equal(oneEditApart('--pory', '--port'), true);
  assert.equal(oneEditApart('--port', '--port'), false);
  assert.equal(oneEditApart('--pt', '--port'), false);
  assert.equal(oneEditApart('--otrp', '--port'), false);
});

test('--typecheck takes off, warn or error; default undefined', () => {
  assert.equal(parseCli([]).typecheck, undefined);
  assert.equal(parseCli(['--typecheck=error']).typecheck, 'error');
  assert.equal(parseCli(['--typecheck', 'OFF']).typecheck, 'off');
  assert.throws(
    () => parseCli(['--typecheck=strict']),
    (e: unknown) => e instanceof CliError && e.exitCode === 2 && /off, warn, error/.test(e.message),
  );
});

test('test [FILE...] passes everything after it to the test runner', () => {
  const o = parseCli(['test', 'a.test.ts', '--test-only']);
  assert.equal(o.command, 'test');
  assert.deepEqual(o.files, ['a.test.ts', '--test-only']);
});

test('authentication flags: --token, --no-auth, --auth oidc and its settings, and what contradicts', () => {
  assert.equal(parseCli(['--token', 'a-token-of-sixteen+']).token, 'a-token-of-sixteen+');
  assert.equal(parseCli(['--no-auth']).noAuth, true);
  const oidc = parseCli([
    '--auth',
    'oidc',
    '--oidc-issuer',
    'https://id.example.com',
    '--oidc-client-id=databench',
    '--public-url',
    'https://databench.example.com',
    '--secret',
    'x'.repeat(32),
  ]);
  assert.equal(oidc.auth, 'oidc');
  assert.equal(oidc.oidcIssuer, 'https://id.example.com');
  assert.equal(oidc.oidcClientId, 'databench');
  assert.equal(oidc.publicUrl, 'https://databench.example.com');
  assert.equal(oidc.secret, 'x'.repeat(32));
  for (const [argv, message] of [
    [['--token', 'a-token-of-sixteen+', '--no-auth'], /contradict/],
    [['--auth', 'saml'], /--auth needs oidc/],
    [['--oidc-issuer', 'https://id.example.com'], /need --auth oidc/],
    [['--auth', 'oidc', '--no-auth'], /contradict/],
  ] as const) {
    assert.throws(() => parseCli([...argv]), message);
  }
});

test('--share-hours is how long a share link works at most, in milliseconds; a bad value is bad usage', () => {
  assert.equal(parseCli([]).shareExpiresMs, undefined);
  assert.equal(parseCli(['--share-hours', '2']).shareExpiresMs, 7_200_000);
  assert.equal(parseCli(['--share-hours=0.5']).shareExpiresMs, 1_800_000);
  for (const bad of ['0', '-1', 'soon', '600']) {
    assert.throws(
      () => parseCli(['--share-hours', bad]),
      (e) => e instanceof CliError && e.exitCode === 2 && /--share-hours needs/.test(e.message),
      bad,
    );
  }
});
