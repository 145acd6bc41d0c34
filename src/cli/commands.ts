import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { DatabenchError, describeError } from '../protocol/errors.js';
import { createLogger, isLogLevel, setDefaultLogger, type Logger } from '../util/logger.js';
import { authServerOptions } from './auth-options.js';
import { CliError } from './errors.js';
import type { CliOptions } from './main.js';
import type { TypeCheckReporter } from './typecheck.js';

function logger(o: CliOptions) {
  const level = o.log !== undefined && isLogLevel(o.log) ? o.log : 'info';
  const log = createLogger(level);
  setDefaultLogger(log);
  return log;
}

/** `databench`: serve until SIGINT/SIGTERM, then close every session with 1001 and exit 0. */
export async function runServe(o: CliOptions): Promise<number> {
  if (o.coverage !== undefined) {
    // the Python kernels (and the workers' kernels) read it as they start
    process.env['DATABENCH_COVERAGE'] = resolve(process.cwd(), o.coverage);
  }
  if (o.workers > 1) {
    const cluster = (await import('node:cluster')).default;
    if (cluster.isPrimary) {
      const { runWorkers } = await import('./workers.js');
      return runWorkers(o);
    }
  }
  const { createServer } = await import('../server/create-server.js');
  const log = logger(o);
  if (o.coverage !== undefined) await checkCoverage(o.coverage, log);
  const cwd = process.cwd();
  let typecheck: TypeCheckReporter | undefined;
  const startTypeCheck = async (mode: 'warn' | 'error', explicit: boolean): Promise<void> => {
    const { findAnalysesDir } = await import('../app/app.js');
    const { prepareTypeCheck } = await import('./typecheck.js');
    const found = await findAnalysesDir(cwd, o.analyses);
    typecheck = await prepareTypeCheck({ mode, explicit, ...found, cwd, logger: log });
  };
  let server;
  try {
    // a mode given: checked before the server starts (`error` refuses to start with type errors)
    if (o.typecheck !== undefined && o.typecheck !== 'off') await startTypeCheck(o.typecheck, true);
    server = await createServer({
      onReload: (app) => typecheck?.reloaded(app),
      host: o.host,
      port: o.port,
      analyses: o.analyses,
      cliArgs: o.cliArgs,
      logger: log,
      allowOrigins: o.allowOrigins,
      maxFrameBytes: o.maxFrameBytes,
      maxUploadBytes: o.maxUploadBytes,
      shareExpiresMs: o.shareExpiresMs,
      sslPort: o.sslPort,
      sslCertFile: o.sslCertFile,
      sslKeyFile: o.sslKeyFile,
      // the server resolves the defaults: on for an author, off in production
      watch: o.watch ?? 'auto',
      workers: o.workers,
      production: o.production,
      typecheck: o.typecheck,
      errorDetails: o.errorDetails,
      trustProxy: o.trustProxy,
      datastore: o.datastore,
      ...authServerOptions(o),
      // HOST, PORT, DATABENCH_DATASTORE and DATABENCH_TOKEN for the options not given as flags
      env: process.env,
    });
    // the default (warn while watching, off in production): a check in the background
    const mode = server.mode.typecheck;
    if (o.typecheck === undefined && mode !== 'off') await startTypeCheck(mode, false);
  } catch (error) {
    // main() reports it, with the exit code of its kind
    await typecheck?.close();
    await server?.close();
    // a cluster worker's channel to its primary would keep it alive: the primary sees it exit
    const cluster = (await import('node:cluster')).default;
    if (cluster.isWorker) process.disconnect();
    throw error;
  }
  const { reportServing } = await import('./workers.js');
  const running = server;
  typecheck?.attach(server);
  // an analysis that forgets to await a failing write must not take the server down
  process.on('unhandledRejection', (reason) => {
    // describeError: a reason without a prototype must not turn into a crash here
    log.error(`unhandled rejection: ${describeError(reason).stack}`);
  });
  return new Promise<number>((resolve) => {
    let stopping = 0;
    const stop = (signal: string): void => {
      if (stopping) {
        // a terminal sends Ctrl-C to the whole process group (our wrapper forwards it
        // too): a repeat within half a second is that echo, a later one means "now"
        if (Date.now() - stopping < 500) return;
        log.warn(`${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = Date.now();
      log.info(`${signal}: shutting down`);
      const cap = setTimeout(() => {
        const open = running.sessions.size;
        log.warn(
          `shutdown took more than ${SHUTDOWN_CAP_MS} ms (${open} session(s) still open): exiting anyway`,
        );
        exitSoon(0);
      }, SHUTDOWN_CAP_MS);
      Promise.all([running.close(), typecheck?.close()]).then(
        async () => {
          clearTimeout(cap);
          // a cluster worker's channel to its primary would keep it alive
          const cluster = (await import('node:cluster')).default;
          if (cluster.isWorker) process.disconnect();
          resolve(0);
          // a handler's raw setInterval or socket must not keep the process alive
          exitSoon(0);
        },
        (error: unknown) => {
          clearTimeout(cap);
          log.error(`shutdown failed: ${String(error)}`);
          resolve(1);
          exitSoon(1);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    // only now: whoever reads this line may stop the server at once, and the
    // signal must find its handler (before it, a SIGTERM killed the process)
    reportServing(running.url, running.sslUrl, running.token);
  });
}

/**
 * `--coverage FILE` (0.7's flag): the Python kernels measure themselves with
 * the module coverage when their interpreter has it. One warning when the
 * default interpreter does not.
 */
async function checkCoverage(file: string, log: Logger): Promise<void> {
  const { resolvePython } = await import('../kernel/python/python-kernel.js');
  const python = resolvePython();
  const found = await new Promise<boolean>((done) => {
    const child = spawn(python, ['-c', 'import coverage'], { stdio: 'ignore' });
    child.on('error', () => done(false));
    child.on('exit', (code) => done(code === 0));
  });
  if (found) {
    log.info(
      `--coverage: Python kernels write ${file}.<host>.<pid>.<random> (coverage combine merges them)`,
    );
  } else {
    log.warn(
      `--coverage ${file}: ${python} has no module coverage: the Python analyses are not measured (pip install coverage, or apt-get install python3-coverage)`,
    );
  }
}

/** How long a shutdown may take before the process exits regardless. */
const SHUTDOWN_CAP_MS = 6000;

/** Exit once pending output is written, whatever user code left running. */
function exitSoon(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 100).unref();
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

/** `databench new NAME` (and `scaffold-databench NAME`): scaffold an analysis in ./analyses. */
export async function runScaffold(o: CliOptions): Promise<number> {
  const { scaffoldAnalysis } = await import('./scaffold.js');
  const { findAnalysesDir } = await import('../app/app.js');
  const cwd = process.cwd();
  let analysesDir =
    o.analyses !== undefined ? (await findAnalysesDir(cwd, o.analyses)).dir : join(cwd, 'analyses');
  if (o.analyses === undefined) {
    const found = await findAnalysesDir(cwd);
    if (!found.packaged) analysesDir = found.dir;
  }
  const show = (path: string): string => relative(cwd, path) || path;
  if (o.v07) {
    // databench 0.7's layout: Python, no package.json or tsconfig.json made
    const { created, updated } = await scaffoldAnalysis(o.name ?? '', {
      analysesDir,
      v07: true,
      ...(o.kernel !== undefined ? { kernel: o.kernel } : {}),
    });
    for (const file of created) process.stdout.write(`created ${show(file)}\n`);
    for (const file of updated) process.stdout.write(`updated ${show(file)}\n`);
    process.stdout.write(
      `\nNext:\n  npx databench          # then open http://127.0.0.1:5000/${o.name}/\n`,
    );
    return 0;
  }
  const { created } = await scaffoldAnalysis(o.name ?? '', { analysesDir, python: o.python });
  const { setUpProject } = await import('./project.js');
  const { DATABENCH_PACKAGE } = await import('../util/version.js');
  const project = await setUpProject(cwd, analysesDir, DATABENCH_PACKAGE);
  for (const file of [...created, ...project.created]) {
    process.stdout.write(`created ${show(file)}\n`);
  }
  for (const { path, added } of project.updated) {
    process.stdout.write(`updated ${show(path)}: added ${added.join(', ')}\n`);
  }
  const steps = [
    ...(project.devDependencies.length > 0
      ? [`npm install            # ${project.devDependencies.join(' and ')}, for npm run typecheck`]
      : []),
    `npx databench          # then open http://127.0.0.1:5000/${o.name}/`,
    ...(o.python
      ? [
          `cd ${show(join(analysesDir, o.name ?? ''))} && PYTHONPATH=$(npx databench --python-path) python3 -m unittest`,
        ]
      : [
          'npm run typecheck      # tsc over the analyses and page scripts, then databench check',
          'npm test               # databench test: every analyses/**/*.test.ts',
        ]),
  ];
  process.stdout.write(`\nNext:\n${steps.map((s) => `  ${s}\n`).join('')}`);
  return 0;
}

/**
 * `databench check [FOLDER]`: what the pages of the analyses name that the
 * analyses lack, one line each with its file:line on stdout; then a
 * `PAGE_NAMES` error (its exit code from the CLI's table) when there is any.
 */
export async function runCheck(o: CliOptions): Promise<number> {
  const cwd = process.cwd();
  const { findAnalysesDir } = await import('../app/app.js');
  const found = await findAnalysesDir(cwd, o.analyses);
  if (found.packaged) {
    throw new CliError(
      'no analyses folder here: run it where analyses/index.yaml is, or name the folder (databench check FOLDER)',
      2,
    );
  }
  const { checkAnalyses, formatReport, summary } = await import('./check.js');
  const report = await checkAnalyses({ dir: found.dir, cwd });
  process.stdout.write(formatReport(report, cwd));
  if (report.problems.length > 0) {
    throw new DatabenchError(
      'PAGE_NAMES',
      `check: ${summary(report)}: fix the names above (in the page, or add the handler or key to the analysis)`,
    );
  }
  return 0;
}

/** `databench --python-path`: where the Python package databench is (for PYTHONPATH). */
export async function runPythonPath(): Promise<number> {
  const { PYTHON_PACKAGE_DIR } = await import('../kernel/python/python-kernel.js');
  process.stdout.write(PYTHON_PACKAGE_DIR + '\n');
  return 0;
}

/** `databench --build`: run the build commands of index.yaml. */
export async function runBuild(o: CliOptions): Promise<number> {
  const { runBuildCommands } = await import('./build.js');
  return runBuildCommands({ analyses: o.analyses, cwd: process.cwd(), logger: logger(o) });
}

/**
 * `databench test [FILE...]`: Node's test runner with TypeScript loaded by
 * this package's own tsx (so a project needs nothing else, and nothing that
 * happens to be hoisted). With no file, every `*.test.ts` under the analyses
 * folder. Resolves to the runner's exit code.
 */
export async function runTests(o: CliOptions): Promise<number> {
  const cwd = process.cwd();
  const flags = o.files.filter((a) => a.startsWith('-'));
  let files = o.files.filter((a) => !a.startsWith('-'));
  if (files.length === 0) {
    const { findAnalysesDir } = await import('../app/app.js');
    const found = await findAnalysesDir(cwd, o.analyses);
    if (found.packaged) {
      throw new CliError('no analyses folder here: run it where analyses/index.yaml is', 2);
    }
    files = (await testFiles(found.dir)).map((f) => relative(cwd, f) || f);
    if (files.length === 0) {
      throw new CliError(`no *.test.ts files in ${relative(cwd, found.dir) || '.'}`, 1);
    }
  }
  // a clone of databench runs from src/ with its own export condition: keep it
  const conditions = process.execArgv.filter((a) => a.startsWith('--conditions'));
  const args = [
    ...conditions,
    '--import',
    import.meta.resolve('tsx'),
    '--test',
    ...flags,
    ...files,
  ];
  const child = spawn(process.execPath, args, { cwd, stdio: 'inherit' });
  return new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function testFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const item of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, item.name);
    if (item.isDirectory()) {
      if (!/^(node_modules|\..*)$/.test(item.name)) out.push(...(await testFiles(path)));
    } else if (/\.test\.[cm]?ts$/.test(item.name)) {
      out.push(path);
    }
  }
  return out.sort();
}
