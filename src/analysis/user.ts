/**
 * A signed-in user, as the server's login gives it (an `authenticate` hook,
 * OpenID Connect) and an analysis sees it: `this.user` in TypeScript,
 * `self.user` in Python. Plain data: it crosses to worker threads and Python
 * processes as it is.
 *
 * @example { id: 'alice', email: 'alice@example.com', groups: ['analysts'] }
 */
export interface AuthUser {
  /** Stable and unique: what `allow` rules and per-user data are keyed by; at most 256 bytes of UTF-8. */
  readonly id: string;
  /** A display name. */
  readonly name?: string | undefined;
  /** The email address (`allow` rules may name it). */
  readonly email?: string | undefined;
  /** Groups the user is in (`allow` rules name them as `group:NAME`). */
  readonly groups?: readonly string[] | undefined;
}

/**
 * The longest user id the login accepts, in UTF-8 bytes (an OpenID subject
 * is at most 255 ASCII characters). Escaped it takes at most three times as
 * many characters, so a session's domain naming its user stays within what
 * the Redis backend's cross-process messages carry.
 */
export const MAX_USER_ID_BYTES = 256;

/** Characters a user id keeps as they are in a domain name; every other one is escaped. */
const PLAIN = /^[A-Za-z0-9_.~-]$/;

/**
 * A user id as it appears in a datastore domain: letters, digits and `_.~-`
 * as they are, every other character as `%XX` of its UTF-8 bytes (a lone
 * surrogate, which has none, as `%uXXXX`). The result never holds `:`, `@`
 * or `/`, so an id can neither end its part of a domain early nor reach
 * another domain; two different ids never escape alike. The Python kernel
 * escapes the same way (`databench/analysis.py`, `_escape_user_id`).
 */
export function escapeUserId(id: string): string {
  let out = '';
  for (const ch of id) {
    if (PLAIN.test(ch)) {
      out += ch;
      continue;
    }
    const code = ch.codePointAt(0)!;
    if (code >= 0xd800 && code <= 0xdfff) {
      out += '%u' + code.toString(16).toUpperCase().padStart(4, '0');
      continue;
    }
    for (const byte of Buffer.from(ch, 'utf8')) {
      out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
    }
  }
  return out;
}

/**
 * The domain of a session's `data`: its id when nobody signed in, else
 * `<id>@<escaped user id>`. A resume looks for the data of the id *and* the
 * resuming user, so a session can only be resumed by the user who opened it.
 */
export function sessionDataDomain(id: string, user: AuthUser | undefined): string {
  return user === undefined ? id : `${id}@${escapeUserId(user.id)}`;
}

/**
 * The domain of `userData`: `user:<escaped user id>:<analysis>` for a
 * signed-in user (every page of that user on that analysis shares it),
 * `<data domain>/user` when nobody signed in (a store of the session alone,
 * kept and resumed with its `data`).
 */
export function userDataDomain(
  user: AuthUser | undefined,
  analysis: string,
  dataDomain: string,
): string {
  return user === undefined ? `${dataDomain}/user` : `user:${escapeUserId(user.id)}:${analysis}`;
}

const SESSION_DOMAIN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:$|[@/])/i;

/**
 * Whether `domain` belongs to one session (its `data`, or the `userData` of
 * a session without a user): dropped some time after the session left, and
 * shown to that session's page only.
 */
export function isSessionDomain(domain: string): boolean {
  return SESSION_DOMAIN.test(domain);
}

/** Whether `domain` is a signed-in user's `userData`: shown to that user's pages only. */
export function isUserDomain(domain: string): boolean {
  return domain.startsWith('user:');
}
