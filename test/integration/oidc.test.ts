// Login with OpenID Connect against a real provider (oidc-provider, started
// here): the authorization-code flow with PKCE, the encrypted session cookie
// shared by processes with one secret, logout, a refused login, an expired
// session, a tampered cookie, a callback no login started (login CSRF).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createSealer } from '../../src/server/oidc.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient } from '../helpers.ts';
import {
  browse,
  CLIENT,
  Jar,
  listenProvider,
  type ListeningProvider,
  type Visit,
} from '../openid.ts';

const SECRET = 'a-secret-of-at-least-thirty-two-characters';

describe('login with OpenID Connect against a real provider', () => {
  let provider: ListeningProvider;
  let issuer: string;
  let server: DatabenchServer;
  let twin: DatabenchServer;
  const logger = createMemoryLogger();

  before(async () => {
    // the provider's port first: databench needs the issuer, the provider the redirect URI
    provider = await listenProvider();
    issuer = provider.issuer;
    const options = {
      port: 0,
      analyses: FIXTURES + 'auth_rules',
      logger,
      secret: SECRET,
      oidc: { issuer, clientId: CLIENT.id, clientSecret: CLIENT.secret },
    };
    server = await createServer(options);
    // another process of the same deployment: the same secret
    twin = await createServer({ ...options, logger: createMemoryLogger() });
    provider.start([server.url, twin.url]);
  });
  after(async () => {
    await Promise.all([server?.close(), twin?.close()]);
    await provider?.close();
  });

  const sessionCookie = (jar: Jar, url: string): string | undefined =>
    jar.names(url).find((n) => n.startsWith('databench-session-'));

  test('a page without a session goes to the provider and comes back signed in (code + PKCE)', async () => {
    provider.mode = 'alice';
    const jar = new Jar();
    const visit = await browse(jar, server.url + '/team/');
    assert.equal(visit.status, 200, visit.path.join(' → '));
    assert.equal(visit.url, server.url + '/team/');
    const authorize = visit.path.find((u) => u.startsWith(issuer + '/auth'));
    assert.ok(authorize, `the provider's authorization endpoint: ${visit.path.join(' → ')}`);
    const params = new URL(authorize).searchParams;
    assert.equal(params.get('code_challenge_method'), 'S256');
    assert.ok(params.get('state') && params.get('nonce') && params.get('code_challenge'));
    const name = sessionCookie(jar, server.url);
    assert.ok(name, 'a session cookie');
    // the user reaches the analysis, and allow rules see its groups
    const client = await TestClient.open(`${server.url.replace('http', 'ws')}/team/ws`, {
      headers: { Cookie: jar.header(new URL(server.url)) },
    });
    client.sendJson({ __connect: null, __request_args: '' });
    const frame = await client.waitFor((f) => f.signal === 'user', 'the user frame');
    assert.deepEqual(frame.load, {
      id: 'alice',
      name: 'Alice',
      email: 'alice@example.com',
      groups: ['analysts'],
    });
    client.close();
  });

  test('the session holds in another process with the same secret', async () => {
    provider.mode = 'alice';
    const jar = new Jar();
    await browse(jar, server.url + '/team/');
    const name = sessionCookie(jar, server.url) ?? '';
    const other = new Jar();
    other.set(twin.url, name, jar.get(server.url, name) ?? '');
    const visit = await browse(other, twin.url + '/team/');
    assert.equal(visit.status, 200);
    assert.ok(!visit.path.some((u) => u.startsWith(issuer)), 'no new login');
  });

  test('a socket without a session is refused (401)', async () => {
    await assert.rejects(
      TestClient.open(`${server.url.replace('http', 'ws')}/team/ws`),
      /HTTP 401/,
    );
  });

  test('a refused login shows a 403 page and gives no session', async () => {
    provider.mode = 'refuse';
    const jar = new Jar();
    const visit = await browse(jar, server.url + '/team/');
    assert.equal(visit.status, 403);
    assert.match(visit.body, /access_denied \(not this one\)/);
    assert.equal(sessionCookie(jar, server.url), undefined);
    provider.mode = 'alice';
  });

  test('an expired session and a tampered cookie send the page to the login again', async () => {
    provider.mode = 'bob';
    const jar = new Jar();
    await browse(jar, server.url + '/everyone/');
    const name = sessionCookie(jar, server.url) ?? '';
    const good = jar.get(server.url, name) ?? '';
    const check = async (value: string): Promise<Visit> => {
      const probe = new Jar();
      probe.set(server.url, name, value);
      return fetch(server.url + '/everyone/', {
        redirect: 'manual',
        headers: { Accept: 'text/html', Cookie: `${name}=${value}` },
      }).then(async (r) => ({
        status: r.status,
        url: r.headers.get('location') ?? '',
        body: await r.text(),
        path: [],
      }));
    };
    assert.equal((await check(good)).status, 200);
    // one byte changed anywhere: the cookie does not open
    const bytes = Buffer.from(good, 'base64url');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    const tampered = await check(bytes.toString('base64url'));
    assert.equal(tampered.status, 303);
    assert.match(tampered.url, /^\/_auth\/oidc\/login\?next=%2Feveryone%2F$/);
    // sealed with the server's own key, but expired
    const sealer = createSealer(SECRET);
    const expired = sealer.seal('session', { u: { id: 'bob' }, exp: Date.now() - 1 });
    assert.equal((await check(expired)).status, 303);
    // a login flow's cookie does not pass for a session, nor one sealed with another secret
    const flow = sealer.seal('flow', { u: { id: 'bob' }, exp: Date.now() + 60_000 });
    assert.equal((await check(flow)).status, 303);
    const foreign = createSealer('another-secret-of-thirty-two-characters!').seal('session', {
      u: { id: 'bob' },
      exp: Date.now() + 60_000,
    });
    assert.equal((await check(foreign)).status, 303);
    // a socket likewise
    await assert.rejects(
      TestClient.open(`${server.url.replace('http', 'ws')}/everyone/ws`, {
        headers: { Cookie: `${name}=${expired}` },
      }),
      /HTTP 401/,
    );
  });

  test('a callback this browser did not start is refused (login CSRF)', async () => {
    const reply = await fetch(`${server.url}/_auth/oidc/callback?code=stolen&state=theirs`, {
      redirect: 'manual',
    });
    assert.equal(reply.status, 400);
    assert.equal(reply.headers.getSetCookie().filter((c) => /session/.test(c)).length, 0);
  });

  test('logout (a same-origin POST) ends the session and goes to the provider', async () => {
    provider.mode = 'alice';
    const jar = new Jar();
    await browse(jar, server.url + '/team/');
    const name = sessionCookie(jar, server.url) ?? '';
    assert.ok(jar.get(server.url, name));
    const crossSite = await fetch(server.url + '/_auth/logout', {
      method: 'POST',
      redirect: 'manual',
      headers: { Origin: 'https://evil.example', Cookie: jar.header(new URL(server.url)) },
    });
    assert.equal(crossSite.status, 405);
    const out = await fetch(server.url + '/_auth/logout', {
      method: 'POST',
      redirect: 'manual',
      headers: { Origin: server.url, Cookie: jar.header(new URL(server.url)) },
    });
    // a page that moves on to the provider (a redirect would break the form-action policy)
    assert.equal(out.status, 200);
    const body = await out.text();
    const refresh = /<meta http-equiv="refresh" content="0; url='([^']+)'">/.exec(body);
    assert.ok(refresh?.[1]?.startsWith(issuer), `the provider ends its session: ${body}`);
    assert.equal(out.headers.get('referrer-policy'), 'no-referrer');
    jar.take(new URL(server.url), out.headers.getSetCookie());
    assert.equal(jar.get(server.url, name), undefined, 'the cookie is cleared');
  });
});
