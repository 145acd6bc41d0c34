import { join } from 'node:path';
import { createLogger, isLogLevel, setDefaultLogger } from '../server/logger.js';
import { CliError } from './errors.js';
import type { CliOptions } from './main.js';

function logger(o: CliOptions) {
  const level = o.log !== undefined && isLogLevel(o.log) ? o.log : 'info';
  const log = createLogger(level);
  setDefaultLogger(log);
  return log;
}

/** `databench`: serve until SIGINT/SIGTERM, then close every session with 1001 and exit 0. */
export async function runServe(o: CliOptions): Promise<number> {
  if (o.workers > 1) {
    const cluster = (await import('node:cluster')).default;
    if (cluster.isPrimary) {
      const { runWorkers } = await import('./workers.js');
      return runWorkers(o);
    }
  }
  const { createServer } = await import('../server/create-server.js');
  const log = logger(o);
  let server;
  try {
    server = await createServer({
      host: o.host,
      port: o.port,
      analyses: o.analyses,
      cliArgs: o.cliArgs,
      logger: log,
      allowOrigins: o.allowOrigins,
      maxFrameBytes: o.maxFrameBytes,
      sslPort: o.sslPort,
      sslCertFile: o.sslCertFile,
      sslKeyFile: o.sslKeyFile,
      watch: o.watch,
      datastore: o.datastore,
    });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'DATASTORE_URL') throw new CliError(e.message, 2);
    if (e.code === 'DATASTORE_UNREACHABLE' || e.code === 'DATASTORE_CLIENT_MISSING') {
      throw new CliError(e.message, 1);
    }
    if (e.code === 'EADDRINUSE')
      throw new CliError(`port ${o.port ?? 5000} is in use: pick another with --port`, 1);
    if (e.code === 'EACCES')
      throw new CliError(`not allowed to listen on port ${o.port ?? 5000}`, 1);
    if (e.message?.startsWith('analyses folder not found')) throw new CliError(e.message, 2);
    if (e.code === 'SSL_PORT_IN_USE') throw new CliError(e.message, 1);
    if (e.code === 'ENOENT' && e.path) throw new CliError(`cannot read ${e.path}`, 2);
    throw error;
  }
  const { reportServing } = await import('./workers.js');
  reportServing(server.url, server.sslUrl);
  const running = server;
  // an analysis that forgets to await a failing write must not take the server down
  process.on('unhandledRejection', (reason) => {
    log.error(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`);
  });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      // a second Ctrl-C (or the one a terminal sends to the whole process group) is ignored
      if (stopping) return;
      stopping = true;
      log.info(`${signal}: shutting down`);
      running.close().then(
        async () => {
          // a cluster worker's channel to its primary would keep it alive
          const cluster = (await import('node:cluster')).default;
          if (cluster.isWorker) process.disconnect();
          resolve(0);
        },
        (error: unknown) => {
          log.error(`shutdown failed: ${String(error)}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}

/** `databench new NAME`: scaffold an analysis in ./analyses. */
export async function runScaffold(o: CliOptions): Promise<number> {
  const { scaffoldAnalysis } = await import('./scaffold.js');
  const { findAnalysesDir } = await import('../server/app.js');
  const cwd = process.cwd();
  let analysesDir =
    o.analyses !== undefined ? (await findAnalysesDir(cwd, o.analyses)).dir : join(cwd, 'analyses');
  if (o.analyses === undefined) {
    const found = await findAnalysesDir(cwd);
    if (!found.packaged) analysesDir = found.dir;
  }
  const { created } = await scaffoldAnalysis(o.name ?? '', { analysesDir });
  for (const file of created) process.stdout.write(`created ${file}\n`);
  process.stdout.write(
    `\nStart it with: npx databench   (then open http://127.0.0.1:5000/${o.name}/)\n`,
  );
  return 0;
}

/** `databench --build`: run the build commands of index.yaml. */
export async function runBuild(o: CliOptions): Promise<number> {
  const { runBuildCommands } = await import('./build.js');
  return runBuildCommands({ analyses: o.analyses, cwd: process.cwd(), logger: logger(o) });
}
