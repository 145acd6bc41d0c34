// A real OpenID provider (the `oidc-provider` package) for the login tests,
// on a port of its own. Its interactions either finish at once as the test
// says (`login`: an account, or `refuse`) or, with `forms`, are HTML forms a
// browser fills: sign-in (account and password), then consent (allow or deny).
// And a cookie jar with a fetch that follows redirects as a browser does.
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

/** The provider's accounts: their claims, and the password of the sign-in form. */
export const ACCOUNTS: Record<string, { password: string; claims: Record<string, unknown> }> = {
  alice: {
    password: 'alice-password',
    claims: { sub: 'alice', email: 'alice@example.com', name: 'Alice', groups: ['analysts'] },
  },
  bob: {
    password: 'bob-password',
    claims: { sub: 'bob', email: 'bob@example.com', name: 'Bob', groups: ['sales'] },
  },
};

/** The client databench is at the provider. */
export const CLIENT = { id: 'databench', secret: 'the-client-secret-at-the-provider' };

/** A provider listening, before it knows its client's redirect URIs. */
export interface ListeningProvider {
  /** The issuer URL (`http://HOST:PORT`). */
  readonly issuer: string;
  /** Start answering, for a client that may come back to these databench servers. */
  start(serverUrls: readonly string[]): void;
  /**
   * What an interaction does: finish at once, signing in this account or
   * refusing (`refuse`); or `forms`: show the HTML forms.
   */
  mode: string;
  close(): Promise<void>;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function formBody(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function html(res: ServerResponse, status: number, title: string, body: string): void {
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
  });
  res.end(page);
}

/**
 * Listen on a free port of `host` (the issuer's name may differ: `issuerHost`,
 * e.g. `localhost` so that the provider is another site than 127.0.0.1).
 */
export async function listenProvider(
  host = '127.0.0.1',
  issuerHost = host,
): Promise<ListeningProvider> {
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end('not started');
  };
  const server: Server = createHttpServer((req, res) => handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const issuer = `http://${issuerHost}:${(server.address() as AddressInfo).port}`;
  const self: ListeningProvider = {
    issuer,
    mode: 'alice',
    start(serverUrls) {
      const provider = new Provider(issuer, {
        clients: [
          {
            client_id: CLIENT.id,
            client_secret: CLIENT.secret,
            redirect_uris: serverUrls.map((u) => `${u}/_auth/oidc/callback`),
            post_logout_redirect_uris: serverUrls.map((u) => `${u}/`),
            grant_types: ['authorization_code'],
            response_types: ['code'],
          },
        ],
        findAccount: (_ctx: unknown, sub: string) => {
          const account = ACCOUNTS[sub];
          return account ? { accountId: sub, claims: () => account.claims } : undefined;
        },
        claims: { openid: ['sub'], email: ['email'], profile: ['name', 'groups'] },
        conformIdTokenClaims: false,
        features: {
          devInteractions: { enabled: false },
          rpInitiatedLogout: {
            enabled: true,
            // the package's page imports web fonts: this one has only the form to confirm
            logoutSource: (ctx: { body: string }, form: string) => {
              ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign out</title></head><body>${form}<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button></body></html>`;
            },
          },
        },
        interactions: { url: (_ctx: unknown, i: { uid: string }) => `/interaction/${i.uid}` },
        pkce: { required: () => true },
        cookies: { keys: ['the-provider-cookie-key'] },
      });
      const callback = provider.callback();
      const finishConsent = async (
        req: IncomingMessage,
        res: ServerResponse,
        accountId: string,
        scope: string,
      ): Promise<void> => {
        const grant = new provider.Grant({ accountId, clientId: CLIENT.id });
        grant.addOIDCScope(scope);
        await provider.interactionFinished(
          req,
          res,
          { consent: { grantId: await grant.save() } },
          { mergeWithLastSubmission: true },
        );
      };
      const interaction = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
        const details = await provider.interactionDetails(req, res);
        const accountId = details.session?.accountId ?? '';
        const scope = String(details.params['scope']);
        if (self.mode !== 'forms') {
          if (self.mode === 'refuse') {
            await provider.interactionFinished(req, res, {
              error: 'access_denied',
              error_description: 'not this one',
            });
          } else if (details.prompt.name === 'login') {
            await provider.interactionFinished(
              req,
              res,
              { login: { accountId: self.mode } },
              { mergeWithLastSubmission: false },
            );
          } else {
            await finishConsent(req, res, accountId, scope);
          }
          return;
        }
        const base = `/interaction/${details.uid}`;
        const action = (req.url ?? '').slice(base.length);
        if (req.method === 'POST' && action === '/login') {
          const form = await formBody(req);
          const login = form.get('login') ?? '';
          if (ACCOUNTS[login]?.password !== form.get('password')) {
            html(
              res,
              401,
              'Sign in at the provider',
              `<p id="error">Wrong account or password.</p>${loginForm(base)}`,
            );
            return;
          }
          await provider.interactionFinished(
            req,
            res,
            { login: { accountId: login } },
            { mergeWithLastSubmission: false },
          );
        } else if (req.method === 'POST' && action === '/consent') {
          const form = await formBody(req);
          if (form.get('decision') === 'allow') {
            await finishConsent(req, res, accountId, scope);
          } else {
            await provider.interactionFinished(req, res, {
              error: 'access_denied',
              error_description: 'the user said no',
            });
          }
        } else if (details.prompt.name === 'login') {
          html(res, 200, 'Sign in at the provider', loginForm(base));
        } else {
          html(
            res,
            200,
            'Allow databench?',
            `<p>databench asks for: ${escapeHtml(scope)}</p><form method="post" action="${base}/consent"><button name="decision" value="allow">Allow</button> <button name="decision" value="deny">Deny</button></form>`,
          );
        }
      };
      handle = (req, res) => {
        if (!req.url?.startsWith('/interaction/')) return callback(req, res);
        interaction(req, res).catch((error: unknown) => {
          res.statusCode = 500;
          res.end(String(error));
        });
      };
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return self;
}

function loginForm(base: string): string {
  return `<form method="post" action="${base}/login"><label>Account <input name="login" autocomplete="username"></label> <label>Password <input name="password" type="password" autocomplete="current-password"></label> <button type="submit">Sign in</button></form>`;
}

/** A browser's cookies, by host:port: what it would send where. */
export class Jar {
  private readonly byHost = new Map<string, Map<string, string>>();

  header(url: URL): string {
    return [...(this.byHost.get(url.host) ?? new Map<string, string>())]
      .map(([k, v]) => `${k}=${v}`)
      .join('; ');
  }

  /** Every Set-Cookie line taken, in order. */
  readonly lines: string[] = [];

  take(url: URL, setCookies: string[]): void {
    this.lines.push(...setCookies);
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

export interface Visit {
  status: number;
  url: string;
  body: string;
  /** Every URL visited on the way, redirects included. */
  path: string[];
}

/** Navigate as a browser does: its cookies, redirects followed (at most 20). */
export async function browse(
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
