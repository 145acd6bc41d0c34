import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findAnalysesDir } from '../app/app.js';
import { parseIndexYaml } from '../app/config.js';
import type { Logger } from '../util/logger.js';
import { CliError } from './errors.js';

/** One build step: where it runs and the shell command. */
export interface BuildStep {
  label: string;
  cwd: string;
  command: string;
}

/** The build steps of index.yaml: the folder's `build`, then each analysis's `build`. */
export async function buildSteps(dir: string): Promise<BuildStep[]> {
  let text: string;
  try {
    text = await readFile(join(dir, 'index.yaml'), 'utf8');
  } catch {
    throw new CliError(`no index.yaml in ${dir}: nothing to build`, 2);
  }
  const config = parseIndexYaml(text);
  if (!config.readable)
    throw new CliError(config.errors[0]?.message ?? 'index.yaml: unreadable', 1);
  const steps: BuildStep[] = [];
  if (config.analyses.build !== undefined) {
    steps.push({ label: 'index.yaml build', cwd: dir, command: config.analyses.build });
  }
  for (const entry of config.entries ?? []) {
    if (entry.build !== undefined) {
      steps.push({
        label: `${entry.name} build`,
        cwd: join(dir, entry.name),
        command: entry.build,
      });
    }
  }
  return steps;
}

/**
 * `databench --build`: run every build step in order with its output
 * streamed; stop at the first failure and return a non-zero exit code.
 */
export async function runBuildCommands(options: {
  analyses?: string | undefined;
  cwd: string;
  logger: Logger;
  stdout?: NodeJS.WritableStream;
}): Promise<number> {
  const { dir } = await findAnalysesDir(options.cwd, options.analyses);
  const steps = await buildSteps(dir);
  if (steps.length === 0) {
    options.logger.info('no build commands in index.yaml');
    return 0;
  }
  for (const step of steps) {
    options.logger.info(`${step.label}: ${step.command}`);
    const code = await new Promise<number>((resolve) => {
      const child = spawn(step.command, {
        cwd: step.cwd,
        shell: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out = options.stdout ?? process.stdout;
      child.stdout.pipe(out, { end: false });
      child.stderr.pipe(options.stdout ?? process.stderr, { end: false });
      child.on('error', () => resolve(127));
      child.on('close', (c) => resolve(c ?? 1));
    });
    if (code !== 0) {
      options.logger.error(`${step.label} failed with exit code ${code}`);
      return code;
    }
  }
  return 0;
}
