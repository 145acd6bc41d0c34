import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliError } from './errors.ts';
import { parseCli } from './main.ts';

test('--no-watch turns watching off; watching is on by default', () => {
  assert.equal(parseCli([], {}).watch, true);
  assert.equal(parseCli(['--no-watch'], {}).watch, false);
});

test('HOST and PORT come from the environment; flags win', () => {
  const fromEnv = parseCli([], { HOST: '0.0.0.0', PORT: '1234' });
  assert.equal(fromEnv.host, '0.0.0.0');
  assert.equal(fromEnv.port, 1234);
  const flags = parseCli(['--port', '99', '--host=::1'], { HOST: '0.0.0.0', PORT: '1234' });
  assert.equal(flags.port, 99);
  assert.equal(flags.host, '::1');
});

test('a bad PORT in the environment is a usage error (exit 2)', () => {
  assert.throws(
    () => parseCli([], { PORT: 'http' }),
    (e: unknown) => e instanceof CliError && e.exitCode === 2 && /PORT/.test(e.message),
  );
});

test('unknown flags are kept in order for the analyses, and so is everything after --', () => {
  const o = parseCli(['--x', '1', '--port', '5', '--y=2', '--', '--port', '7'], {});
  assert.deepEqual(o.cliArgs, ['--x', '1', '--y=2', '--port', '7']);
  assert.equal(o.port, 5);
});

test('new NAME is the scaffold command', () => {
  const o = parseCli(['new', 'hello'], {});
  assert.equal(o.command, 'new');
  assert.equal(o.name, 'hello');
  assert.throws(() => parseCli(['new'], {}), CliError);
});

test('--log takes databench 0.7 level names in any case, and ours', () => {
  const level = (v: string): string | undefined => parseCli(['--log', v], {}).log;
  assert.equal(level('DEBUG'), 'debug');
  assert.equal(level('INFO'), 'info');
  assert.equal(level('WARNING'), 'warn');
  assert.equal(level('Warning'), 'warn');
  assert.equal(level('warn'), 'warn');
  assert.equal(level('ERROR'), 'error');
  assert.equal(level('CRITICAL'), 'error');
  assert.equal(level('silent'), 'silent');
  assert.equal(parseCli(['--log=critical'], {}).log, 'error');
  assert.throws(
    () => parseCli(['--log', 'loud'], {}),
    (e: unknown) =>
      e instanceof CliError && e.exitCode === 2 && /CRITICAL|critical/.test(e.message),
  );
});
