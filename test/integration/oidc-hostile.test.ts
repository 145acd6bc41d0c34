// The hostile review's questions for the OpenID login, with real sockets and
// a real provider: a cookie from another site (its attributes, the socket's
// Origin check), the code and state in a Referer, a login CSRF (another
// login's callback; a flow cookie planted by a sibling site), and an open
// redirect through the login's `next`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient } from '../helpers.ts';
import { browse, CLIENT, Jar, listenProvider, type ListeningProvider } from '../openid.ts';

const SECRET = 'a-secret-of-at-least-thirty-two-characters';
/** The public URL of the server behind an HTTPS proxy (requests go to its own port). */
const PUBLIC = 'https://databench.example';

interface Step {
  status: number;
  location: string | undefined;
  headers: Headers;
  body: string;
}

/** One request as a browser sends it (its cookies), without following a redirect. */
async function step(jar: Jar, url: string, init: { method?: string } = {}): Promise<Step> {
  const target = new URL(url);
  const response = await fetch(target, {
    method: init.method ?? 'GET',
    redirect: 'manual',
    headers: { Accept: 'text/html', Cookie: jar.header(target) },
    signal: AbortSignal.timeout(10_000),
  });
  jar.take(target, response.headers.getSetCookie());
  const location = response.headers.get('location');
  return {
    status: response.status,
    location: location === null ? undefined : new URL(location, target).href,
    headers: response.headers,
    body: await response.text(),
  };
}

/**
 * Follow a login from `start` to the callback the provider sends the browser
 * to, without taking it: its URL (on `server`, where `publicUrl` is mapped to).
 */
async function untilCallback(
  jar: Jar,
  start: string,
  server: string,
  publicUrl = server,
): Promise<string> {
  let url = start;
  for (let hop = 0; hop < 20; hop++) {
    const answer = await step(jar, url);
    assert.ok(answer.location, `a redirect from ${url}: ${answer.status} ${answer.body}`);
    url = answer.location.replace(publicUrl, server);
    if (url.startsWith(`${server}/_auth/oidc/callback?`)) return url;
  }
  throw new Error(`no callback after 20 redirects from ${start}`);
}

const sessionOf = (jar: Jar, url: string): string | undefined =>
  jar.names(url).find((n) => /databench-session-/.test(n));

describe('the hostile review of the OpenID login', () => {
  let provider: ListeningProvider;
  let server: DatabenchServer;
  let behindProxy: DatabenchServer;
  const logger = createMemoryLogger();

  before(async () => {
    provider = await listenProvider();
    const options = {
      port: 0,
      analyses: FIXTURES + 'auth_rules',
      secret: SECRET,
      oidc: { issuer: provider.issuer, clientId: CLIENT.id, clientSecret: CLIENT.secret },
    };
    server = await createServer({ ...options, logger });
    behindProxy = await createServer({
      ...options,
      logger: createMemoryLogger(),
      oidc: { ...options.oidc, publicUrl: PUBLIC },
    });
    provider.start([server.url, PUBLIC]);
    provider.mode = 'alice';
  });
  after(async () => {
    await Promise.all([server?.close(), behindProxy?.close()]);
    await provider?.close();
  });

  test('a cookie from another site: HttpOnly and SameSite=Lax, and its socket is refused by Origin', async () => {
    const jar = new Jar();
    assert.equal((await browse(jar, server.url + '/team/')).status, 200);
    const line = jar.lines.find((l) => l.startsWith('databench-session-')) ?? '';
    assert.match(line, /; Path=\/; HttpOnly; SameSite=Lax; Max-Age=28800$/);
    const login = jar.lines.find((l) => l.startsWith('databench-login-')) ?? '';
    assert.match(login, /; HttpOnly; SameSite=Lax; Max-Age=600$/);
    const ws = `${server.url.replace('http', 'ws')}/team/ws`;
    const cookie = jar.header(new URL(server.url));
    // a page of another site whose browser sent the cookie anyway: the Origin check refuses it
    await assert.rejects(
      TestClient.open(ws, { headers: { Cookie: cookie, Origin: 'https://evil.example' } }),
      /HTTP 403/,
    );
    // the same cookie from the server's own page opens it
    const own = await TestClient.open(ws, { headers: { Cookie: cookie, Origin: server.url } });
    own.close();
  });

  test('no Referer carries the code or the state: every step of the login says no-referrer', async () => {
    const jar = new Jar();
    const start = await step(jar, server.url + '/team/');
    assert.equal(start.status, 303);
    const login = await step(jar, start.location ?? '');
    assert.equal(login.headers.get('referrer-policy'), 'no-referrer');
    const callback = await untilCallback(jar, login.location ?? '', server.url);
    const back = await step(jar, callback);
    // the callback's URL holds the code and state: the page it leads to has neither
    assert.equal(back.status, 303);
    assert.equal(back.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(back.location, server.url + '/team/');
    assert.equal(back.headers.get('cache-control'), 'no-store');
    // a refused or failed callback's page (its URL too has a state) sends none either
    const failed = await step(new Jar(), `${server.url}/_auth/oidc/callback?code=x&state=y`);
    assert.equal(failed.status, 400);
    assert.equal(failed.headers.get('referrer-policy'), 'no-referrer');
    provider.mode = 'refuse';
    try {
      const refusing = new Jar();
      const denied = await step(
        refusing,
        await untilCallback(refusing, login.location ?? '', server.url),
      );
      assert.equal(denied.status, 403);
      assert.equal(denied.headers.get('referrer-policy'), 'no-referrer');
    } finally {
      provider.mode = 'alice';
    }
  });

  test("login CSRF: another login's callback is refused in a browser that started its own", async () => {
    // the attacker runs a login to its callback, and does not take it
    const attacker = new Jar();
    const theirs = await untilCallback(attacker, server.url + '/_auth/oidc/login', server.url);
    // the victim's browser, which started a login of its own, is sent to it
    const victim = new Jar();
    await step(victim, server.url + '/_auth/oidc/login');
    assert.ok(victim.names(server.url).some((n) => n.startsWith('databench-login-')));
    const refused = await step(victim, theirs);
    assert.equal(refused.status, 400);
    assert.equal(sessionOf(victim, server.url), undefined, 'the victim is not signed in');
    // the code was good (the refusal was the binding to the browser): its own browser takes it
    const taken = await step(attacker, theirs);
    assert.equal(taken.status, 303);
    assert.ok(sessionOf(attacker, server.url));
    // and only once: the flow cookie is gone with it
    assert.equal((await step(attacker, theirs)).status, 400);
  });

  test('over HTTPS the cookies are __Host- and Secure; a flow or session cookie planted without the prefix counts for nothing', async () => {
    const jar = new Jar();
    const callback = await untilCallback(
      jar,
      behindProxy.url + '/_auth/oidc/login?next=%2Fteam%2F',
      behindProxy.url,
      PUBLIC,
    );
    const flow = jar.lines.find((l) => l.startsWith('__Host-databench-login-')) ?? '';
    assert.match(flow, /; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600; Secure$/);
    assert.doesNotMatch(flow, /Domain=/i);
    // a sibling subdomain cannot set a __Host- cookie: what it can set is the bare name
    const [name = '', value = ''] = flow.split(';')[0]?.split('=') ?? [];
    const victim = new Jar();
    victim.set(behindProxy.url, name.replace('__Host-', ''), value);
    assert.equal((await step(victim, callback)).status, 400);
    assert.equal(sessionOf(victim, behindProxy.url), undefined);
    // the browser that started it signs in, with a __Host- session
    const done = await step(jar, callback);
    assert.equal(done.location, behindProxy.url + '/team/');
    const session = jar.lines.find((l) => l.startsWith('__Host-databench-session-')) ?? '';
    assert.match(session, /; Path=\/; HttpOnly; SameSite=Lax; Max-Age=28800; Secure$/);
    const page = await step(jar, behindProxy.url + '/team/');
    assert.equal(page.status, 200);
    // the same session under the bare name is no session
    const [sName = '', sValue = ''] = session.split(';')[0]?.split('=') ?? [];
    const planted = new Jar();
    planted.set(behindProxy.url, sName.replace('__Host-', ''), sValue);
    assert.equal((await step(planted, behindProxy.url + '/team/')).status, 303);
  });

  test('the login never sends the browser to another site after signing in (next)', async () => {
    const origin = new URL(server.url).origin;
    const vectors = [
      '//evil.example/',
      'https://evil.example/',
      '/\\evil.example',
      '/\t/evil.example',
      '/\n/evil.example',
      '/%2F/evil.example',
      // dot segments that collapse into a leading //
      '/.//evil.example',
      '/%2e%2e//evil.example/x',
      '/a/..//evil.example',
      'javascript:alert(1)',
    ];
    for (const next of vectors) {
      const jar = new Jar();
      const callback = await untilCallback(
        jar,
        `${server.url}/_auth/oidc/login?next=${encodeURIComponent(next)}`,
        server.url,
      );
      const back = await step(jar, callback);
      assert.equal(back.status, 303, JSON.stringify(next));
      assert.equal(new URL(back.location ?? '').origin, origin, JSON.stringify(next));
    }
    // a local path comes back as it was asked for
    const jar = new Jar();
    const callback = await untilCallback(
      jar,
      `${server.url}/_auth/oidc/login?next=${encodeURIComponent('/team/?x=1#top')}`,
      server.url,
    );
    assert.equal((await step(jar, callback)).location, `${server.url}/team/?x=1#top`);
  });
});
