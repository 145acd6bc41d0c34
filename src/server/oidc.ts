/**
 * Login with OpenID Connect: the authorization-code flow with PKCE through
 * `openid-client` (an optional dependency, imported at the first login),
 * and the session in a cookie encrypted and authenticated with AES-256-GCM
 * under a key derived from the server's secret. Every process given the same
 * secret reads the same cookie, so a login holds across processes and
 * restarts. Paths: `/_auth/oidc/login`, `/_auth/oidc/callback`, `/_auth/logout`.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { MAX_USER_ID_BYTES, type AuthUser } from '../analysis/user.js';
import { DatabenchError } from '../protocol/errors.js';
import type { Logger } from '../util/logger.js';
import { importOptional } from '../util/optional.js';
import { isLoopbackAddress, isSameSiteRequest, safeNext } from './net.js';

/** Settings of the OpenID Connect login (`createServer({ oidc })`, `--auth oidc`). */
export interface OidcOptions {
  /**
   * The provider's issuer URL (its discovery document is at `/.well-known/openid-configuration`).
   * @default the environment's `DATABENCH_OIDC_ISSUER`, else index.yaml's `oidc.issuer` (required one way or another)
   */
  issuer?: string | undefined;
  /**
   * This server's client id at the provider.
   * @default the environment's `DATABENCH_OIDC_CLIENT_ID`, else index.yaml's `oidc.client_id` (required one way or another)
   */
  clientId?: string | undefined;
  /**
   * The client secret; undefined: a public client (PKCE alone).
   * @default the environment's `DATABENCH_OIDC_CLIENT_SECRET`, else index.yaml's `oidc.client_secret`, else none
   */
  clientSecret?: string | undefined;
  /**
   * The URL browsers reach this server at (behind a proxy, its public URL);
   * the provider must accept `<publicUrl>/_auth/oidc/callback` as a redirect URI.
   * @default index.yaml's `oidc.public_url`, else the server's own URL
   */
  publicUrl?: string | undefined;
  /**
   * The scopes asked for.
   * @default index.yaml's `oidc.scope`, else `openid email profile`
   */
  scope?: string | undefined;
  /**
   * The claim that lists the user's groups (for `group:NAME` rules).
   * @default index.yaml's `oidc.groups_claim`, else `groups`
   */
  groupsClaim?: string | undefined;
  /**
   * How long a login holds, in milliseconds.
   * @default index.yaml's `oidc.session_max_age` (in seconds there), else 28800000 (8 hours)
   */
  sessionMaxAgeMs?: number | undefined;
}

/** The paths of the login. */
export const OIDC_PATHS = {
  login: '/_auth/oidc/login',
  callback: '/_auth/oidc/callback',
  logout: '/_auth/logout',
} as const;

/** How long a started login may take at the provider. */
const FLOW_MAX_AGE_MS = 10 * 60_000;

/** What the session cookie holds. */
interface SessionPayload {
  readonly u: AuthUser;
  /** Expiry, ms since the epoch. */
  readonly exp: number;
}

/** What the cookie of a login under way holds (its checks). */
interface FlowPayload {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  readonly next: string;
  readonly exp: number;
}

/**
 * Sealed values for cookies: AES-256-GCM (encrypted and authenticated), the
 * key derived from `secret` by HKDF, the cookie's purpose as associated data
 * (a flow cookie does not pass for a session).
 */
export function createSealer(secret: string): {
  seal(purpose: string, value: unknown): string;
  open(purpose: string, sealed: string): unknown;
} {
  const key = Buffer.from(hkdfSync('sha256', secret, 'databench', 'cookie encryption v1', 32));
  return {
    seal(purpose, value) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(purpose));
      const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
      return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
    },
    open(purpose, sealed) {
      try {
        const raw = Buffer.from(sealed, 'base64url');
        if (raw.length < 29) return undefined;
        const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
        decipher.setAAD(Buffer.from(purpose));
        decipher.setAuthTag(raw.subarray(12, 28));
        const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
        return JSON.parse(text.toString('utf8')) as unknown;
      } catch {
        // tampered, cut, or sealed under another secret: no value
        return undefined;
      }
    },
  };
}

function cookieOf(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A user from an ID token's claims: `sub` is the id. */
function userOf(claims: Record<string, unknown>, groupsClaim: string): AuthUser {
  const groups = claims[groupsClaim];
  const id = String(claims['sub']);
  const bytes = Buffer.byteLength(id, 'utf8');
  if (bytes > MAX_USER_ID_BYTES) {
    throw new Error(
      `the ID token's sub has ${bytes} bytes, more than the ${MAX_USER_ID_BYTES} a user id may have (OpenID Connect allows 255 ASCII characters)`,
    );
  }
  return {
    id,
    ...(typeof claims['name'] === 'string' ? { name: claims['name'] } : {}),
    ...(typeof claims['email'] === 'string' ? { email: claims['email'] } : {}),
    ...(Array.isArray(groups) ? { groups: groups.filter((g) => typeof g === 'string') } : {}),
  };
}

/** The OpenID Connect login of a server, as the auth gate uses it. */
export interface OidcLogin {
  /** Answer the login's own paths; false for any other request. */
  route(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** The signed-in user of a request (its session cookie), if any. */
  user(req: IncomingMessage): AuthUser | undefined;
  /** A request without a session: pages go to the login, anything else gets 401. */
  challenge(req: IncomingMessage, res: ServerResponse): void;
}

/** Settings of {@link createOidcLogin}. */
export interface OidcLoginOptions {
  readonly oidc: OidcOptions;
  /** The key material of the cookies (`--secret`). */
  readonly secret: string;
  /** The server's own URL, once it listens (the default of `publicUrl`). */
  readonly serverUrl: () => string;
  readonly allowOrigins: ReadonlySet<string>;
  readonly logger: Logger;
}

type Client = typeof import('openid-client');

/** The OpenID Connect login: see the module's comment. */
export function createOidcLogin(o: OidcLoginOptions): OidcLogin {
  const { oidc, logger } = o;
  const sealer = createSealer(o.secret);
  const maxAge = oidc.sessionMaxAgeMs ?? 8 * 3600_000;
  const groupsClaim = oidc.groupsClaim ?? 'groups';
  // named after the secret: processes that share it share the session
  const suffix = createHmac('sha256', o.secret).update('cookie name').digest('hex').slice(0, 12);
  const sessionCookie = `databench-session-${suffix}`;
  const flowCookie = `databench-login-${suffix}`;
  const publicUrl = (): string => (oidc.publicUrl ?? o.serverUrl()).replace(/\/$/, '');
  const redirectUri = (): string => publicUrl() + OIDC_PATHS.callback;

  let client: Promise<{ lib: Client; config: import('openid-client').Configuration }> | undefined;
  const connect = () => {
    client ??= (async () => {
      const lib = await importOptional(
        () => import('openid-client'),
        ['openid-client'],
        '--auth oidc',
      );
      const issuer = new URL(oidc.issuer ?? '');
      // plain HTTP only to a provider on this machine (tests, development)
      const local = issuer.protocol === 'http:' && isLoopbackAddress(issuer.hostname);
      const config = await lib.discovery(
        issuer,
        oidc.clientId ?? '',
        oidc.clientSecret,
        oidc.clientSecret === undefined ? lib.None() : undefined,
        local ? { execute: [lib.allowInsecureRequests] } : undefined,
      );
      return { lib, config };
    })().catch((error: unknown) => {
      client = undefined;
      throw new DatabenchError(
        'OIDC_UNREACHABLE',
        `cannot reach the OpenID provider ${oidc.issuer ?? ''}: ${String(error)}`,
        { cause: error },
      );
    });
    return client;
  };

  /** Whether browsers reach this server over HTTPS: this socket's TLS, or a proxy's (`publicUrl`). */
  const secure = (req: IncomingMessage): boolean =>
    (req.socket as Partial<TLSSocket>).encrypted === true || publicUrl().startsWith('https:');
  // over HTTPS the cookies are `__Host-`: a browser takes such a cookie only
  // from this very host over HTTPS (Secure, Path=/, no Domain), so a sibling
  // subdomain or a plain-HTTP answer cannot plant a login's cookie (a login
  // CSRF by a fixed flow cookie, a session fixed by cookie tossing)
  const named = (req: IncomingMessage, name: string): string =>
    secure(req) ? `__Host-${name}` : name;
  const read = (req: IncomingMessage, name: string): string | undefined =>
    cookieOf(req, named(req, name));
  const cookie = (req: IncomingMessage, name: string, value: string, maxAgeMs: number): string =>
    `${named(req, name)}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.floor(maxAgeMs / 1000)}${secure(req) ? '; Secure' : ''}`;

  const page = (res: ServerResponse, status: number, title: string, text: string): void => {
    const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p><p><a href="/">Back to the analyses</a></p></body></html>\n`;
    res.writeHead(status, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
    });
    res.end(body);
  };

  const redirect = (res: ServerResponse, location: string, cookies: string[] = []): void => {
    res.writeHead(303, {
      Location: location,
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
      'Content-Length': 0,
      ...(cookies.length > 0 ? { 'Set-Cookie': cookies } : {}),
    });
    res.end();
  };

  const login = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const { lib, config } = await connect();
    const verifier = lib.randomPKCECodeVerifier();
    const flow: FlowPayload = {
      state: lib.randomState(),
      nonce: lib.randomNonce(),
      verifier,
      next: safeNext(url.searchParams.get('next')),
      exp: Date.now() + FLOW_MAX_AGE_MS,
    };
    const target = lib.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri(),
      scope: oidc.scope ?? 'openid email profile',
      code_challenge: await lib.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: flow.state,
      nonce: flow.nonce,
    });
    redirect(res, target.href, [
      cookie(req, flowCookie, sealer.seal('flow', flow), FLOW_MAX_AGE_MS),
    ]);
  };

  const callback = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const sealed = read(req, flowCookie);
    const flow = sealed === undefined ? undefined : (sealer.open('flow', sealed) as FlowPayload);
    const clear = cookie(req, flowCookie, '', 0);
    const error = url.searchParams.get('error');
    if (error !== null) {
      const description = url.searchParams.get('error_description');
      logger.warn(`a sign-in was refused by the provider: ${error}`);
      res.setHeader('Set-Cookie', clear);
      page(
        res,
        403,
        'Sign-in refused',
        `The provider said: ${error}${description ? ` (${description})` : ''}.`,
      );
      return;
    }
    // no login started here, or it expired: a code from elsewhere (login CSRF) is not taken
    if (flow === undefined || typeof flow.exp !== 'number' || flow.exp < Date.now()) {
      logger.warn('refused a sign-in callback without a login started from this browser');
      res.setHeader('Set-Cookie', clear);
      page(
        res,
        400,
        'Sign-in failed',
        'This sign-in was not started here, or took too long: sign in again.',
      );
      return;
    }
    const { lib, config } = await connect();
    let user: AuthUser;
    try {
      const current = new URL(redirectUri());
      current.search = url.search;
      const tokens = await lib.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
      const claims = tokens.claims();
      if (claims === undefined) throw new Error('no ID token');
      user = userOf(claims, groupsClaim);
    } catch (failure) {
      logger.warn(`a sign-in failed: ${String(failure)}`);
      res.setHeader('Set-Cookie', clear);
      page(res, 400, 'Sign-in failed', 'The sign-in could not be completed: sign in again.');
      return;
    }
    const session: SessionPayload = { u: user, exp: Date.now() + maxAge };
    logger.info(`signed in: ${user.id}`);
    redirect(res, flow.next, [
      clear,
      cookie(req, sessionCookie, sealer.seal('session', session), maxAge),
    ]);
  };

  const logout = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const sameSite = isSameSiteRequest(req, o.allowOrigins);
    if (req.method !== 'POST' || !sameSite) {
      page(res, 405, 'Sign out', 'Sign out with the button of a page of this server.');
      return;
    }
    let target: string | undefined;
    try {
      const { lib, config } = await connect();
      if (config.serverMetadata().end_session_endpoint !== undefined) {
        target = lib.buildEndSessionUrl(config, {
          post_logout_redirect_uri: publicUrl() + '/',
          client_id: oidc.clientId ?? '',
        }).href;
      }
    } catch {
      // the provider is away: this server's session ends anyway
    }
    const clear = cookie(req, sessionCookie, '', 0);
    if (target === undefined) {
      redirect(res, '/', [clear]);
      return;
    }
    // not a redirect: the form that posted here is on a page whose policy says
    // `form-action 'self'`, and browsers apply that to a form's redirects too
    // (a 303 to the provider was blocked); a page that moves on is a navigation
    const href = escapeHtml(target.replace(/'/g, '%27'));
    const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0; url='${href}'"><title>Signing out</title></head><body><p>Signed out here. <a href="${href}">Sign out at the provider too</a>.</p></body></html>\n`;
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
      'Set-Cookie': clear,
    });
    res.end(body);
  };

  return {
    async route(req, res) {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== OIDC_PATHS.login && path !== OIDC_PATHS.callback && path !== OIDC_PATHS.logout) {
        return false;
      }
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (path === OIDC_PATHS.login) await login(req, res, url);
      else if (path === OIDC_PATHS.callback) await callback(req, res, url);
      else await logout(req, res);
      return true;
    },
    user(req) {
      const sealed = read(req, sessionCookie);
      if (sealed === undefined) return undefined;
      const session = sealer.open('session', sealed) as SessionPayload | undefined;
      if (
        session === undefined ||
        typeof session.exp !== 'number' ||
        session.exp < Date.now() ||
        typeof session.u?.id !== 'string'
      ) {
        return undefined;
      }
      return session.u;
    },
    challenge(req, res) {
      const accept = String(req.headers.accept ?? '');
      if ((req.method === 'GET' || req.method === 'HEAD') && accept.includes('text/html')) {
        redirect(res, `${OIDC_PATHS.login}?next=${encodeURIComponent(safeNext(req.url))}`);
        return;
      }
      page(res, 401, 'Not signed in', 'Sign in first.');
    },
  };
}
