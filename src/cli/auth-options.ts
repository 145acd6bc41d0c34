import type { CliOptions } from './main.js';
import type { ServerOptions } from '../server/options.js';

/**
 * The server options of the CLI's authentication flags (`--token`,
 * `--no-auth`, `--auth oidc` with its `--oidc-*`, `--public-url`,
 * `--secret`): what the server and, under `--workers`, the primary resolve.
 */
export function authServerOptions(o: CliOptions): Pick<ServerOptions, 'token' | 'oidc' | 'secret'> {
  return {
    ...(o.noAuth ? { token: false as const } : o.token !== undefined ? { token: o.token } : {}),
    // a login is the authentication: then no token is made
    ...(o.auth === 'oidc'
      ? { oidc: { issuer: o.oidcIssuer, clientId: o.oidcClientId, publicUrl: o.publicUrl } }
      : {}),
    ...(o.secret !== undefined ? { secret: o.secret } : {}),
  };
}
