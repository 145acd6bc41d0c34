import { CliError } from './errors.js';

/** The usage text of `databench --help`. */
export const USAGE = `Usage: databench [options] [-- analysis args]
       databench new NAME          create analyses/NAME (alias: scaffold-databench NAME)

Serve a folder of analyses: --analyses PATH, else ./analyses/index.yaml,
else ./index.yaml, else the packaged example analyses.

Options:
  --host HOST           interface to bind (env HOST; default 127.0.0.1)
  --port PORT           port (env PORT; default 5000)
  --log LEVEL           debug, info, warn(ing), error, critical or silent,
                        in any case (default info)
  --analyses PATH       the analyses folder or its index.yaml
  --allow-origin ORIGIN also accept WebSockets from ORIGIN (repeatable)
  --max-frame-bytes N   largest frame a client may send (default 16777216)
  --no-watch            do not reload analyses when their files change
  --no-error-details    show a failing handler's message only, without the
                        file:line of the code (the default off loopback)
  --build               run the build commands of index.yaml and exit
  --ssl-port PORT       also serve HTTPS/WSS on PORT
  --ssl-certfile FILE   PEM certificate (default: self-signed, made at start)
  --ssl-keyfile FILE    PEM private key
  --version             print the version and exit
  --help                print this help and exit

Flags it does not know are passed to the analyses as cliArgs.`;

/** Parsed command line of `databench`. */
export interface CliOptions {
  command: 'serve' | 'new' | 'help' | 'version' | 'build';
  name: string | undefined;
  host: string | undefined;
  port: number | undefined;
  log: string | undefined;
  analyses: string | undefined;
  allowOrigins: string[];
  maxFrameBytes: number | undefined;
  watch: boolean;
  /** false with --no-error-details; undefined: the server decides by the bind address. */
  errorDetails: boolean | undefined;
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
  '--ssl-port',
  '--ssl-certfile',
  '--ssl-keyfile',
]);
const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'];
/** databench 0.7's Python level names, in any case, mapped to ours. */
const LEVEL_ALIASES: Record<string, string> = { warning: 'warn', critical: 'error' };

/** The log level a `--log` value names (`DEBUG`, `WARNING`, `critical`, `warn`, …), or undefined. */
export function logLevelOf(value: string): string | undefined {
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

/**
 * Parse `argv` (without node and the script). Known flags are checked; every
 * other flag is kept, in order, for the analyses (like argparse's
 * parse_known_args in the original).
 */
export function parseCli(argv: string[], env: NodeJS.ProcessEnv = process.env): CliOptions {
  const o: CliOptions = {
    command: 'serve',
    name: undefined,
    host: env['HOST'] || undefined,
    port: undefined,
    log: undefined,
    analyses: undefined,
    allowOrigins: [],
    maxFrameBytes: undefined,
    watch: true,
    errorDetails: undefined,
    sslPort: undefined,
    sslCertFile: undefined,
    sslKeyFile: undefined,
    cliArgs: [],
  };
  if (env['PORT']) o.port = portValue('PORT', env['PORT']);
  let i = 0;
  if (argv[0] === 'new') {
    o.command = 'new';
    o.name = argv[1];
    if (o.name === undefined || o.name.startsWith('-')) {
      throw new CliError('usage: databench new NAME', 2);
    }
    i = 2;
  }
  for (; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      o.cliArgs.push(...argv.slice(i + 1));
      break;
    }
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
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
      case '--no-error-details':
        o.errorDetails = false;
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
      case '--ssl-certfile':
        o.sslCertFile = value;
        break;
      case '--ssl-keyfile':
        o.sslKeyFile = value;
        break;
      default:
        o.cliArgs.push(arg);
    }
  }
  if ((o.sslCertFile === undefined) !== (o.sslKeyFile === undefined)) {
    throw new CliError('--ssl-certfile and --ssl-keyfile go together', 2);
  }
  if ((o.sslCertFile !== undefined || o.sslKeyFile !== undefined) && o.sslPort === undefined) {
    throw new CliError('--ssl-certfile and --ssl-keyfile need --ssl-port', 2);
  }
  return o;
}

/** Run the CLI; resolves to the exit code (the server keeps running until a signal). */
export async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(parseCli(argv));
  } catch (error) {
    if (error instanceof CliError) {
      process.stderr.write(`databench: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`databench: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

async function dispatch(o: CliOptions): Promise<number> {
  switch (o.command) {
    case 'help':
      process.stdout.write(USAGE + '\n');
      return 0;
    case 'version': {
      const { DATABENCH_VERSION } = await import('../server/create-server.js');
      process.stdout.write(`databench ${DATABENCH_VERSION}\n`);
      return 0;
    }
    case 'new': {
      const { runScaffold } = await import('./commands.js');
      return runScaffold(o);
    }
    case 'build': {
      const { runBuild } = await import('./commands.js');
      return runBuild(o);
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
