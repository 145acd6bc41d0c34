// Who may reach a server: the token a server off loopback requires, its
// cookie and redirect, the login form, refused sockets, and what never
// reaches the log. Real server on a public bind, real HTTP and WebSockets.
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import {
  databench,
  FIXTURES,
  printed,
  TestClient,
  within,
  http,
  type HttpReply,
} from '../helpers.ts';

const ANALYSES = FIXTURES + 'auth';

/** This machine's first non-loopback IPv4 address, else undefined (then 0.0.0.0 is bound). */
function publicAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/** The `name=value` of a Set-Cookie header (what a browser sends back). */
function cookiePair(reply: HttpReply): string {
  const header = reply.headers['set-cookie'];
  const first = Array.isArray(header) ? header[0] : header;
  assert.ok(first, `a Set-Cookie header in ${JSON.stringify(reply.headers)}`);
  return first.split(';')[0] ?? '';
}

/** The status a WebSocket upgrade got: 101 when accepted, else the refusal's. */
async function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  try {
    const client = await TestClient.open(url, { headers });
    client.close();
    return 101;
  } catch (error) {
    const m = /HTTP (\d+)/.exec(String(error));
    if (!m) throw error;
    return Number(m[1]);
  }
}

describe('a server bound off loopback requires a token', () => {
  const logger = createMemoryLogger();
  const address = publicAddress() ?? '0.0.0.0';
  let server: DatabenchServer;
  let base: string;
  let token: string;
  before(async () => {
    server = await createServer({ host: address, port: 0, analyses: ANALYSES, logger });
    base = server.url.replace('0.0.0.0', '127.0.0.1');
    token = server.token ?? '';
  });
  after(() => server?.close());

  test('a random token is made at start, and is in no log line', () => {
    assert.match(token, /^[A-Za-z0-9_-]{32}$/);
    assert.ok(logger.lines.some(([, line]) => /pages need a token/.test(line)));
  });

  test('pages, static files, routes and the index without it get 401 and the login page', async () => {
    for (const path of ['/', '/whoami/', '/whoami/static/note.txt', '/whoami/hello']) {
      const reply = await http(base, path);
      assert.equal(reply.status, 401, path);
      assert.match(reply.body, /<form method="post" action="\/_auth\/login">/, path);
      assert.doesNotMatch(reply.body, /<script/i, `${path}: no script on the login page`);
      assert.doesNotMatch(reply.body, /a static file|hello route/, path);
    }
  });

  test("databench's own client files stay public (the login page may use them)", async () => {
    assert.equal((await http(base, '/_static/databench.js')).status, 200);
  });

  test('?token= sets an HttpOnly, SameSite=Lax cookie and redirects to the URL without it', async () => {
    const reply = await http(base, `/whoami/?a=1&token=${token}&b=2`);
    assert.equal(reply.status, 303);
    assert.equal(reply.headers['location'], '/whoami/?a=1&b=2');
    assert.equal(reply.headers['referrer-policy'], 'no-referrer');
    const setCookie = String(reply.headers['set-cookie']);
    assert.match(setCookie, /; HttpOnly/);
    assert.match(setCookie, /; SameSite=Lax/);
    assert.match(setCookie, /; Path=\//);
    // the cookie holds a MAC of the token, not the token
    assert.ok(!setCookie.includes(token));
    const cookie = cookiePair(reply);
    for (const path of ['/', '/whoami/', '/whoami/static/note.txt', '/whoami/hello']) {
      assert.equal((await http(base, path, { headers: { Cookie: cookie } })).status, 200, path);
    }
    assert.match(
      (await http(base, '/whoami/static/note.txt', { headers: { Cookie: cookie } })).body,
      /a static file/,
    );
  });

  test('a wrong token or cookie is refused, and the token is compared whole', async () => {
    assert.equal((await http(base, '/?token=wrong')).status, 401);
    assert.equal((await http(base, `/?token=${token.slice(0, -1)}`)).status, 401);
    assert.equal((await http(base, `/?token=${token}x`)).status, 401);
    const good = cookiePair(await http(base, `/?token=${token}`));
    const [name = '', value = ''] = good.split('=');
    // a cookie that is the token itself is not the cookie
    assert.equal((await http(base, '/', { headers: { Cookie: `${name}=${token}` } })).status, 401);
    // its last character changed (to another one: a value may end in A already)
    const changed = value.slice(0, -1) + (value.endsWith('A') ? 'B' : 'A');
    assert.equal(
      (await http(base, '/', { headers: { Cookie: `${name}=${changed}` } })).status,
      401,
    );
  });

  test('the 401 page of a wrong ?token= sends no Referer to other sites', async () => {
    const reply = await http(base, '/whoami/?token=not-the-token');
    assert.equal(reply.status, 401);
    assert.equal(reply.headers['referrer-policy'], 'same-origin');
    // the form goes back to the page without the (wrong) token, escaped
    assert.match(reply.body, /name="next" value="\/whoami\/"/);
  });

  test('a script may send Authorization: Bearer instead', async () => {
    const headers = { Authorization: `Bearer ${token}` };
    assert.equal((await http(base, '/whoami/', { headers })).status, 200);
    assert.equal(
      (await http(base, '/whoami/', { headers: { Authorization: 'Bearer nope' } })).status,
      401,
    );
  });

  test('a WebSocket without the token is refused (401) before any analysis code runs', async () => {
    const ws = `${base.replace('http', 'ws')}/whoami/ws`;
    const before = server.sessions.size;
    assert.equal(await upgradeStatus(ws), 401);
    assert.equal(await upgradeStatus(ws, { Cookie: 'databench-token-1=x' }), 401);
    assert.equal(server.sessions.size, before);
    const cookie = cookiePair(await http(base, `/?token=${token}`));
    const client = await TestClient.open(ws, { headers: { Cookie: cookie } });
    client.sendJson({ __connect: null, __request_args: '' });
    // nobody signed in: the token alone says nothing of who the page is
    const user = await client.waitFor((f) => f.signal === 'user', 'the user frame');
    assert.equal(user.load, null);
    client.close();
  });

  test('the login form signs in with a same-origin post and refuses a cross-site one (login CSRF)', async () => {
    const body = `token=${encodeURIComponent(token)}&next=${encodeURIComponent('/whoami/')}`;
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const host = new URL(base).host;
    const ok = await http(base, '/_auth/login', {
      method: 'POST',
      headers: { ...form, Origin: `http://${host}`, Host: host },
      body,
    });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers['location'], '/whoami/');
    assert.ok(ok.headers['set-cookie']);
    const cross = await http(base, '/_auth/login', {
      method: 'POST',
      headers: { ...form, Origin: 'https://evil.example' },
      body,
    });
    assert.equal(cross.status, 403);
    assert.equal(cross.headers['set-cookie'], undefined);
    const fetchSite = await http(base, '/_auth/login', {
      method: 'POST',
      headers: { ...form, 'Sec-Fetch-Site': 'cross-site' },
      body,
    });
    assert.equal(fetchSite.status, 403);
    const wrong = await http(base, '/_auth/login', {
      method: 'POST',
      headers: form,
      body: 'token=nope&next=/whoami/',
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers['set-cookie'], undefined);
  });

  test('after signing in, the redirect never leaves this server', async () => {
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    // as a browser reads a Location: tabs and newlines dropped, \\ taken for /
    const vectors = ['//evil.example/', 'https://evil.example/', '/\\evil.example'];
    vectors.push('/\t/evil.example', '/\n/evil.example', '/\r\n/evil.example', '/ /evil.example');
    // dot segments that collapse into a leading //
    vectors.push('/.//evil.example', '/%2e%2e//evil.example/x', '/a/..//evil.example');
    for (const next of vectors) {
      const reply = await http(base, '/_auth/login', {
        method: 'POST',
        headers: form,
        body: `token=${encodeURIComponent(token)}&next=${encodeURIComponent(next)}`,
      });
      assert.equal(reply.status, 303);
      const location = String(reply.headers['location']);
      assert.equal(new URL(location, base).origin, new URL(base).origin, JSON.stringify(next));
    }
    // a local path stays as the browser would ask for it, without a token
    const local = await http(base, '/_auth/login', {
      method: 'POST',
      headers: form,
      body: `token=${encodeURIComponent(token)}&next=${encodeURIComponent('/whoami/?a=1&token=x')}`,
    });
    assert.equal(local.headers['location'], '/whoami/?a=1');
  });

  test('a cookie from another site does not open a socket (SameSite aside, the Origin check)', async () => {
    const cookie = cookiePair(await http(base, `/?token=${token}`));
    const ws = `${base.replace('http', 'ws')}/whoami/ws`;
    assert.equal(await upgradeStatus(ws, { Cookie: cookie, Origin: 'https://evil.example' }), 403);
  });

  test('the token is in no log line, refused requests included', async () => {
    await http(base, `/whoami/ws?token=${token}x`, { headers: { Upgrade: 'websocket' } });
    await upgradeStatus(`${base.replace('http', 'ws')}/whoami/ws?token=${token}`);
    const text = logger.lines.map(([, line]) => line).join('\n');
    assert.ok(logger.lines.some(([, line]) => /refused a wrong token/.test(line)));
    assert.ok(!text.includes(token), 'the token leaked into the log');
  });
});

describe('token settings', () => {
  test('a loopback bind needs no token; one given is required there too', async () => {
    const open = await createServer({ port: 0, analyses: ANALYSES, logger: createMemoryLogger() });
    try {
      assert.equal(open.token, undefined);
      assert.equal((await http(open.url, '/whoami/')).status, 200);
    } finally {
      await open.close();
    }
    const given = 'a-token-given-by-its-user';
    const closed = await createServer({
      port: 0,
      analyses: ANALYSES,
      logger: createMemoryLogger(),
      env: { DATABENCH_TOKEN: given },
    });
    try {
      assert.equal(closed.token, given);
      assert.equal((await http(closed.url, '/whoami/')).status, 401);
      assert.equal((await http(closed.url, `/whoami/?token=${given}`)).status, 303);
    } finally {
      await closed.close();
    }
  });

  test('token: false (--no-auth) opens a public bind, with a warning', async () => {
    const logger = createMemoryLogger();
    const server = await createServer({
      host: '0.0.0.0',
      port: 0,
      analyses: ANALYSES,
      logger,
      token: false,
    });
    try {
      assert.equal(server.token, undefined);
      const base = server.url.replace('0.0.0.0', '127.0.0.1');
      assert.equal((await http(base, '/whoami/')).status, 200);
      assert.ok(
        logger.lines.some(
          ([level, line]) => level === 'warn' && /authentication is off/.test(line),
        ),
      );
    } finally {
      await server.close();
    }
  });

  test('a short token is refused, without showing it', async () => {
    await assert.rejects(
      createServer({ port: 0, analyses: ANALYSES, token: 'short', logger: createMemoryLogger() }),
      (error: Error) =>
        /16 to 512 printable characters/.test(error.message) && !/short/.test(error.message),
    );
  });
});

describe('the CLI on a public bind', () => {
  test('prints the URL with the generated token on stdout, and logs neither', async () => {
    const run = databench([
      '--host',
      '0.0.0.0',
      '--port',
      '0',
      '--analyses',
      ANALYSES,
      '--no-watch',
    ]);
    try {
      const [, url = '', token = ''] = await printed(
        run,
        'stdout',
        /serving at (http:\/\/\S+)\/\?token=([A-Za-z0-9_-]+)/,
      );
      const base = url.replace('0.0.0.0', '127.0.0.1');
      assert.equal((await http(base, '/')).status, 401);
      assert.equal((await http(base, `/?token=${token}`)).status, 303);
      assert.ok(!run.stderr.includes(token), 'the token is in the log (stderr)');
    } finally {
      run.child.kill('SIGTERM');
      await within(run.exited, 10_000, 'the CLI to exit');
    }
  });

  test('--no-auth serves a public bind without a token, and says so', async () => {
    const run = databench([
      '--host',
      '0.0.0.0',
      '--port',
      '0',
      '--analyses',
      ANALYSES,
      '--no-watch',
      '--no-auth',
    ]);
    try {
      const [, url = ''] = await printed(run, 'stdout', /serving at (http:\/\/\S+)/);
      assert.doesNotMatch(url, /token/);
      assert.equal((await http(url.replace('0.0.0.0', '127.0.0.1'), '/')).status, 200);
      await printed(run, 'stderr', /authentication is off/);
    } finally {
      run.child.kill('SIGTERM');
      await within(run.exited, 10_000, 'the CLI to exit');
    }
  });
});

describe('createServer({ authenticate }): who a request is, for pages and sockets', () => {
  const logger = createMemoryLogger();
  let server: DatabenchServer;
  let base: string;
  /** The proxy's header: `id;email;group,group` (a test stand-in for a real login). */
  const who = (header: string | undefined) => {
    if (header === undefined) return null;
    if (header === 'malformed') return { name: 'no id' } as never;
    const [id = '', email, groups] = header.split(';');
    return {
      id,
      ...(email ? { email } : {}),
      ...(groups ? { groups: groups.split(',') } : {}),
      // more than a user: it must not reach the analysis
      secret: 'the session of the proxy',
    };
  };
  before(async () => {
    server = await createServer({
      // off loopback: a login is the authentication, no token is made
      host: publicAddress() ?? '0.0.0.0',
      port: 0,
      analyses: ANALYSES,
      logger,
      authenticate: async (req) => {
        await new Promise((resolve) => setImmediate(resolve));
        const header = req.headers['x-user'];
        return who(typeof header === 'string' ? header : undefined);
      },
    });
    base = server.url.replace('0.0.0.0', '127.0.0.1');
  });
  after(() => server?.close());

  test('with a login, no token is made off loopback', () => {
    assert.equal(server.token, undefined);
  });

  test('a request the hook does not know gets 401; one it knows gets the page', async () => {
    const refused = await http(base, '/whoami/');
    assert.equal(refused.status, 401);
    assert.match(refused.body, /Not signed in/);
    assert.equal((await http(base, '/whoami/static/note.txt')).status, 401);
    const ok = await http(base, '/whoami/', { headers: { 'X-User': 'alice' } });
    assert.equal(ok.status, 200);
  });

  for (const name of ['whoami', 'workerwho', 'pywho']) {
    test(`${name}: the user reaches the analysis (this.user / self.user), and only its fields`, async () => {
      const ws = `${base.replace('http', 'ws')}/${name}/ws`;
      assert.equal(await upgradeStatus(ws), 401);
      const client = await TestClient.open(ws, {
        headers: { 'X-User': 'alice;alice@example.com;analysts,admins' },
      });
      try {
        client.sendJson({ __connect: null, __request_args: '' });
        const frame = await client.waitFor((f) => f.signal === 'user', 'the user frame', 20_000);
        assert.deepEqual(frame.load, {
          id: 'alice',
          email: 'alice@example.com',
          groups: ['analysts', 'admins'],
        });
        client.send('ping');
        assert.equal((await client.next('pong', 20_000)).load, 'alice');
      } finally {
        client.close();
      }
    });
  }

  test('a hook that returns no id is a 500 and a log line naming what it must return', async () => {
    const reply = await http(base, '/whoami/', { headers: { 'X-User': 'malformed' } });
    assert.equal(reply.status, 500);
    assert.ok(
      logger.lines.some(([level, line]) => level === 'error' && /non-empty string id/.test(line)),
    );
    const ws = `${base.replace('http', 'ws')}/whoami/ws`;
    assert.equal(await upgradeStatus(ws, { 'X-User': 'malformed' }), 500);
  });

  test('a user id longer than 256 bytes is a 500 and a log line naming the bound; 256 pass', async () => {
    // it names the user's stores: a longer one could outgrow Redis's takeover messages
    const longest = await http(base, '/whoami/', { headers: { 'X-User': 'a'.repeat(256) } });
    assert.equal(longest.status, 200);
    const reply = await http(base, '/whoami/', { headers: { 'X-User': 'a'.repeat(257) } });
    assert.equal(reply.status, 500);
    assert.ok(
      logger.lines.some(
        ([level, line]) =>
          level === 'error' && /id is at most 256 bytes of UTF-8 \(this one has 257\)/.test(line),
      ),
    );
  });
});

describe('without a login, this.user and self.user are empty', () => {
  test('on a loopback server the analyses see no user', async () => {
    const server = await createServer({
      port: 0,
      analyses: ANALYSES,
      logger: createMemoryLogger(),
    });
    try {
      for (const name of ['whoami', 'pywho']) {
        const { client } = await TestClient.connect(
          `${server.url.replace('http', 'ws')}/${name}/ws`,
        );
        const frame = await client.waitFor((f) => f.signal === 'user', 'the user frame', 20_000);
        assert.equal(frame.load, null, name);
        client.close();
      }
    } finally {
      await server.close();
    }
  });
});

describe('who may open what: allow rules of index.yaml and authorize', () => {
  const RULES = FIXTURES + 'auth_rules';
  const logger = createMemoryLogger();
  let server: DatabenchServer;
  let ws: (name: string) => string;
  const authorized: Array<[string | undefined, string]> = [];
  /** The users of these tests, by the header a proxy would set. */
  const USERS: Record<string, { id: string; email?: string; groups?: string[] }> = {
    alice: { id: 'alice', email: 'Alice@Example.com', groups: [] },
    ann: { id: 'ann', email: 'ann@example.com', groups: ['analysts'] },
    bob: { id: 'bob', email: 'bob@example.com', groups: ['sales'] },
    mallory: { id: 'mallory', email: 'mallory@example.com', groups: ['analysts'] },
  };
  const as = (name: string) => ({ 'X-User': name });
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: RULES,
      logger,
      authenticate: (req) => USERS[String(req.headers['x-user'])] ?? null,
      // in code: mallory is refused everywhere, whatever the rules say
      authorize: async (user, analysis) => {
        authorized.push([user?.id, analysis.name]);
        return user?.id !== 'mallory';
      },
    });
    ws = (name) => `${server.url.replace('http', 'ws')}/${name}/ws`;
  });
  after(() => server?.close());

  test('the index lists only what the user may open', async () => {
    const names = (body: string) =>
      ['team', 'alice_only', 'everyone', 'pyteam'].filter((n) => body.includes(`href="/${n}/"`));
    assert.deepEqual(names((await http(server.url, '/', { headers: as('ann') })).body), [
      'team',
      'everyone',
      'pyteam',
    ]);
    assert.deepEqual(names((await http(server.url, '/', { headers: as('alice') })).body), [
      'alice_only',
      'everyone',
    ]);
    assert.deepEqual(names((await http(server.url, '/', { headers: as('bob') })).body), [
      'everyone',
    ]);
    assert.deepEqual(names((await http(server.url, '/', { headers: as('mallory') })).body), []);
  });

  test("a refused user gets 403 for the analysis's page, static files and routes", async () => {
    for (const path of ['/team/', '/team/static/note.txt', '/team/hello', '/team/index.html']) {
      const refused = await http(server.url, path, { headers: as('bob') });
      assert.equal(refused.status, 403, path);
      assert.match(refused.body, /You may not open analysis &quot;team&quot;|You may not open/);
      assert.doesNotMatch(refused.body, /a static file of team|team route/);
      const allowed = await http(server.url, path, { headers: as('ann') });
      assert.equal(allowed.status, 200, path);
    }
    assert.equal(
      (await http(server.url, '/team/hello', { headers: as('ann') })).body,
      'team route',
    );
  });

  test('an email rule matches in any case; group: and * rules match as written', async () => {
    assert.equal((await http(server.url, '/alice_only/', { headers: as('alice') })).status, 200);
    assert.equal((await http(server.url, '/alice_only/', { headers: as('ann') })).status, 403);
    assert.equal((await http(server.url, '/everyone/', { headers: as('bob') })).status, 200);
  });

  test('authorize in code refuses after the rules let through', async () => {
    assert.equal((await http(server.url, '/team/', { headers: as('mallory') })).status, 403);
    assert.ok(authorized.some(([user, name]) => user === 'mallory' && name === 'team'));
  });

  test('a refused WebSocket gets 403 before any analysis code runs', async () => {
    const counter = globalThis as { aliceOnlyConstructed?: number };
    const constructed = counter.aliceOnlyConstructed ?? 0;
    const sessions = server.sessions.size;
    assert.equal(await upgradeStatus(ws('alice_only'), as('ann')), 403);
    assert.equal(await upgradeStatus(ws('alice_only'), as('mallory')), 403);
    assert.equal(await upgradeStatus(ws('pyteam'), as('bob')), 403);
    assert.equal(await upgradeStatus(ws('alice_only')), 401);
    assert.equal(server.sessions.size, sessions);
    assert.equal(counter.aliceOnlyConstructed ?? 0, constructed, 'no instance was made');
    // the one allowed gets in, and is who it says
    const client = await TestClient.open(ws('alice_only'), { headers: as('alice') });
    client.sendJson({ __connect: null, __request_args: '' });
    const frame = await client.waitFor((f) => f.signal === 'user', 'the user frame');
    assert.equal((frame.load as { id: string }).id, 'alice');
    assert.equal(counter.aliceOnlyConstructed, constructed + 1);
    client.close();
  });

  test('in Python too: the allowed user is self.user', async () => {
    const client = await TestClient.open(ws('pyteam'), { headers: as('ann') });
    try {
      client.sendJson({ __connect: null, __request_args: '' });
      const frame = await client.waitFor((f) => f.signal === 'user', 'the user frame', 20_000);
      assert.deepEqual(frame.load, USERS['ann']);
    } finally {
      client.close();
    }
  });
});

describe('allow rules without a login', () => {
  test('fail closed: the analyses with a rule are refused to everyone, with a warning at start', async () => {
    const logger = createMemoryLogger();
    const server = await createServer({ port: 0, analyses: FIXTURES + 'auth_rules', logger });
    try {
      assert.ok(
        logger.lines.some(
          ([level, line]) => level === 'warn' && /allow rules .* no login .* nobody/.test(line),
        ),
      );
      const page = await http(server.url, '/team/');
      assert.equal(page.status, 403);
      assert.match(page.body, /signed-in users only/);
      assert.doesNotMatch((await http(server.url, '/')).body, /href="\/team\/"/);
      assert.equal(
        await upgradeStatus(`${server.url.replace('http', 'ws')}/everyone/ws`),
        403,
        '* means anyone signed in, and nobody is',
      );
    } finally {
      await server.close();
    }
  });
});

describe('two servers that share a token share its cookie', () => {
  test('a cookie from one process behind a proxy opens the other (cookies ignore ports)', async () => {
    const token = 'one-token-for-every-process';
    const options = { port: 0, analyses: ANALYSES, token, logger: createMemoryLogger() };
    const [a, b, other] = await Promise.all([
      createServer(options),
      createServer(options),
      createServer({ ...options, token: 'the-token-of-another-server' }),
    ]);
    try {
      const cookie = cookiePair(await http(a.url, `/?token=${token}`));
      assert.equal((await http(b.url, '/whoami/', { headers: { Cookie: cookie } })).status, 200);
      const otherCookie = cookiePair(await http(other.url, '/?token=the-token-of-another-server'));
      assert.notEqual(otherCookie.split('=')[0], cookie.split('=')[0], 'their own cookie names');
      assert.equal((await http(other.url, '/', { headers: { Cookie: cookie } })).status, 401);
    } finally {
      await Promise.all([a.close(), b.close(), other.close()]);
    }
  });
});
