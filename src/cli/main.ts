import {
  isDatastoreSetting,
  redactDatastore,
  TYPECHECK_MODES,
  type TypecheckMode,
} from '../server/options.js';
import { CliError, reportError } from './errors.js';

/** The usage text of `databench --help`. */
const USAGE = `Usage: databench [options] [-- analysis args]
       databench new NAME          create analyses/NAME (TypeScript)
       databench test [FILE...]    run the analyses' *.test.ts with Node's test runner
       databench check [FOLDER]    list what the analyses' pages name that the
                                   analyses lack: actions without a handler, keys
                                   not in the data type (file:line; exit 1 if any)
       databench new NAME --python create a Python analysis (analysis.py, kernel: py)
       databench --python-path     print the folder of the Python package databench
                                   (PYTHONPATH for running Python analyses' tests)
       scaffold-databench NAME [--kernel py]
                                   create analyses/NAME as databench 0.7 did: a
                                   Python analysis (analysis.py, analysis.js,
                                   index.html, __init__.py)

Serve a folder of analyses: --analyses PATH, else ./analyses/index.yaml,
else ./index.yaml, else the packaged example analyses.

Options:
  --host HOST           interface to bind (env HOST; default 127.0.0.1)
  --port PORT           port (env PORT; default 5000)
  --log LEVEL           debug, info, warn(ing), error, critical or silent,
                        in any case (default info)
  --analyses PATH       the analyses folder or its index.yaml, or 0.7's import
                        path of the folder (databench.tests.analyses)
  --allow-origin ORIGIN also accept WebSockets from ORIGIN (repeatable)
  --max-frame-bytes N   largest frame a client may send (default 1048576)
  --max-upload-mb N     largest file a page may upload, and most a page may
                        upload at once, in MiB (default 64)
  --share-hours N       how long a page's share link works at most, in hours
                        (default 24)
  --datastore URL       keep data and classData in Redis: redis://HOST:PORT/DB
                        (env DATABENCH_DATASTORE, or datastore: in index.yaml;
                        default: in this process's memory)
  --workers N           run N server processes on the one port (needs --datastore)
  --no-watch            do not reload analyses when their files change
  --watch               reload them, also in production
  --typecheck MODE      off, warn or error: report TypeScript type errors of the
                        analyses (default warn while watching, else off)
  --token TOKEN         the token pages must present (env DATABENCH_TOKEN;
                        default off loopback: a random one, printed with the URL)
  --no-auth             no token even off loopback: anyone who reaches the
                        port may open and act in every analysis
  --auth oidc           sign in with OpenID Connect (also on with oidc: in
                        index.yaml): needs --oidc-issuer URL, --oidc-client-id
                        ID (env DATABENCH_OIDC_ISSUER, DATABENCH_OIDC_CLIENT_ID;
                        the client secret in env DATABENCH_OIDC_CLIENT_SECRET)
                        and --secret; flags win over the environment, and it
                        over index.yaml
  --oidc-issuer URL     the OpenID provider's issuer URL
  --oidc-client-id ID   this server's client id at the provider
  --public-url URL      the URL browsers reach this server at (behind a proxy;
                        the provider redirects back to URL/_auth/oidc/callback)
  --secret SECRET       the key of the login cookies, 32 characters or more,
                        the same for every process (env DATABENCH_SECRET)
  --no-error-details    show a failing handler's message only, without the
                        file:line of the code (the default in production)
  --error-details       show the file:line, also in production
  --production          production defaults on a loopback bind too (behind a proxy)
  --trust-proxy         behind a reverse proxy: count retained data per client
                        address, the last one of X-Forwarded-For
  --build               run the build commands of index.yaml and exit
  --coverage FILE       measure the Python analyses with the module coverage
                        (FILE.<host>.<pid>.<random> per kernel process, as 0.7)
  --ssl-port PORT       also serve HTTPS/WSS on PORT
  --ssl-certfile FILE   PEM certificate (default: self-signed, made at start)
  --ssl-keyfile FILE    PEM private key
  --version             print the version and exit
  --help                print this help and exit

Production defaults: with --workers N (N > 1) or a --host other than a
loopback address, no file watching, no type check and no error details,
unless turned on with --watch, --typecheck warn, --error-details.

Flags it does not know are passed to the analyses as cliArgs, except one
that is one edit away from an option (--prot): that is refused as a typo.
Everything after -- goes to the analyses as it is.`;

export type { TypecheckMode };

/** Parsed command line of `databench`. */
export interface CliOptions {
  command: 'serve' | 'new' | 'test' | 'check' | 'help' | 'version' | 'build' | 'python-path';
  /** `new NAME --python`: scaffold a Python analysis. */
  python: boolean;
  /** `scaffold-databench NAME`: scaffold a Python analysis in databench 0.7's layout. */
  v07: boolean;
  /** `scaffold-databench NAME --kernel py`: its index.yaml entry gets `kernel: py`. */
  kernel: string | undefined;
  /** `--coverage FILE`: measure the Python kernels with the module coverage (0.7's flag). */
  coverage: string | undefined;
  name: string | undefined;
  /** `--host`; undefined: the server's (env HOST, else its default). */
  host: string | undefined;
  /** `--port`; undefined: the server's (env PORT, else its default). */
  port: number | undefined;
  log: string | undefined;
  analyses: string | undefined;
  allowOrigins: string[];
  maxFrameBytes: number | undefined;
  /** `--max-upload-mb`, in bytes; undefined: the server's default. */
  maxUploadBytes: number | undefined;
  /** `--share-hours`, in milliseconds; undefined: the server's default. */
  shareExpiresMs: number | undefined;
  /** `--datastore`; undefined: the server's (env DATABENCH_DATASTORE, else index.yaml's, else memory). */
  datastore: string | undefined;
  /** `--workers`: server processes on the one port. */
  workers: number;
  /** `--watch` (true), `--no-watch` (false); undefined: the server decides (on, except in production). */
  watch: boolean | undefined;
  /** `--typecheck`; undefined: the default (warn while watching, else off). */
  typecheck: TypecheckMode | undefined;
  /** The files of `databench test` (none: every test of the analyses folder). */
  files: string[];
  /** `--production`: production defaults whatever the bind; undefined: the server decides. */
  production: true | undefined;
  /** `--error-details` (true), `--no-error-details` (false); undefined: the server decides (off in production). */
  errorDetails: boolean | undefined;
  /** `--trust-proxy`: the client address comes from X-Forwarded-For. */
  trustProxy: boolean;
  /** `--token`; undefined: the server's (env DATABENCH_TOKEN, else generated off loopback). */
  token: string | undefined;
  /** `--no-auth`: no token even off loopback. */
  noAuth: boolean;
  /** `--auth oidc`: sign in with OpenID Connect. */
  auth: 'oidc' | undefined;
  oidcIssuer: string | undefined;
  oidcClientId: string | undefined;
  publicUrl: string | undefined;
  /** `--secret`; undefined: env DATABENCH_SECRET. */
  secret: string | undefined;
  sslPort: number | undefined;
  sslCertFile: string | undefined;
  sslKeyFile: string | undefined;
  cliArgs: string[];
}

const WITH_VALUE = new Set([
  '--host',
  '--port',
  '--log',
  '--analyses',
  '--allow-origin',
  '--max-frame-bytes',
  '--max-upload-mb',
  '--share-hours',
  '--datastore',
  '--workers',
  '--ssl-port',
  '--ssl-certfile',
  '--ssl-keyfile',
  '--typecheck',
  '--coverage',
  '--token',
  '--auth',
  '--oidc-issuer',
  '--oidc-client-id',
  '--public-url',
  '--secret',
]);
/** Every option, for the did-you-mean of a mistyped one. */
const KNOWN = [
  ...WITH_VALUE,
  '--help',
  '--version',
  '--build',
  '--no-watch',
  '--watch',
  '--error-details',
  '--no-error-details',
  '--production',
  '--trust-proxy',
  '--no-auth',
];

/**
 * Whether `a` becomes `b` with one edit: a character inserted, deleted,
 * replaced, or two neighbours swapped (`--prot` → `--port`).
 */
export function oneEditApart(a: string, b: string): boolean {
  if (a === b || Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  if (a.length === b.length) {
    if (a.slice(i + 1) === b.slice(i + 1)) return true;
    return a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2);
  }
  return a.length > b.length ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
}

/** The option `flag` is a typo of, if it is one edit away from exactly one. */
function didYouMean(flag: string): string | undefined {
  if (!flag.startsWith('--')) return undefined;
  const near = KNOWN.filter((known) => oneEditApart(flag, known));
  return near.length === 1 ? near[0] : undefined;
}
const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'];
/** databench 0.7's Python level names, in any case, mapped to ours. */
const LEVEL_ALIASES: Record<string, string> = { warning: 'warn', critical: 'error' };

/** The log level a `--log` value names (`DEBUG`, `WARNING`, `critical`, `warn`, …), or undefined. */
function logLevelOf(value: string): string | undefined {
  const name = value.toLowerCase();
  const level = LEVEL_ALIASES[name] ?? name;
  return LEVELS.includes(level) ? level : undefined;
}

function portValue(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) {
    throw new CliError(`${flag} needs a port number from 0 to 65535, got "${value}"`, 2);
  }
  return n;
}

/** `memory` or a `redis://` / `rediss://` URL; anything else is bad usage. */
function datastoreValue(flag: string, value: string): string {
  if (isDatastoreSetting(value)) return value;
  throw new CliError(
    `${flag} needs redis://HOST:PORT/DB (or memory), got "${redactDatastore(value)}"`,
    2,
  );
}

/**
 * Parse `argv` (without node and the script). Known flags are checked; every
 * other flag is kept, in order, for the analyses (like argparse's
 * parse_known_args in the original). The environment is not read here: the
 * server resolves each option from its flag, the environment, index.yaml and
 * its default in one place (server/options.ts).
 */
export function parseCli(argv: string[]): CliOptions {
  const o: CliOptions = {
    command: 'serve',
    python: false,
    v07: false,
    kernel: undefined,
    coverage: undefined,
    name: undefined,
    host: undefined,
    port: undefined,
    log: undefined,
    analyses: undefined,
    allowOrigins: [],
    maxFrameBytes: undefined,
    maxUploadBytes: undefined,
    shareExpiresMs: undefined,
    datastore: undefined,
    workers: 1,
    watch: undefined,
    typecheck: undefined,
    files: [],
    errorDetails: undefined,
    production: undefined,
    trustProxy: false,
    token: undefined,
    noAuth: false,
    auth: undefined,
    oidcIssuer: undefined,
    oidcClientId: undefined,
    publicUrl: undefined,
    secret: undefined,
    sslPort: undefined,
    sslCertFile: undefined,
    sslKeyFile: undefined,
    cliArgs: [],
  };
  let i = 0;
  if (argv[0] === 'scaffold-databench') {
    // the `scaffold-databench` command (bin/scaffold-databench.js), with 0.7's flags
    return parseScaffold07(o, argv.slice(1));
  }
  if (argv[0] === 'new') {
    o.command = 'new';
    o.name = argv[1];
    if (o.name === undefined || o.name.startsWith('-')) {
      throw new CliError('usage: databench new NAME', 2);
    }
    i = 2;
  } else if (argv[0] === 'check') {
    o.command = 'check';
    i = 1;
    // `databench check FOLDER`: the folder as --analyses takes it
    const folder = argv[1];
    if (folder !== undefined && !folder.startsWith('-')) {
      o.analyses = folder;
      i = 2;
    }
  } else if (argv[0] === 'test') {
    // everything after `test` goes to Node's test runner: files and its own flags
    o.command = 'test';
    o.files = argv.slice(1);
    return o;
  }
  for (; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      o.cliArgs.push(...argv.slice(i + 1));
      break;
    }
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (o.command === 'new' && arg === '--python') {
      o.python = true;
      continue;
    }
    if (arg === '--python-path') {
      o.command = 'python-path';
      continue;
    }
    let value: string | undefined;
    if (WITH_VALUE.has(flag)) {
      value = eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || value === '') throw new CliError(`${flag} needs a value`, 2);
    }
    switch (flag) {
      case '--help':
      case '-h':
        o.command = 'help';
        break;
      case '--version':
        o.command = 'version';
        break;
      case '--build':
        o.command = 'build';
        break;
      case '--no-watch':
        o.watch = false;
        break;
      case '--watch':
        o.watch = true;
        break;
      case '--no-error-details':
        o.errorDetails = false;
        break;
      case '--error-details':
        o.errorDetails = true;
        break;
      case '--production':
        o.production = true;
        break;
      case '--trust-proxy':
        o.trustProxy = true;
        break;
      case '--no-auth':
        o.noAuth = true;
        break;
      case '--token':
        o.token = value;
        break;
      case '--auth':
        if (value !== 'oidc') throw new CliError(`--auth needs oidc, got "${value}"`, 2);
        o.auth = 'oidc';
        break;
      case '--oidc-issuer':
        o.oidcIssuer = value;
        break;
      case '--oidc-client-id':
        o.oidcClientId = value;
        break;
      case '--public-url':
        o.publicUrl = value;
        break;
      case '--secret':
        o.secret = value;
        break;
      case '--host':
        o.host = value;
        break;
      case '--port':
        o.port = portValue('--port', value ?? '');
        break;
      case '--ssl-port':
        o.sslPort = portValue('--ssl-port', value ?? '');
        break;
      case '--log':
        o.log = logLevelOf(value ?? '');
        if (o.log === undefined) {
          throw new CliError(
            `--log needs one of debug, info, warn (warning), error, critical or silent, in any case; got "${value}"`,
            2,
          );
        }
        break;
      case '--analyses':
        o.analyses = value;
        break;
      case '--allow-origin':
        o.allowOrigins.push(value ?? '');
        break;
      case '--max-frame-bytes': {
        const n = Number(value);
        if (!Number.isInteger(n) || n <= 0) {
          throw new CliError(`--max-frame-bytes needs a positive integer, got "${value}"`, 2);
        }
        o.maxFrameBytes = n;
        break;
      }
      case '--max-upload-mb': {
        const n = Number(value);
        if (
          !/^\d+(\.\d+)?$/.test(value ?? '') ||
          !(n > 0) ||
          n * (1 << 20) > Number.MAX_SAFE_INTEGER
        ) {
          throw new CliError(`--max-upload-mb needs a positive number of MiB, got "${value}"`, 2);
        }
        o.maxUploadBytes = Math.max(1, Math.round(n * (1 << 20)));
        break;
      }
      case '--share-hours': {
        const n = Number(value);
        // at most what a timer can wait (2^31 - 1 ms, about 596 hours)
        if (!/^\d+(\.\d+)?$/.test(value ?? '') || !(n > 0) || n * 3_600_000 > 0x7fffffff) {
          throw new CliError(
            `--share-hours needs a positive number of hours, at most 596, got "${value}"`,
            2,
          );
        }
        o.shareExpiresMs = Math.max(1, Math.round(n * 3_600_000));
        break;
      }
      case '--datastore':
        o.datastore = datastoreValue('--datastore', value ?? '');
        break;
      case '--workers': {
        const n = Number(value);
        if (!/^\d+$/.test(value ?? '') || n < 1 || n > 256) {
          throw new CliError(
            `--workers needs a number of processes from 1 to 256, got "${value}"`,
            2,
          );
        }
        o.workers = n;
        break;
      }
      case '--ssl-certfile':
        o.sslCertFile = value;
        break;
      case '--ssl-keyfile':
        o.sslKeyFile = value;
        break;
      case '--coverage':
        o.coverage = value;
        break;
      case '--typecheck': {
        const mode = (value ?? '').toLowerCase();
        if (!(TYPECHECK_MODES as readonly string[]).includes(mode)) {
          throw new CliError(
            `--typecheck needs one of ${TYPECHECK_MODES.join(', ')}, got "${value}"`,
            2,
          );
        }
        o.typecheck = mode as TypecheckMode;
        break;
      }
      default: {
        // a near miss of an option would silently become an analysis flag while
        // the server runs with the default: refuse it (the analyses get it after --)
        const meant = didYouMean(flag);
        if (meant !== undefined) {
          throw new CliError(
            `unknown option ${flag}: did you mean ${meant}? ` +
              `(to pass ${flag} to the analyses, put it after --: databench -- ${arg})`,
            2,
          );
        }
        o.cliArgs.push(arg);
      }
    }
  }
  if (o.noAuth && o.token !== undefined) {
    throw new CliError('--token and --no-auth contradict each other: give one', 2);
  }
  if (o.auth === undefined && (o.oidcIssuer ?? o.oidcClientId ?? o.publicUrl) !== undefined) {
    throw new CliError('--oidc-issuer, --oidc-client-id and --public-url need --auth oidc', 2);
  }
  if (o.auth === 'oidc' && o.noAuth) {
    throw new CliError('--auth oidc and --no-auth contradict each other: give one', 2);
  }
  if ((o.sslCertFile === undefined) !== (o.sslKeyFile === undefined)) {
    throw new CliError('--ssl-certfile and --ssl-keyfile go together', 2);
  }
  if ((o.sslCertFile !== undefined || o.sslKeyFile !== undefined) && o.sslPort === undefined) {
    throw new CliError('--ssl-certfile and --ssl-keyfile need --ssl-port', 2);
  }
  if (o.command === 'check' && o.cliArgs.length > 0) {
    // check passes nothing on: a second folder or an unknown flag is a mistake
    throw new CliError(`usage: databench check [FOLDER]; "${o.cliArgs[0]}" is not one of its`, 2);
  }
  return o;
}

/**
 * `scaffold-databench NAME [--kernel py] [-y]`, as databench 0.7's command
 * took it: `-y` (answer every question with yes) is accepted and changes
 * nothing, since nothing is asked.
 */
function parseScaffold07(o: CliOptions, argv: string[]): CliOptions {
  const usage = 'usage: scaffold-databench NAME [--kernel py]';
  o.command = 'new';
  o.v07 = true;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '-y') continue;
    if (arg === '--kernel' || arg.startsWith('--kernel=')) {
      const value = arg === '--kernel' ? argv[++i] : arg.slice(9);
      if (value !== 'py') {
        throw new CliError(
          `--kernel ${value ?? ''}: only py is a kernel here (without it, analysis.py also runs in Python); ${usage}`,
          2,
        );
      }
      o.kernel = value;
      continue;
    }
    if (arg === '--analyses' || arg.startsWith('--analyses=')) {
      o.analyses = arg === '--analyses' ? argv[++i] : arg.slice(11);
      continue;
    }
    if (arg.startsWith('-') || o.name !== undefined) throw new CliError(usage, 2);
    o.name = arg;
  }
  if (o.name === undefined) throw new CliError(usage, 2);
  return o;
}

/**
 * Run the CLI; resolves to the exit code (the server keeps running until a
 * signal). Every failure ends here: one line on stderr and its exit code
 * (see `reportError`).
 */
export async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(parseCli(argv));
  } catch (error) {
    const { text, exitCode } = reportError(error);
    process.stderr.write(`databench: ${text}\n`);
    return exitCode;
  }
}

async function dispatch(o: CliOptions): Promise<number> {
  switch (o.command) {
    case 'help':
      process.stdout.write(USAGE + '\n');
      return 0;
    case 'version': {
      const { DATABENCH_VERSION } = await import('../util/version.js');
      process.stdout.write(`databench ${DATABENCH_VERSION}\n`);
      return 0;
    }
    case 'new': {
      const { runScaffold } = await import('./commands.js');
      return runScaffold(o);
    }
    case 'test': {
      const { runTests } = await import('./commands.js');
      return runTests(o);
    }
    case 'check': {
      const { runCheck } = await import('./commands.js');
      return runCheck(o);
    }
    case 'build': {
      const { runBuild } = await import('./commands.js');
      return runBuild(o);
    }
    case 'python-path': {
      const { runPythonPath } = await import('./commands.js');
      return runPythonPath();
    }
    case 'serve': {
      const { runServe } = await import('./commands.js');
      return runServe(o);
    }
    default: {
      const never: never = o.command;
      throw new Error(`unknown command ${String(never)}`);
    }
  }
}
