// Login with OpenID Connect against a real provider (oidc-provider, started
// here): the authorization-code flow with PKCE, the encrypted session cookie
// shared by processes with one secret, logout, a refused login, an expired
// session, a tampered cookie, a callback no login started (login CSRF).
import assert from 'node:assert/strict';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import Provider from 'oidc-provider';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createSealer } from '../../src/server/oidc.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient } from '../helpers.ts';

const SECRET = 'a-secret-of-at-least-thirty-two-characters';
const CLIENT = { id: 'databench', secret: 'the-client-secret-at-the-provider' };
const ACCOUNTS: Record<string, Record<string, unknown>> = {
  alice: { sub: 'alice', email: 'alice@example.com', name: 'Alice', groups: ['analysts'] },
  bob: { sub: 'bob', email: 'bob@example.com', name: 'Bob', groups: ['sales'] },
};

/** A browser's cookies, by host:port: what it would send where. */
class Jar {
  private readonly byHost = new Map<string, Map<string, string>>();

  header(url: URL): string {
    return [...(this.byHost.get(url.host) ?? new Map<string, string>())]
      .map(([k, v]) => `${k}=${v}`)
      .join('; ');
  }

  take(url: URL, setCookies: string[]): void {
    const jar = this.byHost.get(url.host) ?? new Map<string, string>();
    this.byHost.set(url.host, jar);
    for (const line of setCookies) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/;\s*max-age=0/i.test(line) || /expires=Thu, 01 Jan 1970/i.test(line) || value === '') {
        jar.delete(name);
      } else jar.set(name, value);
    }
  }

  get(url: string, name: string): string | undefined {
    return this.byHost.get(new URL(url).host)?.get(name);
  }

  set(url: string, name: string, value: string): void {
    const host = new URL(url).host;
    const jar = this.byHost.get(host) ?? new Map<string, string>();
    jar.set(name, value);
    this.byHost.set(host, jar);
  }

  names(url: string): string[] {
    return [...(this.byHost.get(new URL(url).host)?.keys() ?? [])];
  }
}

interface Visit {
  status: number;
  url: string;
  body: string;
  /** Every URL visited on the way, redirects included. */
  path: string[];
}

/** Navigate as a browser does: its cookies, redirects followed (at most 20). */
async function browse(
  jar: Jar,
  start: string,
  init: { method?: string; headers?: Record<string, string> } = {},
): Promise<Visit> {
  let url = new URL(start);
  let method = init.method ?? 'GET';
  const path: string[] = [];
  for (let hop = 0; hop < 20; hop++) {
    path.push(url.href);
    const response = await fetch(url, {
      method,
      redirect: 'manual',
      headers: { Accept: 'text/html', ...init.headers, Cookie: jar.header(url) },
      signal: AbortSignal.timeout(10_000),
    });
    jar.take(url, response.headers.getSetCookie());
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      url = new URL(location, url);
      method = 'GET';
      await response.arrayBuffer();
      continue;
    }
    return { status: response.status, url: url.href, body: await response.text(), path };
  }
  throw new Error(`more than 20 redirects from ${start}: ${path.join(' → ')}`);
}

describe('login with OpenID Connect against a real provider', () => {
  let provider: Provider;
  let providerServer: Server;
  let issuer: string;
  let server: DatabenchServer;
  let twin: DatabenchServer;
  const logger = createMemoryLogger();
  /** Who the provider signs in next, or `refuse`. */
  let nextLogin = 'alice';

  before(async () => {
    // the provider's port first: databench needs the issuer, the provider the redirect URI
    let handle: (req: IncomingMessage, res: ServerResponse) => void = () => {};
    providerServer = createHttpServer((req, res) => handle(req, res));
    await new Promise<void>((resolve) => providerServer.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(providerServer.address() as AddressInfo).port}`;
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
    provider = new Provider(issuer, {
      clients: [
        {
          client_id: CLIENT.id,
          client_secret: CLIENT.secret,
          redirect_uris: [server.url + '/_auth/oidc/callback', twin.url + '/_auth/oidc/callback'],
          post_logout_redirect_uris: [server.url + '/'],
          grant_types: ['authorization_code'],
          response_types: ['code'],
        },
      ],
      findAccount: (_ctx: unknown, sub: string) =>
        ACCOUNTS[sub] ? { accountId: sub, claims: () => ACCOUNTS[sub] } : undefined,
      claims: { openid: ['sub'], email: ['email'], profile: ['name', 'groups'] },
      conformIdTokenClaims: false,
      features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
      interactions: { url: (_ctx: unknown, i: { uid: string }) => `/interaction/${i.uid}` },
      pkce: { required: () => true },
      cookies: { keys: ['the-provider-cookie-key'] },
    });
    const callback = provider.callback();
    handle = (req, res) => {
      if (!req.url?.startsWith('/interaction/')) return callback(req, res);
      void (async () => {
        const details = await provider.interactionDetails(req, res);
        if (nextLogin === 'refuse') {
          await provider.interactionFinished(req, res, {
            error: 'access_denied',
            error_description: 'not this one',
          });
        } else if (details.prompt.name === 'login') {
          await provider.interactionFinished(
            req,
            res,
            { login: { accountId: nextLogin } },
            { mergeWithLastSubmission: false },
          );
        } else {
          const grant = new provider.Grant({
            accountId: details.session?.accountId ?? '',
            clientId: CLIENT.id,
          });
          grant.addOIDCScope(String(details.params['scope']));
          await provider.interactionFinished(
            req,
            res,
            { consent: { grantId: await grant.save() } },
            { mergeWithLastSubmission: true },
          );
        }
      })().catch((error: unknown) => {
        res.statusCode = 500;
        res.end(String(error));
      });
    };
  });
  after(async () => {
    await Promise.all([server?.close(), twin?.close()]);
    providerServer?.closeAllConnections();
    await new Promise((resolve) => providerServer?.close(resolve));
  });

  const sessionCookie = (jar: Jar, url: string): string | undefined =>
    jar.names(url).find((n) => n.startsWith('databench-session-'));

  test('a page without a session goes to the provider and comes back signed in (code + PKCE)', async () => {
    nextLogin = 'alice';
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
    nextLogin = 'alice';
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
    nextLogin = 'refuse';
    const jar = new Jar();
    const visit = await browse(jar, server.url + '/team/');
    assert.equal(visit.status, 403);
    assert.match(visit.body, /access_denied \(not this one\)/);
    assert.equal(sessionCookie(jar, server.url), undefined);
    nextLogin = 'alice';
  });

  test('an expired session and a tampered cookie send the page to the login again', async () => {
    nextLogin = 'bob';
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
    nextLogin = 'alice';
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
    assert.equal(out.status, 303);
    assert.ok(
      String(out.headers.get('location')).startsWith(issuer),
      'the provider ends its session',
    );
    jar.take(new URL(server.url), out.headers.getSetCookie());
    assert.equal(jar.get(server.url, name), undefined, 'the cookie is cleared');
  });
});
