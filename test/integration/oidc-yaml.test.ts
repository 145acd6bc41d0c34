// The OpenID login set up in index.yaml (oidc:, secret:), against a real
// provider: a server started from the folder alone signs users in, from
// createServer and from the CLI (its secrets in variables the file names);
// flags and the environment win over the file; a wrong value stops the start
// naming the file and the key; a secret written in the file is a warning.
import assert from 'node:assert/strict';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import {
  databench,
  FIXTURES,
  reloadWaiter,
  serving,
  TestClient,
  within,
  type CliRun,
} from '../helpers.ts';
import { browse, CLIENT, Jar, listenProvider, type ListeningProvider } from '../openid.ts';

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
const COOKIE_SECRET = 'the-cookie-secret-from-an-environment-variable';
const ENV = { TEAM_OIDC_CLIENT_SECRET: CLIENT.secret, TEAM_COOKIE_SECRET: COOKIE_SECRET };

/** A folder of analyses (copies of the allow-rule fixtures) with `yaml` as its index.yaml. */
async function folder(name: string, yaml: string): Promise<string> {
  // in the repository: the analyses import databench-ts (this package, by its own name)
  const dir = join(ARTIFACTS, `oidc-yaml-${name}-${process.pid}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const analysis of ['team', 'everyone']) {
    await cp(join(FIXTURES, 'auth_rules', analysis), join(dir, analysis), { recursive: true });
  }
  await writeFile(join(dir, 'index.yaml'), yaml);
  return dir;
}

/** index.yaml of a folder whose login is at `issuer`. */
function indexYaml(issuer: string, more = ''): string {
  return `title: Signed in from index.yaml
allow: [group:analysts]
oidc:
  issuer: ${issuer}
  client_id: ${CLIENT.id}
  client_secret: { env: TEAM_OIDC_CLIENT_SECRET }
  session_max_age: 600
secret: { env: TEAM_COOKIE_SECRET }
${more}analyses:
  - team
  - name: everyone
    allow: '*'
`;
}

/** The user frame of `name`'s socket opened with the session of `jar`. */
async function userOf(jar: Jar, url: string, name: string): Promise<unknown> {
  const client = await TestClient.open(`${url.replace('http', 'ws')}/${name}/ws`, {
    headers: { Cookie: jar.header(new URL(url)) },
  });
  try {
    client.sendJson({ __connect: null, __request_args: '' });
    return (await client.waitFor((f) => f.signal === 'user', 'the user frame')).load;
  } finally {
    client.close();
  }
}

describe('the OpenID login from index.yaml, against a real provider', () => {
  let provider: ListeningProvider;
  let server: DatabenchServer;
  let cli: CliRun | undefined;
  let cliUrl = '';
  let dir = '';
  const logger = createMemoryLogger();

  before(async () => {
    provider = await listenProvider();
    dir = await folder('serve', indexYaml(provider.issuer));
    // no oidc option, no secret option: the folder says it all
    server = await createServer({ port: 0, analyses: dir, env: ENV, logger });
    cli = databench(['--port', '0', '--analyses', dir, '--log', 'warn'], { env: ENV });
    cliUrl = await serving(cli);
    provider.start([server.url, cliUrl]);
  });
  after(async () => {
    cli?.child.kill('SIGTERM');
    if (cli) await within(cli.exited, 20_000, 'the CLI to stop');
    await server?.close();
    await provider?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a page of the server goes to the provider and comes back signed in', async () => {
    provider.mode = 'alice';
    const jar = new Jar();
    const visit = await browse(jar, server.url + '/team/');
    assert.equal(visit.status, 200, visit.path.join(' → '));
    assert.equal(visit.url, server.url + '/team/');
    const authorize = visit.path.find((u) => u.startsWith(provider.issuer + '/auth'));
    assert.ok(authorize, `through the provider: ${visit.path.join(' → ')}`);
    assert.equal(new URL(authorize).searchParams.get('client_id'), CLIENT.id);
    assert.deepEqual(await userOf(jar, server.url, 'team'), {
      id: 'alice',
      name: 'Alice',
      email: 'alice@example.com',
      groups: ['analysts'],
    });
    // session_max_age: 600 seconds
    assert.ok(
      jar.lines.some((l) => /^databench-session-[^;]*;.*; Max-Age=600\b/.test(l)),
      jar.lines.join('\n'),
    );
    assert.ok(!logger.lines.some(([level]) => level === 'warn' || level === 'error'));
  });

  test("index.yaml's allow rule holds: bob is not in group:analysts", async () => {
    provider.mode = 'bob';
    const jar = new Jar();
    const visit = await browse(jar, server.url + '/team/');
    assert.equal(visit.status, 403, visit.path.join(' → '));
    assert.equal((await browse(jar, server.url + '/everyone/')).status, 200);
    await assert.rejects(
      TestClient.open(`${server.url.replace('http', 'ws')}/team/ws`, {
        headers: { Cookie: jar.header(new URL(server.url)) },
      }),
      /HTTP 403/,
    );
  });

  test('the CLI started on the folder signs in too (its secrets from the variables the file names)', async () => {
    provider.mode = 'alice';
    const jar = new Jar();
    const visit = await browse(jar, cliUrl + '/team/');
    assert.equal(visit.status, 200, visit.path.join(' → '));
    assert.ok(visit.path.some((u) => u.startsWith(provider.issuer)));
    assert.equal(((await userOf(jar, cliUrl, 'team')) as { id: string }).id, 'alice');
    // one secret from the file's variable: a session of one server opens the other
    const name = jar.names(cliUrl).find((n) => n.startsWith('databench-session-')) ?? '';
    const other = new Jar();
    other.set(server.url, name, jar.get(cliUrl, name) ?? '');
    assert.equal((await browse(other, server.url + '/team/')).status, 200);
  });

  test('a socket without a session is refused (401), a page goes to the login', async () => {
    await assert.rejects(
      TestClient.open(`${server.url.replace('http', 'ws')}/everyone/ws`),
      /HTTP 401/,
    );
    const reply = await fetch(server.url + '/everyone/', {
      redirect: 'manual',
      headers: { Accept: 'text/html' },
    });
    assert.equal(reply.status, 303);
    assert.equal(reply.headers.get('location'), '/_auth/oidc/login?next=%2Feveryone%2F');
  });
});

describe('index.yaml login settings: precedence, errors, secrets written in the file', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const make = async (name: string, yaml: string): Promise<string> => {
    const dir = await folder(name, yaml);
    dirs.push(dir);
    return dir;
  };

  test('a wrong value stops the start with a message naming index.yaml and the key', async () => {
    const cases: Array<[string, RegExp]> = [
      [
        indexYaml('id.example.com'),
        /^index\.yaml: oidc\.issuer must be an http\(s\) URL \(the provider's issuer\), got "id\.example\.com"/,
      ],
      [
        indexYaml('https://id.example.com', '').replace('client_id:', 'client_ide:'),
        /index\.yaml: oidc has an unknown key "client_ide" \(did you mean "client_id"\?\)/,
      ],
      [
        indexYaml('http://id.example.com'),
        /^index\.yaml oidc\.issuer must be an https URL \(plain http only for a provider on this machine\)/,
      ],
      [
        indexYaml('https://id.example.com').replace(
          'session_max_age: 600',
          'session_max_age: soon',
        ),
        /^index\.yaml: oidc\.session_max_age must be a number of seconds of at least 1, got "soon"/,
      ],
    ];
    for (const [i, [yaml, message]] of cases.entries()) {
      const dir = await make(`bad${i}`, yaml);
      await assert.rejects(
        createServer({ port: 0, analyses: dir, env: ENV, logger: createMemoryLogger() }),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, 'INVALID_OPTION');
          assert.match(error.message, message);
          return true;
        },
      );
    }
    // a variable the file names, not set
    const dir = await make('unset', indexYaml('https://id.example.com'));
    await assert.rejects(
      createServer({ port: 0, analyses: dir, env: { TEAM_COOKIE_SECRET: COOKIE_SECRET } }),
      /^DatabenchError: index\.yaml's oidc\.client_secret is the environment variable TEAM_OIDC_CLIENT_SECRET, which is not set/,
    );
  });

  test('the CLI says what is wrong and exits with an error', async () => {
    const dir = await make('cli-bad', indexYaml('not a url'));
    const run = databench(['--port', '0', '--analyses', dir], { env: ENV });
    const code = await within(run.exited, 30_000, 'the CLI to exit');
    assert.notEqual(code, 0);
    assert.match(run.stderr, /index\.yaml: oidc\.issuer must be an http\(s\) URL/);
    assert.doesNotMatch(run.stdout, /serving at/);
  });

  test('flags and the environment win over index.yaml', async () => {
    const provider = await listenProvider();
    // the file's issuer and client id lead nowhere: the login works only if both are overridden
    const dir = await make(
      'precedence',
      indexYaml('https://nowhere.invalid').replace(
        `client_id: ${CLIENT.id}`,
        'client_id: not-this',
      ),
    );
    const server = await createServer({
      port: 0,
      analyses: dir,
      logger: createMemoryLogger(),
      env: { ...ENV, DATABENCH_OIDC_CLIENT_ID: CLIENT.id },
      oidc: { issuer: provider.issuer },
    });
    try {
      provider.start([server.url]);
      provider.mode = 'alice';
      const jar = new Jar();
      const visit = await browse(jar, server.url + '/team/');
      assert.equal(visit.status, 200, visit.path.join(' → '));
      const authorize = visit.path.find((u) => u.startsWith(provider.issuer + '/auth'));
      assert.equal(new URL(authorize ?? 'http://x').searchParams.get('client_id'), CLIENT.id);
    } finally {
      await server.close();
      await provider.close();
    }
  });

  test('a secret written in index.yaml works, with a warning that never shows it', async () => {
    const provider = await listenProvider();
    const dir = await make(
      'literal',
      indexYaml(provider.issuer)
        .replace('{ env: TEAM_OIDC_CLIENT_SECRET }', CLIENT.secret)
        .replace('{ env: TEAM_COOKIE_SECRET }', COOKIE_SECRET),
    );
    const logger = createMemoryLogger();
    const server = await createServer({ port: 0, analyses: dir, logger });
    try {
      provider.start([server.url]);
      provider.mode = 'alice';
      const jar = new Jar();
      assert.equal((await browse(jar, server.url + '/team/')).status, 200);
      const warnings = logger.lines.filter(([level]) => level === 'warn').map(([, l]) => l);
      assert.equal(warnings.filter((l) => /index\.yaml holds the secret/.test(l)).length, 2);
      for (const line of logger.lines) {
        assert.ok(!line[1].includes(COOKIE_SECRET) && !line[1].includes(CLIENT.secret), line[1]);
      }
    } finally {
      await server.close();
      await provider.close();
    }
  });
  test('a change of the login in index.yaml while watching: a warning that it waits for a restart', async () => {
    const dir = await make('watched', indexYaml('https://id.example.com'));
    const logger = createMemoryLogger();
    const reloads = reloadWaiter(20_000);
    const server = await createServer({
      port: 0,
      analyses: dir,
      env: ENV,
      logger,
      watch: true,
      onReload: reloads.onReload,
    });
    const warned = (): string[] =>
      logger.lines
        .filter(([level, line]) => level === 'warn' && /oidc or secret changed/.test(line))
        .map(([, line]) => line);
    try {
      // a change elsewhere in index.yaml: no warning
      let reloaded = reloads.next();
      await writeFile(join(dir, 'index.yaml'), indexYaml('https://id.example.com', 'author: A\n'));
      await reloaded;
      assert.deepEqual(warned(), []);
      reloaded = reloads.next();
      await writeFile(join(dir, 'index.yaml'), indexYaml('https://other.example.com'));
      await reloaded;
      assert.equal(warned().length, 1);
      assert.match(
        warned()[0] ?? '',
        /keeps the settings it started with until the server restarts/,
      );
    } finally {
      await server.close();
    }
  });
});
