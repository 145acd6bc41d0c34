/**
 * A signed-in user, as the server's login gives it (an `authenticate` hook,
 * OpenID Connect) and an analysis sees it: `this.user` in TypeScript,
 * `self.user` in Python. Plain data: it crosses to worker threads and Python
 * processes as it is.
 *
 * @example { id: 'alice', email: 'alice@example.com', groups: ['analysts'] }
 */
export interface AuthUser {
  /** Stable and unique: what `allow` rules and per-user data are keyed by. */
  readonly id: string;
  /** A display name. */
  readonly name?: string | undefined;
  /** The email address (`allow` rules may name it). */
  readonly email?: string | undefined;
  /** Groups the user is in (`allow` rules name them as `group:NAME`). */
  readonly groups?: readonly string[] | undefined;
}
