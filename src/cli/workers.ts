// `databench --workers N`: N full server processes on the one port
// (node:cluster hands each new connection to one of them). They share state
// only through the datastore, so N > 1 needs Redis; no sticky sessions are
// needed because a page resumes its `data` from Redis on any process.
import cluster, { type Worker } from 'node:cluster';
import { createLogger, isLogLevel } from '../util/logger.js';
import { authServerOptions } from './auth-options.js';
import { CliError } from './errors.js';
import type { CliOptions } from './main.js';

/** The message a worker sends its primary once it listens. */
interface ServingMessage {
  databench: 'serving';
  url: string;
  sslUrl: string | undefined;
}

function isServing(m: unknown): m is ServingMessage {
  return (
    typeof m === 'object' && m !== null && (m as { databench?: unknown }).databench === 'serving'
  );
}

/**
 * Say where the server listens: a worker tells its primary (which prints one
 * line for all), a lone server prints it, with `token` (one generated at
 * start: nobody knows it yet) in the URL.
 */
export function reportServing(
  url: string,
  sslUrl: string | undefined,
  token: string | undefined,
): void {
  if (cluster.isWorker && process.send) {
    process.send({ databench: 'serving', url, sslUrl } satisfies ServingMessage);
    return;
  }
  process.stdout.write(`databench is serving at ${servingUrls(url, sslUrl, token)}\n`);
}

/**
 * The URLs to print: with `?token=` when the server needs one (on stdout
 * only, for whoever started it: the log never has the token).
 */
function servingUrls(url: string, sslUrl: string | undefined, token: string | undefined): string {
  const withToken = (u: string): string =>
    token === undefined ? u : `${u}/?token=${encodeURIComponent(token)}`;
  return `${withToken(url)}${sslUrl ? ` and ${withToken(sslUrl)}` : ''}`;
}

/**
 * The datastore and authentication the workers will use, resolved as each
 * worker's server will resolve them: the datastore from the flag, else
 * DATABENCH_DATASTORE, else index.yaml's `datastore`; the token likewise.
 */
async function serverSettings(o: CliOptions) {
  const { findAnalysesDir } = await import('../app/app.js');
  const { readIndexYaml } = await import('../app/config.js');
  const { resolveServerOptions } = await import('../server/options.js');
  const { dir } = await findAnalysesDir(process.cwd(), o.analyses);
  // a bad index.yaml has its errors collected: the workers report them
  const { config } = await readIndexYaml(dir);
  const resolved = resolveServerOptions(
    {
      datastore: o.datastore,
      host: o.host,
      // a login is the authentication: then no token is made for the workers
      ...authServerOptions(o),
    },
    process.env,
    config.analyses,
  );
  return { datastore: resolved.datastore, auth: resolved.auth };
}

/** Run the primary: fork `o.workers` servers, restart one that dies, stop them all on a signal. */
export async function runWorkers(o: CliOptions): Promise<number> {
  const settings = await serverSettings(o);
  if (settings.datastore === 'memory') {
    throw new CliError(
      `--workers ${o.workers} needs a datastore all processes share: give --datastore redis://HOST:PORT/DB`,
      2,
    );
  }
  if (typeof settings.datastore === 'string') {
    // an unreachable or refusing Redis: one line from here, rather than one per worker
    const { createRedisBackend } = await import('../datastore/backends/redis.js');
    await (await createRedisBackend(settings.datastore)).dispose();
  }
  // one token for every worker: made here, passed on as each worker's DATABENCH_TOKEN
  const generated = settings.auth.tokenGenerated ? settings.auth.token : undefined;
  if (generated !== undefined) process.env['DATABENCH_TOKEN'] = generated;
  const log = createLogger(o.log !== undefined && isLogLevel(o.log) ? o.log : 'info');
  let stopping = false;
  let ready = 0;
  let announced = false;
  const live = new Set<Worker>();

  let exitCode = 0;

  return new Promise<number>((resolve) => {
    const stopAll = (code: number): void => {
      stopping = true;
      exitCode = code;
      if (live.size === 0) resolve(code);
      for (const worker of live) worker.process.kill('SIGTERM');
    };
    const fork = (): void => {
      const worker = cluster.fork();
      live.add(worker);
      let listening = false;
      worker.on('message', (m: unknown) => {
        if (!isServing(m) || listening) return;
        listening = true;
        ready++;
        if (!announced && ready === o.workers) {
          announced = true;
          process.stdout.write(
            `databench is serving at ${servingUrls(m.url, m.sslUrl, generated)} with ${o.workers} workers\n`,
          );
        }
      });
      worker.on('exit', (code, signal) => {
        live.delete(worker);
        if (listening) ready--;
        if (stopping) {
          if (live.size === 0) resolve(exitCode);
          return;
        }
        if (!listening) {
          // a worker that cannot start (bad folder, Redis unreachable): its
          // error is on stderr already; the others would fail alike
          log.error(`a worker exited before it served (code ${code ?? signal}): stopping`);
          stopAll(code && code > 0 ? code : 1);
          return;
        }
        log.warn(
          `worker ${worker.process.pid} died (${signal ?? `code ${code}`}); starting another`,
        );
        fork();
      });
    };
    for (let i = 0; i < o.workers; i++) fork();
    const onSignal = (signal: string): void => {
      if (stopping) return;
      log.info(`${signal}: stopping ${live.size} workers`);
      stopAll(0);
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
  });
}
