/**
 * Who may reach a server: the token a server off loopback requires by
 * default, the `authenticate` hook for any other login, and (with the user
 * known) who may open which analysis. Every HTTP request and every WebSocket
 * upgrade passes here before a page, a file, a route or an analysis's code
 * sees it.
 *
 * The token: a page presents it once as `?token=…` (the URL the CLI prints)
 * or through the login form; the server answers with an HttpOnly,
 * SameSite=Lax cookie that holds a MAC of the token (not the token) and a
 * redirect to the same URL without it, with `Referrer-Policy: no-referrer`,
 * so the token stays out of history, logs and Referer headers. Scripts may
 * send `Authorization: Bearer <token>` instead. Every comparison is of two
 * SHA-256 digests with `timingSafeEqual`.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { MAX_USER_ID_BYTES, type AuthUser } from '../analysis/user.js';
import { DatabenchError } from '../protocol/errors.js';
import type { Logger } from '../util/logger.js';
import type { AnalysesConfig, OidcConfig, SecretSetting } from '../app/config.js';
import { isLoopbackAddress, isSameSiteRequest, safeNext as localPath } from './net.js';
import type { OidcLogin, OidcOptions } from './oidc.js';

export type { AuthUser };

/**
 * Who sent a request: a user, or null when nobody is signed in (the server
 * then answers 401). Called for every HTTP request (except databench's own
 * `/_static/` files) and every WebSocket upgrade; it may be async. A
 * reverse proxy's header, a session cookie of your own, LDAP: anything.
 *
 * @example
 * authenticate: (req) => {
 *   const email = req.headers['x-forwarded-email'];
 *   return typeof email === 'string' ? { id: email, email } : null;
 * }
 */
export type Authenticate = (
  request: IncomingMessage,
) => AuthUser | null | undefined | Promise<AuthUser | null | undefined>;

/** What an analysis offers an {@link Authorize} hook: its name and its `allow` rule. */
export interface AnalysisAccess {
  /** The analysis name (its URL path). */
  readonly name: string;
  /** Its `allow` list of index.yaml (else the folder's); undefined when it has none. */
  readonly allow: readonly string[] | undefined;
}

/**
 * Whether `user` (undefined: nobody signed in) may open an analysis: its
 * page, static files, routes and socket. Runs after the `allow` rule of
 * index.yaml, which must pass too. It may be async.
 */
export type Authorize = (
  user: AuthUser | undefined,
  analysis: AnalysisAccess,
) => boolean | Promise<boolean>;

/** The authentication settings of a server, resolved once. */
export interface ResolvedAuth {
  /** The token pages must present; undefined: none. */
  readonly token: string | undefined;
  /** True when `token` was generated at start (so someone must be shown it). */
  readonly tokenGenerated: boolean;
  /** True when `token: false` (`--no-auth`) turned the token off a non-loopback bind. */
  readonly disabled: boolean;
  readonly authenticate: Authenticate | undefined;
  readonly authorize: Authorize | undefined;
  /** The OpenID Connect login, with the client secret filled in; undefined: none. */
  readonly oidc: OidcOptions | undefined;
  /** The key material of the login's cookies (with `oidc`). */
  readonly secret: string | undefined;
  /** What the server should warn about at start (a secret written in index.yaml). */
  readonly warnings: readonly string[];
}

/**
 * Whether `user` matches an `allow` rule: its id, its email (in any case),
 * `group:NAME` for a group it is in, or `*` for anyone signed in. Nobody
 * signed in matches no rule.
 *
 * @example isAllowed({ id: 'a', groups: ['analysts'] }, ['group:analysts']) // true
 */
export function isAllowed(user: AuthUser | undefined, allow: readonly string[]): boolean {
  if (user === undefined) return false;
  const email = user.email?.toLowerCase();
  for (const rule of allow) {
    if (rule === '*' || rule === user.id) return true;
    if (rule.startsWith('group:')) {
      if (user.groups?.includes(rule.slice(6))) return true;
    } else if (email !== undefined && rule.toLowerCase() === email) {
      return true;
    }
  }
  return false;
}

/**
 * Whether a user may open an analysis: its `allow` rule (when it has one)
 * and then `authorize` (when given) must both say yes. Synchronous unless
 * `authorize` is async.
 */
export function createAccessCheck(
  authorize: Authorize | undefined,
): (user: AuthUser | undefined, analysis: AnalysisAccess) => boolean | Promise<boolean> {
  return (user, analysis) => {
    if (analysis.allow !== undefined && !isAllowed(user, analysis.allow)) return false;
    if (authorize === undefined) return true;
    const verdict = authorize(user, { name: analysis.name, allow: analysis.allow });
    return typeof verdict === 'boolean'
      ? verdict
      : Promise.resolve(verdict).then((v) => v === true);
  };
}

/** The environment variable a token may come from. */
export const TOKEN_ENV = 'DATABENCH_TOKEN';

/** What a given token must look like: printable, no spaces, long enough to be unguessable. */
const TOKEN_FORM = /^[\x21-\x7e]{16,512}$/;

/** A fresh token: 24 random bytes, URL-safe (32 characters). */
export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

/** What index.yaml says of the login: its `oidc` and `secret` keys, and what is wrong with them. */
export type FolderAuth = Pick<AnalysesConfig, 'oidc' | 'secret' | 'authErrors'>;

const NO_FOLDER_AUTH: FolderAuth = { oidc: undefined, secret: undefined, authErrors: [] };

/**
 * The authentication settings: `token` (option, else `DATABENCH_TOKEN`)
 * when given; else, off loopback with no `authenticate`, a generated token;
 * `token: false` turns that off. The OpenID login is on with the `oidc`
 * option or index.yaml's `oidc` (`folder`); each of its settings, and the
 * cookies' `secret`, comes from the option, else the environment, else
 * index.yaml. Throws `INVALID_OPTION` for a bad value, naming where it came from.
 */
export function resolveAuth(
  options: {
    token?: string | false;
    authenticate?: unknown;
    authorize?: unknown;
    oidc?: OidcOptions | undefined;
    secret?: string | undefined;
  },
  env: Readonly<Record<string, string | undefined>>,
  loopback: boolean,
  folder: FolderAuth = NO_FOLDER_AUTH,
): ResolvedAuth {
  const { authenticate, authorize } = options;
  if (folder.authErrors.length > 0) {
    throw new DatabenchError(
      'INVALID_OPTION',
      `${folder.authErrors.join('; ')} (the server does not start with a login set up wrong)`,
    );
  }
  const warnings: string[] = [];
  const literal = (key: string): string =>
    `index.yaml holds the secret ${key} itself: keep it out of files that are shared or committed, in the environment (${key}: { env: NAME })`;
  if (folder.secret?.value !== undefined) warnings.push(literal('secret'));
  if (folder.oidc?.clientSecret?.value !== undefined) warnings.push(literal('oidc.client_secret'));
  const oidc = resolveOidc(options.oidc, env, folder.oidc);
  let secret: string | undefined;
  let secretSource = 'option secret (--secret)';
  if (options.secret !== undefined) secret = options.secret;
  else if (env[SECRET_ENV]) {
    secret = env[SECRET_ENV];
    secretSource = `environment variable ${SECRET_ENV}`;
  } else if (folder.secret !== undefined && oidc !== undefined) {
    // only a login reads it: a variable it names need not be set without one
    secret = fromSecretSetting(folder.secret, 'secret', env);
    secretSource = 'index.yaml secret';
  }
  if (oidc !== undefined) {
    const from = options.oidc === undefined ? "index.yaml's oidc" : 'option oidc';
    if (authenticate !== undefined) {
      throw new DatabenchError(
        'INVALID_OPTION',
        `${from} and option authenticate are two logins: give one`,
      );
    }
    if (options.token === false && options.oidc === undefined) {
      throw new DatabenchError(
        'INVALID_OPTION',
        "option token: false (--no-auth) contradicts index.yaml's oidc login: remove one",
      );
    }
    if (typeof secret !== 'string' || secret.length < 32) {
      throw new DatabenchError(
        'INVALID_OPTION',
        secret === undefined
          ? `the OpenID login needs a secret of at least 32 characters for its cookies (option secret, --secret, ${SECRET_ENV} or index.yaml's secret; the same for every process)`
          : `${secretSource} must be at least 32 characters (the key of the login cookies), got ${typeof secret === 'string' ? secret.length : typeof secret}`,
      );
    }
  }
  if (authenticate !== undefined && typeof authenticate !== 'function') {
    throw new DatabenchError('INVALID_OPTION', 'option authenticate must be a function');
  }
  if (authorize !== undefined && typeof authorize !== 'function') {
    throw new DatabenchError('INVALID_OPTION', 'option authorize must be a function');
  }
  let token: string | undefined;
  let source = 'option token';
  if (typeof options.token === 'string') {
    token = options.token;
  } else if (options.token === undefined && env[TOKEN_ENV]) {
    token = env[TOKEN_ENV];
    source = `environment variable ${TOKEN_ENV}`;
  } else if (options.token !== undefined && options.token !== false) {
    throw new DatabenchError(
      'INVALID_OPTION',
      'option token must be a string (the token pages must present) or false (none)',
    );
  }
  if (token !== undefined && !TOKEN_FORM.test(token)) {
    // the value itself is a secret: never part of the message
    throw new DatabenchError(
      'INVALID_OPTION',
      `${source} must be 16 to 512 printable characters without spaces (got ${token.length} characters)`,
    );
  }
  const needed = !loopback && authenticate === undefined && oidc === undefined;
  const generated = token === undefined && needed && options.token !== false;
  return {
    token: generated ? generateToken() : token,
    tokenGenerated: generated,
    disabled: needed && options.token === false,
    authenticate: authenticate as Authenticate | undefined,
    authorize: authorize as Authorize | undefined,
    oidc,
    secret: oidc === undefined ? undefined : secret,
    warnings,
  };
}

/** The environment variable of the login cookies' secret. */
export const SECRET_ENV = 'DATABENCH_SECRET';
/** The environment variable of the OpenID provider's issuer URL. */
export const OIDC_ISSUER_ENV = 'DATABENCH_OIDC_ISSUER';
/** The environment variable of this server's OpenID client id. */
export const OIDC_CLIENT_ID_ENV = 'DATABENCH_OIDC_CLIENT_ID';
/** The environment variable of the OpenID client secret. */
export const OIDC_CLIENT_SECRET_ENV = 'DATABENCH_OIDC_CLIENT_SECRET';

/** A secret of index.yaml: its value, or that of the environment variable it names (which must be set). */
function fromSecretSetting(
  setting: SecretSetting,
  key: string,
  env: Readonly<Record<string, string | undefined>>,
): string {
  if (setting.value !== undefined) return setting.value;
  const value = env[setting.env];
  if (value === undefined || value === '') {
    throw new DatabenchError(
      'INVALID_OPTION',
      `index.yaml's ${key} is the environment variable ${setting.env}, which is not set (the CLI reads the process's environment; createServer the option env)`,
    );
  }
  return value;
}

/**
 * The OpenID settings, each from the option, else the environment, else
 * index.yaml (`file`); undefined when neither the option nor index.yaml asks for a login.
 */
function resolveOidc(
  oidc: OidcOptions | undefined,
  env: Readonly<Record<string, string | undefined>>,
  file: OidcConfig | undefined,
): OidcOptions | undefined {
  if (oidc === undefined && file === undefined) return undefined;
  if (oidc !== undefined && (typeof oidc !== 'object' || oidc === null)) {
    throw new DatabenchError(
      'INVALID_OPTION',
      'option oidc must be an object ({ issuer, clientId, … })',
    );
  }
  /** A setting from the first source that has it, and the name of that source. */
  const pick = <T>(
    option: T | undefined,
    flag: string,
    envName: string | undefined,
    fileValue: T | undefined,
    fileKey: string,
  ): { value: T | string | undefined; source: string } => {
    if (option !== undefined) return { value: option, source: `option oidc.${flag}` };
    const fromEnvironment = envName === undefined ? undefined : env[envName] || undefined;
    if (fromEnvironment !== undefined) {
      return { value: fromEnvironment, source: `environment variable ${envName ?? ''}` };
    }
    return { value: fileValue, source: `index.yaml oidc.${fileKey}` };
  };
  const issuer = pick(oidc?.issuer, 'issuer', OIDC_ISSUER_ENV, file?.issuer, 'issuer');
  const clientId = pick(
    oidc?.clientId,
    'clientId',
    OIDC_CLIENT_ID_ENV,
    file?.clientId,
    'client_id',
  );
  if (issuer.value === undefined) {
    throw new DatabenchError(
      'INVALID_OPTION',
      `the OpenID login needs the provider's issuer, an http(s) URL (--oidc-issuer, ${OIDC_ISSUER_ENV} or oidc.issuer in index.yaml)`,
    );
  }
  checkUrl(issuer.source, issuer.value, true);
  if (typeof clientId.value !== 'string' || clientId.value === '') {
    throw new DatabenchError(
      'INVALID_OPTION',
      clientId.value === undefined
        ? `the OpenID login needs this server's client id at the provider (--oidc-client-id, ${OIDC_CLIENT_ID_ENV} or oidc.client_id in index.yaml)`
        : `${clientId.source} must be a non-empty string, got ${typeof clientId.value}`,
    );
  }
  // index.yaml's client credentials belong to index.yaml's provider: sent to an
  // issuer given elsewhere, they would reach a provider they were not made for
  const fileIssuer = issuer.source.startsWith('index.yaml');
  const clientSecretElsewhere =
    oidc?.clientSecret !== undefined || Boolean(env[OIDC_CLIENT_SECRET_ENV]);
  if (
    !fileIssuer &&
    (clientId.source.startsWith('index.yaml') ||
      (file?.clientSecret !== undefined && !clientSecretElsewhere))
  ) {
    throw new DatabenchError(
      'INVALID_OPTION',
      `the OpenID issuer comes from the ${issuer.source}, but the client ${clientId.source.startsWith('index.yaml') ? 'id' : 'secret'} from index.yaml: index.yaml's client id and secret go only to index.yaml's issuer; give the client id and secret with the issuer (${OIDC_CLIENT_ID_ENV}, ${OIDC_CLIENT_SECRET_ENV}, or the flags) or remove the issuer's override`,
    );
  }
  const publicUrl = oidc?.publicUrl ?? file?.publicUrl;
  if (publicUrl !== undefined) {
    checkUrl(
      oidc?.publicUrl !== undefined ? 'option oidc.publicUrl' : 'index.yaml oidc.public_url',
      publicUrl,
      false,
    );
  }
  const clientSecret =
    oidc?.clientSecret ??
    (env[OIDC_CLIENT_SECRET_ENV] || undefined) ??
    (file?.clientSecret === undefined
      ? undefined
      : fromSecretSetting(file.clientSecret, 'oidc.client_secret', env));
  return {
    ...oidc,
    issuer: issuer.value,
    clientId: clientId.value,
    clientSecret,
    publicUrl,
    scope: oidc?.scope ?? file?.scope,
    groupsClaim: oidc?.groupsClaim ?? file?.groupsClaim,
    sessionMaxAgeMs: oidc?.sessionMaxAgeMs ?? file?.sessionMaxAgeMs,
  };
}

/**
 * An http(s) URL from `source`; an issuer over plain http only on this
 * machine (openid-client would refuse it at the first login, long after the start).
 */
function checkUrl(source: string, value: unknown, issuer: boolean): void {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || !/^https?:$/.test(url.protocol)) {
    throw new DatabenchError(
      'INVALID_OPTION',
      `${source} must be an http(s) URL, got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`,
    );
  }
  if (issuer && url.protocol === 'http:' && !isLoopbackAddress(url.hostname)) {
    throw new DatabenchError(
      'INVALID_OPTION',
      `${source} must be an https URL (plain http only for a provider on this machine), got ${JSON.stringify(value)}`,
    );
  }
}

/** `url` with the value of every `token` query parameter hidden, for a log line. */
export function redactUrl(url: string | undefined): string {
  return (url ?? '').replace(/([?&]token=)[^&#]*/gi, '$1***');
}

/** The SHA-256 digest of `text`: what secrets are compared as (equal lengths for timingSafeEqual). */
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The value of cookie `name` of a request, if any. */
function cookieOf(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** A local path to go back to after signing in (see the login's `safeNext`), without its token. */
function safeNext(next: string | undefined): string {
  return withoutToken(localPath(next));
}

/** A path and query with its `token` parameters removed. */
function withoutToken(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const kept = url
    .slice(q + 1)
    .split('&')
    .filter((p) => p !== '' && !/^token(=|$)/i.test(p));
  return url.slice(0, q) + (kept.length ? `?${kept.join('&')}` : '');
}

/** The `token` query parameter of a request URL, if it has one. */
function queryToken(url: string): string | undefined {
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  return new URLSearchParams(url.slice(q + 1)).get('token') ?? undefined;
}

/** Escape text for HTML. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Where the login form posts (a path no analysis can have: names are identifiers). */
export const LOGIN_PATH = '/_auth/login';

/** The largest login form body read. */
const MAX_FORM_BYTES = 4096;

/**
 * The page that asks for the token: a form that posts it to
 * {@link LOGIN_PATH}, no script (any Content-Security-Policy lets it work).
 */
function loginPage(next: string, message: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>databench: sign in</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}input{font:inherit;padding:.3rem;width:100%;box-sizing:border-box}button{font:inherit;margin-top:.6rem;padding:.3rem 1rem}.message{color:#a00}</style>
</head><body>
<h1>Token required</h1>
<p>This databench server needs its token. Open the URL it printed at start (it ends in <code>?token=…</code>), or paste the token here.</p>
${message ? `<p class="message" role="alert">${escapeHtml(message)}</p>` : ''}
<form method="post" action="${LOGIN_PATH}">
<input type="hidden" name="next" value="${escapeHtml(next)}">
<label>Token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Sign in</button>
</form>
</body></html>
`;
}

/** A page that tells someone signed in by `authenticate` that they are not (no form: the login is elsewhere). */
function signedOutPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>databench: sign in</title></head><body>
<h1>Not signed in</h1><p>This databench server needs you to sign in.</p>
</body></html>
`;
}

/** Who sent a request, once the gate let it through. */
export interface Access {
  /** The signed-in user; undefined when there is no login (a token, or nothing). */
  readonly user: AuthUser | undefined;
}

/** The answer of the gate to a WebSocket upgrade it refuses. */
export interface Refusal {
  readonly status: number;
  readonly reason: string;
}

/** The checks of {@link createAuthGate}, for the HTTP handler and the upgrade gate. */
export interface AuthGate {
  /**
   * Check an HTTP request. Resolves with who sent it, or undefined when the
   * gate answered it itself (the login page, a 401, the cookie's redirect).
   */
  request(req: IncomingMessage, res: ServerResponse): Promise<Access | undefined>;
  /** Check a WebSocket upgrade: who sent it, or why it is refused. */
  upgrade(req: IncomingMessage): Promise<Access | Refusal>;
}

/** Settings of {@link createAuthGate}. */
export interface AuthGateOptions {
  readonly auth: ResolvedAuth;
  readonly logger: Logger;
  /** Origins that may post the login form besides the page's own (`allowOrigins`). */
  readonly allowOrigins: ReadonlySet<string>;
  /** The OpenID Connect login, when the server has one. */
  readonly login?: OidcLogin | undefined;
}

/** A user as an `authenticate` hook returned it, checked; a malformed one throws. */
function checkedUser(value: unknown): AuthUser | undefined {
  if (value === null || value === undefined) return undefined;
  const u = value as Record<string, unknown>;
  const problem =
    typeof value !== 'object'
      ? 'an object'
      : typeof u['id'] !== 'string' || u['id'] === ''
        ? 'an object with a non-empty string id'
        : Buffer.byteLength(u['id'], 'utf8') > MAX_USER_ID_BYTES
          ? `an object whose id is at most ${MAX_USER_ID_BYTES} bytes of UTF-8 (this one has ${Buffer.byteLength(u['id'], 'utf8')})`
          : (['name', 'email'] as const).find(
                (k) => u[k] !== undefined && typeof u[k] !== 'string',
              ) !== undefined
            ? 'an object whose name and email are strings'
            : u['groups'] !== undefined &&
                !(Array.isArray(u['groups']) && u['groups'].every((g) => typeof g === 'string'))
              ? 'an object whose groups are a list of strings'
              : undefined;
  if (problem !== undefined) {
    throw new DatabenchError(
      'INVALID_OPTION',
      `authenticate must return null or ${problem} ({ id, name?, email?, groups? })`,
    );
  }
  // a copy: the hook's object may carry more (tokens, …) that must not reach analyses
  const user: { id: string; name?: string; email?: string; groups?: string[] } = {
    id: u['id'] as string,
  };
  if (u['name'] !== undefined) user.name = u['name'] as string;
  if (u['email'] !== undefined) user.email = u['email'] as string;
  if (u['groups'] !== undefined) user.groups = [...(u['groups'] as string[])];
  return Object.freeze(user);
}

const NOBODY: Access = Object.freeze({ user: undefined });

/**
 * The gate of a server: undefined when nothing is required (no token, no
 * `authenticate`, no OpenID login), so an open server pays nothing per request.
 */
export function createAuthGate(o: AuthGateOptions): AuthGate | undefined {
  const { auth, logger } = o;
  const login = o.login;
  if (auth.token === undefined && auth.authenticate === undefined && login === undefined) {
    return undefined;
  }
  const tokenDigest = auth.token === undefined ? undefined : digest(auth.token);
  // the cookie holds a MAC of the token: it lets a browser in, but is not the token
  const cookieValue =
    auth.token === undefined
      ? undefined
      : createHmac('sha256', auth.token).update('databench token cookie').digest('base64url');
  const cookieDigest = cookieValue === undefined ? undefined : digest(cookieValue);
  // cookies are not kept apart by port: the name comes from the token, so
  // servers that share a token (processes behind one proxy) share the
  // cookie, and two servers with their own tokens on one host keep theirs
  const cookieName =
    auth.token === undefined
      ? ''
      : `databench-token-${createHmac('sha256', auth.token).update('databench cookie name').digest('hex').slice(0, 12)}`;

  const isToken = (given: string): boolean =>
    tokenDigest !== undefined && timingSafeEqual(digest(given), tokenDigest);

  /** Whether a request carries the token: its cookie, or `Authorization: Bearer`. */
  const hasToken = (req: IncomingMessage): boolean => {
    if (tokenDigest === undefined) return true;
    const cookie = cookieOf(req, cookieName);
    if (cookie !== undefined && cookieDigest && timingSafeEqual(digest(cookie), cookieDigest)) {
      return true;
    }
    const header = req.headers.authorization;
    const bearer = header === undefined ? undefined : /^(?:Bearer|token)\s+(\S+)$/i.exec(header);
    return bearer?.[1] !== undefined && isToken(bearer[1]);
  };

  const setCookie = (req: IncomingMessage): string => {
    const secure = (req.socket as Partial<TLSSocket>).encrypted === true ? '; Secure' : '';
    return `${cookieName}=${cookieValue ?? ''}; Path=/; HttpOnly; SameSite=Lax${secure}`;
  };

  const answer = (
    res: ServerResponse,
    status: number,
    body: string,
    headers: Record<string, string> = {},
  ): void => {
    res.writeHead(status, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
      // the URL of this answer may hold a (wrong) token: no other site sees it
      // (same-origin, not no-referrer: the form's post must carry its Origin)
      'Referrer-Policy': 'same-origin',
      ...headers,
    });
    res.end(body);
  };

  const signIn = (req: IncomingMessage, res: ServerResponse, next: string): void => {
    res.writeHead(303, {
      Location: next,
      'Set-Cookie': setCookie(req),
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
      'Content-Length': 0,
    });
    res.end();
  };

  const refuseToken = (req: IncomingMessage, res: ServerResponse, message: string): void => {
    if (message) logger.warn(`${message} from ${req.socket.remoteAddress ?? 'unknown'}`);
    answer(res, 401, loginPage(safeNext(req.url), message));
  };

  /** The login form: same-origin posts only (no login CSRF), a bounded body. */
  const loginForm = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const sameSite = isSameSiteRequest(req, o.allowOrigins);
    if (!sameSite) {
      logger.warn(`refused a cross-site login form from ${req.socket.remoteAddress ?? 'unknown'}`);
      answer(res, 403, loginPage('/', 'A sign-in from another site was refused.'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) {
        answer(res, 413, loginPage('/', 'The form was too large.'), { Connection: 'close' });
        return;
      }
      chunks.push(chunk);
    }
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const next = safeNext(form.get('next') ?? undefined);
    if (isToken(form.get('token') ?? '')) return signIn(req, res, next);
    logger.warn(`refused a wrong token from ${req.socket.remoteAddress ?? 'unknown'}`);
    answer(res, 401, loginPage(next, 'That token is not right.'));
  };

  const authenticate = async (req: IncomingMessage): Promise<Access | undefined> => {
    if (auth.authenticate === undefined) return NOBODY;
    const user = checkedUser(await auth.authenticate(req));
    return user === undefined ? undefined : { user };
  };

  return {
    async request(req, res) {
      const url = req.url ?? '/';
      // databench's own client and styles are public (the login page may use them)
      if (url.startsWith('/_static/')) return NOBODY;
      if (login !== undefined) {
        if (await login.route(req, res)) return undefined;
        const user = login.user(req);
        if (user === undefined) login.challenge(req, res);
        return user === undefined ? undefined : { user };
      }
      if (tokenDigest !== undefined) {
        if (url.split('?')[0] === LOGIN_PATH) {
          if (req.method === 'POST') await loginForm(req, res);
          else answer(res, 401, loginPage('/', ''));
          return undefined;
        }
        const given = queryToken(url);
        if (given !== undefined) {
          // the first visit with ?token=: the cookie, and the same URL without the token
          if (isToken(given)) signIn(req, res, safeNext(url));
          else refuseToken(req, res, 'refused a wrong token');
          return undefined;
        }
        if (!hasToken(req)) {
          refuseToken(req, res, '');
          return undefined;
        }
      }
      const access = await authenticate(req);
      if (access === undefined) answer(res, 401, signedOutPage());
      return access;
    },
    async upgrade(req) {
      if (login !== undefined) {
        const user = login.user(req);
        return user === undefined ? { status: 401, reason: 'not signed in' } : { user };
      }
      if (!hasToken(req)) return { status: 401, reason: 'token required' };
      const access = await authenticate(req);
      return access ?? { status: 401, reason: 'not signed in' };
    },
  };
}
