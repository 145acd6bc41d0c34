import { writeFile } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { CliError } from './errors.js';
import { readTextIfExists } from './scaffold.js';

/** What {@link setUpProject} did, as absolute paths and short notes. */
export interface ProjectSetup {
  /** Files it created (tsconfig.json, tsconfig.pages.json, package.json). */
  created: string[];
  /** Files that existed and got additions, each with what was added. */
  updated: Array<{ path: string; added: string[] }>;
  /** Packages it added to devDependencies: `npm install` fetches them. */
  devDependencies: string[];
}

/**
 * The dev tools a scaffolded project declares itself, so that its scripts
 * never depend on what another package's dependencies happen to hoist.
 * TypeScript's range is the one this version of databench is tested with.
 */
export const PROJECT_DEV_DEPENDENCIES: Readonly<Record<string, string>> = {
  typescript: '^5.9.3',
  // the types of the Node that runs the project
  '@types/node': `^${process.versions.node.split('.')[0]}.0.0`,
};

/** The scripts `databench new` adds when a project has none of that name. */
export const PROJECT_SCRIPTS: Readonly<Record<string, string>> = {
  start: 'databench',
  // the analyses (Node), the pages' own scripts (DOM), then the names the pages use
  typecheck: 'tsc -p tsconfig.json && tsc -p tsconfig.pages.json && databench check',
  test: 'databench test',
};

/** The page scripts of a project: bundled for the browser, checked with the DOM's types. */
export const PAGE_SCRIPTS = '*.page.ts';

/** The script `npm init` writes: it counts as no test script. */
const NPM_INIT_TEST = /^echo "Error: no test specified" && exit 1$/;

/**
 * The tsconfig.json of a new project: strict checks of the analyses, no
 * output (tsx runs them as they are), Node's own module rules, and the
 * package's published types checked like any other (no skipLibCheck). The
 * pages' own scripts (`*.page.ts`) are left to {@link pagesTsconfig}: the
 * analyses see no DOM (`document` in an analysis is a type error).
 */
export function projectTsconfig(folder: string): string {
  const config = {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      lib: ['ES2023'],
      types: ['node'],
      strict: true,
      noEmit: true,
      isolatedModules: true,
      forceConsistentCasingInFileNames: true,
    },
    include: [`${folder}**/*.ts`],
    exclude: [`${folder}**/${PAGE_SCRIPTS}`],
  };
  return JSON.stringify(config, null, 2) + '\n';
}

/**
 * The tsconfig.pages.json of a new project: the pages' own scripts
 * (`*.page.ts`, bundled for the browser) with the DOM's types and a
 * bundler's module rules, where `databench-ts/client` and the analysis's
 * type (`import type { Hello } from './analysis.js'`) type-check. The
 * analyses are in it too (a page script imports their types; and a project
 * without page scripts still has something to check). Node's types stay,
 * for the analyses' own imports.
 */
export function pagesTsconfig(folder: string): string {
  const config = {
    compilerOptions: {
      target: 'ES2022',
      module: 'ESNext',
      moduleResolution: 'Bundler',
      lib: ['ES2023', 'DOM', 'DOM.Iterable'],
      types: ['node'],
      strict: true,
      noEmit: true,
      isolatedModules: true,
      forceConsistentCasingInFileNames: true,
    },
    include: [`${folder}**/${PAGE_SCRIPTS}`, `${folder}**/analysis.ts`],
  };
  return JSON.stringify(config, null, 2) + '\n';
}

/**
 * Give the project in `projectDir` what type checking and testing its
 * analyses need, where it is missing: a `tsconfig.json` that checks the
 * `.ts` files of `analysesDir`, a `tsconfig.pages.json` for the pages' own
 * scripts (`*.page.ts`), and in `package.json` (created when there is none)
 * the scripts `start`, `typecheck` and `test` and the dev dependencies
 * `typescript` and `@types/node`. Nothing that is there is changed: an
 * existing tsconfig, script or dependency is kept as it is.
 *
 * @param packageName this package's name and version, added as a dependency
 *   to a package.json that this call creates.
 */
export async function setUpProject(
  projectDir: string,
  analysesDir: string,
  packageName: { name: string; version: string },
): Promise<ProjectSetup> {
  const result: ProjectSetup = { created: [], updated: [], devDependencies: [] };

  const packagePath = join(projectDir, 'package.json');
  const text = await readTextIfExists(packagePath);
  let pkg: Record<string, unknown>;
  if (text === undefined) {
    pkg = {
      name: npmName(basename(projectDir)),
      version: '0.1.0',
      private: true,
      type: 'module',
      dependencies: { [packageName.name]: `^${packageName.version}` },
    };
  } else {
    try {
      pkg = JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      throw new CliError(`${packagePath} is not valid JSON: ${(error as Error).message}`, 1, {
        cause: error,
      });
    }
    if (typeof pkg !== 'object' || pkg === null || Array.isArray(pkg)) {
      throw new CliError(`${packagePath} must hold an object`, 1);
    }
  }
  // package.json parsed first: a broken one stops everything before a file is written
  const rel = relative(projectDir, analysesDir).split(sep).join('/');
  const folder = rel === '' ? '' : `${rel}/`;
  for (const [name, text] of [
    ['tsconfig.json', projectTsconfig(folder)],
    ['tsconfig.pages.json', pagesTsconfig(folder)],
  ] as const) {
    const path = join(projectDir, name);
    try {
      // 'wx': an existing one (even an empty one) is kept
      await writeFile(path, text, { flag: 'wx' });
      result.created.push(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }

  const added: string[] = [];
  const scripts = record(pkg, 'scripts', packagePath);
  for (const [name, command] of Object.entries(PROJECT_SCRIPTS)) {
    const current = scripts[name];
    if (
      current === undefined ||
      (name === 'test' && typeof current === 'string' && NPM_INIT_TEST.test(current))
    ) {
      scripts[name] = command;
      added.push(`scripts.${name}`);
    }
  }
  const deps = record(pkg, 'dependencies', packagePath, false);
  const devDeps = record(pkg, 'devDependencies', packagePath);
  for (const [name, range] of Object.entries(PROJECT_DEV_DEPENDENCIES)) {
    if (deps[name] === undefined && devDeps[name] === undefined) {
      devDeps[name] = range;
      added.push(`devDependencies.${name}`);
      result.devDependencies.push(name);
    }
  }
  if (Object.keys(devDeps).length === 0) delete pkg['devDependencies'];
  if (text === undefined) {
    await writeFile(packagePath, JSON.stringify(pkg, null, 2) + '\n', { flag: 'wx' });
    result.created.push(packagePath);
  } else if (added.length > 0) {
    const indent = /^\{\r?\n([ \t]+)"/.exec(text)?.[1] ?? 2;
    await writeFile(
      packagePath,
      JSON.stringify(pkg, null, indent) + (text.endsWith('\n') ? '\n' : ''),
    );
    result.updated.push({ path: packagePath, added });
  }
  return result;
}

/** `pkg[key]` as an object, made when missing (unless `make` is false). */
function record(
  pkg: Record<string, unknown>,
  key: string,
  path: string,
  make = true,
): Record<string, unknown> {
  const value = pkg[key];
  if (value === undefined) {
    const fresh: Record<string, unknown> = {};
    if (make) pkg[key] = fresh;
    return fresh;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliError(`${path}: "${key}" must be an object`, 1);
  }
  return value as Record<string, unknown>;
}

/** A folder name as an npm package name (lowercase, URL-safe). */
function npmName(folder: string): string {
  const name = folder
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+/, '');
  return name || 'analyses';
}
