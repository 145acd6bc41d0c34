import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryBackend } from '../datastore/backends/memory.ts';
import { normalizeIndexConfig } from '../app/config.ts';
import { DatabenchError } from '../protocol/errors.ts';
import { createMemoryLogger } from '../util/logger.ts';
import {
  DEFAULT_CONTENT_SECURITY_POLICY,
  resolveServerOptions,
  SERVER_DEFAULTS,
  strictContentSecurityPolicy,
  type ServerOptions,
} from './options.ts';

/** The error resolving `options` throws, checked to be a DatabenchError with `code`. */
function refused(
  options: ServerOptions,
  env: Record<string, string> = {},
  folder: { datastore: string | undefined } = { datastore: undefined },
  code = 'INVALID_OPTION',
): string {
  try {
    resolveServerOptions(options, env, folder);
  } catch (error) {
    assert.ok(error instanceof DatabenchError, `not a DatabenchError: ${String(error)}`);
    assert.equal(error.code, code);
    return error.message;
  }
  assert.fail(`resolved ${JSON.stringify(options)} with ${JSON.stringify(env)}`);
}

describe('resolveServerOptions: defaults', () => {
  test('nothing given: every default', () => {
    const o = resolveServerOptions({});
    assert.equal(o.host, '127.0.0.1');
    assert.equal(o.loopback, true);
    assert.equal(o.port, 5000);
    assert.equal(o.analyses, undefined);
    assert.equal(o.cwd, process.cwd());
    assert.deepEqual(o.cliArgs, []);
    assert.deepEqual([...o.allowOrigins], []);
    assert.equal(o.maxFrameBytes, 1 << 20);
    assert.deepEqual(o.limits, {
      softBufferBytes: 1 << 20,
      hardBufferBytes: 64 << 20,
      maxQueuedActions: 10_000,
      pauseQueuedBytes: 4 << 20,
      maxQueuedBytes: 64 << 20,
      totalBufferBytes: 256 << 20,
      viewersBufferBytes: 64 << 20,
      drainPollMs: 10,
      maxFrameBytes: 1 << 20,
      maxUploadBytes: 64 << 20,
      maxUploadPageBytes: 64 << 20,
    });
    assert.equal(o.pingIntervalMs, 15_000);
    assert.equal(o.shareExpiresMs, 24 * 60 * 60 * 1000);
    // the viewers of one shared session hold at most what one page may, unless told otherwise
    assert.equal(
      resolveServerOptions({ sendBufferHardBytes: 1000 }, {}).limits.viewersBufferBytes,
      1000,
    );
    assert.equal(o.ssl, undefined);
    // by page: a page with a nonce runs its scripts only with it, the others allow inline ones
    assert.equal(o.contentSecurityPolicy(undefined), DEFAULT_CONTENT_SECURITY_POLICY);
    assert.equal(o.contentSecurityPolicy('n0nce'), strictContentSecurityPolicy('n0nce'));
    assert.match(
      strictContentSecurityPolicy('n0nce'),
      /script-src 'self' 'nonce-n0nce' 'unsafe-eval';/,
    );
    assert.doesNotMatch(strictContentSecurityPolicy('n0nce'), /script-src[^;]*'unsafe-inline'/);
    assert.equal(o.watch, false);
    assert.equal(o.noTemplateCache, false);
    assert.equal(o.development, false);
    assert.equal(o.errorDetails, true);
    assert.equal(o.datastore, 'memory');
    assert.equal(o.onReload, undefined);
  });

  test('the documented defaults are the ones used', () => {
    const o = resolveServerOptions({});
    assert.equal(o.host, SERVER_DEFAULTS.host);
    assert.equal(o.port, SERVER_DEFAULTS.port);
    assert.equal(o.maxFrameBytes, SERVER_DEFAULTS.maxFrameBytes);
    assert.equal(o.pingIntervalMs, SERVER_DEFAULTS.pingIntervalMs);
    assert.equal(o.datastore, SERVER_DEFAULTS.datastore);
  });

  test('watch turns on the template reload and development mode unless they are given', () => {
    const watching = resolveServerOptions({ watch: true });
    assert.equal(watching.noTemplateCache, true);
    assert.equal(watching.development, true);
    const own = resolveServerOptions({ watch: true, noTemplateCache: false, development: false });
    assert.equal(own.noTemplateCache, false);
    assert.equal(own.development, false);
  });

  test("production defaults: several workers or a bind others reach turn off watching ('auto'), the type check and error details", () => {
    const author = resolveServerOptions({ watch: 'auto' });
    assert.deepEqual(
      [author.production, author.watch, author.typecheck, author.errorDetails],
      [false, true, 'warn', true],
    );
    for (const options of [
      { watch: 'auto', workers: 2 },
      { watch: 'auto', host: '0.0.0.0' },
      { watch: 'auto', host: '::' },
      { watch: 'auto', production: true },
    ] as const) {
      const o = resolveServerOptions(options);
      assert.deepEqual(
        [o.production, o.watch, o.typecheck, o.errorDetails],
        [true, false, 'off', false],
        JSON.stringify(options),
      );
    }
    // each can be turned on explicitly
    const on = resolveServerOptions({
      host: '0.0.0.0',
      workers: 4,
      watch: true,
      typecheck: 'warn',
      errorDetails: true,
    });
    assert.deepEqual(
      [on.production, on.watch, on.typecheck, on.errorDetails],
      [true, true, 'warn', true],
    );
    // createServer's own default stays: no watching unless asked for
    assert.equal(resolveServerOptions({}).watch, false);
    assert.equal(resolveServerOptions({}).typecheck, 'off');
    assert.equal(
      resolveServerOptions({ watch: 'auto', production: false, host: '0.0.0.0' }).watch,
      true,
    );
  });

  test('error details: on for a loopback bind, off for any other, unless given', () => {
    assert.equal(resolveServerOptions({ host: '::1' }).errorDetails, true);
    assert.equal(resolveServerOptions({ host: '0.0.0.0' }).errorDetails, false);
    assert.equal(resolveServerOptions({ host: '0.0.0.0' }).loopback, false);
    assert.equal(resolveServerOptions({ host: '0.0.0.0', errorDetails: true }).errorDetails, true);
    assert.equal(resolveServerOptions({ errorDetails: false }).errorDetails, false);
  });

  test('the logger given is used, with analysis ids cut from its lines', () => {
    const logger = createMemoryLogger();
    const o = resolveServerOptions({ logger });
    o.logger.info('resumed 1b4e28ba-2fa1-11d2-883f-0016d3cca427');
    assert.deepEqual(logger.lines, [['info', 'resumed 1b4e28ba…']]);
  });

  test('SSL: the port alone (a self-signed certificate), or with both files', () => {
    assert.deepEqual(resolveServerOptions({ sslPort: 0 }).ssl, {
      port: 0,
      certFile: undefined,
      keyFile: undefined,
    });
    assert.deepEqual(
      resolveServerOptions({ sslPort: 8443, sslCertFile: 'c.pem', sslKeyFile: 'k.pem' }).ssl,
      { port: 8443, certFile: 'c.pem', keyFile: 'k.pem' },
    );
  });
});

describe('resolveServerOptions: option > environment > index.yaml > default', () => {
  test('host: the option, else HOST, else 127.0.0.1', () => {
    const env = { HOST: '0.0.0.0' };
    assert.equal(resolveServerOptions({ host: '::1' }, env).host, '::1');
    assert.equal(resolveServerOptions({}, env).host, '0.0.0.0');
    assert.equal(resolveServerOptions({}, {}).host, '127.0.0.1');
    // an empty variable counts as unset
    assert.equal(resolveServerOptions({}, { HOST: '' }).host, '127.0.0.1');
  });

  test('port: the option, else PORT, else 5000', () => {
    const env = { PORT: '1234' };
    assert.equal(resolveServerOptions({ port: 99 }, env).port, 99);
    assert.equal(resolveServerOptions({ port: 0 }, env).port, 0);
    assert.equal(resolveServerOptions({}, env).port, 1234);
    assert.equal(resolveServerOptions({}, { PORT: '' }).port, 5000);
  });

  test('datastore: the option, else DATABENCH_DATASTORE, else index.yaml, else memory', () => {
    const env = { DATABENCH_DATASTORE: 'redis://env:6379/1' };
    const folder = { datastore: 'redis://yaml:6379/2' };
    const backend = new MemoryBackend();
    assert.equal(resolveServerOptions({ datastore: backend }, env, folder).datastore, backend);
    assert.equal(
      resolveServerOptions({ datastore: 'memory' }, env, folder).datastore,
      'memory',
      'memory given as an option wins over the environment and index.yaml',
    );
    assert.equal(resolveServerOptions({}, env, folder).datastore, 'redis://env:6379/1');
    assert.equal(resolveServerOptions({}, {}, folder).datastore, 'redis://yaml:6379/2');
    assert.equal(
      resolveServerOptions({}, { DATABENCH_DATASTORE: '' }, folder).datastore,
      'redis://yaml:6379/2',
    );
    assert.equal(resolveServerOptions({}, {}, { datastore: undefined }).datastore, 'memory');
  });

  test('only HOST, PORT and DATABENCH_DATASTORE are read from the environment', () => {
    const o = resolveServerOptions({}, { LOG_LEVEL: 'debug', MAX_FRAME_BYTES: '1', WATCH: '1' });
    assert.equal(o.maxFrameBytes, 1 << 20);
    assert.equal(o.watch, false);
  });
});

describe('resolveServerOptions: a bad value names the option, the value and what was expected', () => {
  test('port', () => {
    assert.equal(
      refused({ port: 70000 }),
      'option port must be an integer from 0 to 65535, got 70000',
    );
    assert.match(refused({ port: 1.5 }), /option port .* got 1\.5/);
    assert.equal(
      refused({}, { PORT: 'http' }),
      'environment variable PORT must be a port number from 0 to 65535, got "http"',
    );
    assert.match(refused({}, { PORT: '70000' }), /environment variable PORT .*"70000"/);
    assert.match(refused({}, { PORT: '-1' }), /environment variable PORT .*"-1"/);
  });

  test('host', () => {
    assert.match(
      refused({ host: '' }),
      /^option host must be an interface address or name, got ""/,
    );
  });

  test('datastore, from each source', () => {
    const code = 'DATASTORE_URL';
    assert.match(
      refused({ datastore: 'http://user:secret@example.com/' }, {}, undefined, code),
      /^option datastore needs redis:\/\/HOST:PORT\/DB \(or memory\), got "http:\/\/\*\*\*@example\.com\/"$/,
    );
    assert.match(
      refused({}, { DATABENCH_DATASTORE: 'redis://host/notanumber' }, undefined, code),
      /^environment variable DATABENCH_DATASTORE needs redis:\/\/HOST:PORT\/DB/,
    );
    assert.match(
      refused({}, {}, { datastore: 'postgres://db' }, code),
      /^index.yaml datastore needs redis:\/\/.*got "postgres:\/\/db"/,
    );
    // an object that is not a backend
    assert.match(
      refused({ datastore: {} as unknown as ServerOptions['datastore'] }, {}, undefined, code),
      /^option datastore needs .* got \[object Object\]/,
    );
    // the password of a URL is never printed
    assert.doesNotMatch(
      refused({}, { DATABENCH_DATASTORE: 'redis://:hunter2@host/x' }, undefined, code),
      /hunter2/,
    );
  });

  test('sizes and intervals', () => {
    assert.equal(
      refused({ maxFrameBytes: -1 }),
      'option maxFrameBytes must be a positive integer, got -1',
    );
    assert.match(refused({ maxFrameBytes: 1.5 }), /option maxFrameBytes .* got 1\.5/);
    for (const name of [
      'sendBufferSoftBytes',
      'sendBufferHardBytes',
      'maxQueuedActions',
      'pauseQueuedBytes',
      'maxQueuedBytes',
      'sendBufferTotalBytes',
      'pingIntervalMs',
    ] as const) {
      assert.equal(refused({ [name]: 0 }), `option ${name} must be a positive number, got 0`, name);
      assert.match(refused({ [name]: Number.NaN }), new RegExp(`option ${name} .* got NaN`));
    }
  });

  test('SSL', () => {
    assert.match(refused({ sslPort: -1 }), /^option sslPort must be an integer from 0 to 65535/);
    assert.match(
      refused({ sslPort: 1, sslCertFile: 'c.pem' }),
      /sslCertFile and sslKeyFile go together/,
    );
    assert.match(
      refused({ sslCertFile: 'c.pem', sslKeyFile: 'k.pem' }),
      /sslCertFile and sslKeyFile need sslPort/,
    );
    assert.match(
      refused({ sslPort: 1, sslCertFile: 3 as unknown as string, sslKeyFile: 'k' }),
      /^option sslCertFile must be a string, got 3/,
    );
  });

  test('types of the other options', () => {
    const bad = (options: Record<string, unknown>): string => refused(options);
    assert.match(bad({ logLevel: 'loud' }), /^option logLevel must be one of .*, got "loud"/);
    assert.match(bad({ logger: 'stderr' }), /^option logger must be an object/);
    assert.match(bad({ cliArgs: '--x' }), /^option cliArgs must be a list of strings, got "--x"/);
    assert.match(bad({ allowOrigins: [1] }), /^option allowOrigins must be a list of strings/);
    assert.match(bad({ watch: 'yes' }), /^option watch must be true, false or 'auto', got "yes"/);
    assert.match(bad({ development: 1 }), /^option development must be true or false/);
    assert.match(bad({ noTemplateCache: 1 }), /^option noTemplateCache must be true or false/);
    assert.match(bad({ errorDetails: 'no' }), /^option errorDetails must be true or false/);
    assert.match(
      bad({ workers: 0 }),
      /^option workers must be a whole number of at least 1, got 0/,
    );
    assert.match(
      bad({ typecheck: 'on' }),
      /^option typecheck must be one of off, warn, error, got "on"/,
    );
    assert.match(bad({ contentSecurityPolicy: true }), /^option contentSecurityPolicy must be/);
    assert.match(bad({ onReload: 'x' }), /^option onReload must be a function/);
    assert.match(bad({ cwd: 1 }), /^option cwd must be a string, got 1/);
    assert.match(bad({ analyses: ['a'] }), /^option analyses must be a string/);
  });
});

describe('resolveServerOptions: the OpenID login from index.yaml, the environment and options', () => {
  const SECRET = 'the-cookie-secret-of-thirty-two-chars';
  const yaml = (text: Record<string, unknown>) => normalizeIndexConfig(text).analyses;
  const folder = yaml({
    oidc: {
      issuer: 'https://yaml.example.com',
      client_id: 'from-yaml',
      client_secret: { env: 'TEAM_CLIENT_SECRET' },
      scope: 'openid email',
      session_max_age: 60,
    },
    secret: { env: 'TEAM_COOKIE_SECRET' },
  });
  const env = { TEAM_CLIENT_SECRET: 'client-secret-from-env', TEAM_COOKIE_SECRET: SECRET };

  test("index.yaml's oidc turns the login on, its secrets read from the variables it names", () => {
    const { auth } = resolveServerOptions({ host: '0.0.0.0' }, env, folder);
    assert.deepEqual(auth.oidc, {
      issuer: 'https://yaml.example.com',
      clientId: 'from-yaml',
      clientSecret: 'client-secret-from-env',
      publicUrl: undefined,
      scope: 'openid email',
      groupsClaim: undefined,
      sessionMaxAgeMs: 60_000,
    });
    assert.equal(auth.secret, SECRET);
    assert.equal(auth.token, undefined, 'a login: no token off loopback');
    assert.deepEqual(auth.warnings, []);
  });

  test('an option (a flag) wins over the environment, which wins over index.yaml', () => {
    const all = {
      ...env,
      DATABENCH_OIDC_ISSUER: 'https://env.example.com',
      DATABENCH_OIDC_CLIENT_ID: 'from-env',
      DATABENCH_OIDC_CLIENT_SECRET: 'the-env-client-secret',
      DATABENCH_SECRET: 'x'.repeat(40),
    };
    const fromEnv = resolveServerOptions({}, all, folder).auth;
    assert.equal(fromEnv.oidc?.issuer, 'https://env.example.com');
    assert.equal(fromEnv.oidc?.clientId, 'from-env');
    assert.equal(fromEnv.oidc?.clientSecret, 'the-env-client-secret');
    assert.equal(fromEnv.secret, 'x'.repeat(40));
    assert.equal(fromEnv.oidc?.scope, 'openid email', 'what only index.yaml says stays');
    const fromOptions = resolveServerOptions(
      {
        oidc: { issuer: 'https://flag.example.com', clientId: 'from-flag', clientSecret: 'opt' },
        secret: 'y'.repeat(32),
      },
      all,
      folder,
    ).auth;
    assert.equal(fromOptions.oidc?.issuer, 'https://flag.example.com');
    assert.equal(fromOptions.oidc?.clientId, 'from-flag');
    assert.equal(fromOptions.oidc?.clientSecret, 'opt');
    assert.equal(fromOptions.secret, 'y'.repeat(32));
  });

  test('a literal secret in index.yaml works, with a warning for each', () => {
    const { auth } = resolveServerOptions(
      {},
      {},
      yaml({
        oidc: { issuer: 'http://127.0.0.1:9', client_id: 'c', client_secret: 'in-the-file' },
        secret: SECRET,
      }),
    );
    assert.equal(auth.oidc?.clientSecret, 'in-the-file');
    assert.equal(auth.secret, SECRET);
    assert.equal(auth.warnings.length, 2);
    assert.match(
      auth.warnings[0] ?? '',
      /index\.yaml holds the secret secret itself: .*\{ env: NAME \}/,
    );
    assert.match(auth.warnings[1] ?? '', /secret oidc\.client_secret itself/);
    for (const w of auth.warnings) assert.ok(!w.includes(SECRET) && !w.includes('in-the-file'));
  });

  test('what is wrong or missing is refused, naming where it came from', () => {
    const message = (f: ReturnType<typeof yaml>, e: Record<string, string> = env, o = {}) =>
      refusedWith(o, e, f);
    assert.match(
      message(yaml({ oidc: { issuer: 'nope', client_id: 'c' }, secret: SECRET })),
      /^index\.yaml: oidc\.issuer must be an http\(s\) URL .*\(the server does not start with a login set up wrong\)$/,
    );
    assert.match(
      message(yaml({ oidc: { issuer: 'http://id.example.com', client_id: 'c' }, secret: SECRET })),
      /^index\.yaml oidc\.issuer must be an https URL \(plain http only for a provider on this machine\)/,
    );
    assert.match(
      message(folder, { ...env, DATABENCH_OIDC_ISSUER: 'http://id.example.com' }),
      /^environment variable DATABENCH_OIDC_ISSUER must be an https URL/,
    );
    assert.match(
      message(yaml({ oidc: { client_id: 'c' }, secret: SECRET })),
      /needs the provider's issuer.*oidc\.issuer in index\.yaml/,
    );
    assert.match(
      message(yaml({ oidc: { issuer: 'https://id.example.com' }, secret: SECRET })),
      /needs this server's client id .*oidc\.client_id in index\.yaml/,
    );
    assert.match(
      message(folder, { TEAM_COOKIE_SECRET: SECRET }),
      /^index\.yaml's oidc\.client_secret is the environment variable TEAM_CLIENT_SECRET, which is not set/,
    );
    assert.match(
      message(folder, { ...env, TEAM_COOKIE_SECRET: 'short' }),
      /^index\.yaml secret must be at least 32 characters .*got 5$/,
    );
    assert.match(
      message(yaml({ oidc: { issuer: 'https://id.example.com', client_id: 'c' } }), {}),
      /needs a secret of at least 32 characters .*index\.yaml's secret/,
    );
    assert.match(
      message(folder, env, { token: false }),
      /token: false \(--no-auth\) contradicts index\.yaml's oidc login/,
    );
    assert.match(
      message(folder, env, { authenticate: () => null }),
      /^index\.yaml's oidc and option authenticate are two logins/,
    );
    // a bad secret key refuses the start even without a login
    assert.match(message(yaml({ secret: 7 })), /^index\.yaml: secret must be/);
    // but a variable it names is read only by a login
    assert.equal(
      resolveServerOptions({}, {}, yaml({ secret: { env: 'UNSET' } })).auth.oidc,
      undefined,
    );
  });
});

/** The message of the INVALID_OPTION error resolving `options` with index.yaml's `folder` throws. */
function refusedWith(
  options: ServerOptions,
  env: Record<string, string>,
  folder: ReturnType<typeof normalizeIndexConfig>['analyses'],
): string {
  try {
    resolveServerOptions(options, env, folder);
  } catch (error) {
    assert.ok(error instanceof DatabenchError, `not a DatabenchError: ${String(error)}`);
    assert.equal(error.code, 'INVALID_OPTION');
    return error.message;
  }
  assert.fail(`resolved ${JSON.stringify(options)} with ${JSON.stringify(folder)}`);
}
