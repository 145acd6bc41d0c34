import { CliError } from './errors.js';

/** The usage text of `databench --help`. */
export const USAGE = `Usage: databench [options] [-- analysis args]
       databench new NAME          create analyses/NAME (alias: scaffold-databench NAME)

Serve a folder of analyses: --analyses PATH, else ./analyses/index.yaml,
else ./index.yaml, else the packaged example analyses.

Options:
  --host HOST           interface to bind (env HOST; default 127.0.0.1)
  --port PORT           port (env PORT; default 5000)
  --log LEVEL           debug, info, warn, error or silent (default info)
  --analyses PATH       the analyses folder or its index.yaml
  --allow-origin ORIGIN also accept WebSockets from ORIGIN (repeatable)
  --max-frame-bytes N   largest frame a client may send (default 16777216)
  --datastore URL       keep data and classData in Redis: redis://HOST:PORT/DB
                        (env DATABENCH_DATASTORE, or datastore: in index.yaml;
                        default: in this process's memory)
  --workers N           run N server processes on the one port (needs --datastore)
  --no-watch            do not reload analyses when their files change
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
  /** `--datastore`, else env DATABENCH_DATASTORE. */
  datastore: string | undefined;
  /** `--workers`: server processes on the one port. */
  workers: number;
  watch: boolean;
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
  '--datastore',
  '--workers',
  '--ssl-port',
  '--ssl-certfile',
  '--ssl-keyfile',
]);
const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'];

function portValue(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) {
    throw new CliError(`${flag} needs a port number from 0 to 65535, got "${value}"`, 2);
  }
  return n;
}

/** `memory` or a `redis://` / `rediss://` URL; anything else is bad usage. */
function datastoreValue(flag: string, value: string): string {
  if (value === 'memory' || /^rediss?:\/\/[^/?#]+(\/\d*)?$/i.test(value)) return value;
  throw new CliError(
    `${flag} needs redis://HOST:PORT/DB (or memory), got "${value.replace(/\/\/[^@/]*@/, '//***@')}"`,
    2,
  );
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
    datastore: env['DATABENCH_DATASTORE'] || undefined,
    workers: 1,
    watch: true,
    sslPort: undefined,
    sslCertFile: undefined,
    sslKeyFile: undefined,
    cliArgs: [],
  };
  if (env['PORT']) o.port = portValue('PORT', env['PORT']);
  if (o.datastore !== undefined) o.datastore = datastoreValue('DATABENCH_DATASTORE', o.datastore);
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
        if (!LEVELS.includes((value ?? '').toLowerCase())) {
          throw new CliError(`--log needs one of ${LEVELS.join(', ')}, got "${value}"`, 2);
        }
        o.log = (value ?? '').toLowerCase();
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
