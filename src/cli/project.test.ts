import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { PROJECT_DEV_DEPENDENCIES, PROJECT_SCRIPTS, setUpProject } from './project.js';

const SELF = { name: 'databench', version: '1.2.3' };
let root: string;
let counter = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'databench-project-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function fresh(): Promise<string> {
  const dir = join(root, `p${counter++}`);
  await mkdir(join(dir, 'analyses'), { recursive: true });
  return dir;
}

async function json(path: string): Promise<Record<string, Record<string, string>>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, Record<string, string>>;
}

test('an empty folder gets a tsconfig.json over analyses/ and a package.json with scripts and tools', async () => {
  const dir = await fresh();
  const setup = await setUpProject(dir, join(dir, 'analyses'), SELF);
  assert.deepEqual(setup.created, [
    join(dir, 'tsconfig.json'),
    join(dir, 'tsconfig.pages.json'),
    join(dir, 'package.json'),
  ]);
  assert.deepEqual(setup.devDependencies, ['typescript', '@types/node']);
  const tsconfig = await json(join(dir, 'tsconfig.json'));
  assert.deepEqual(tsconfig['include'], ['analyses/**/*.ts']);
  assert.deepEqual(tsconfig['exclude'], ['analyses/**/*.page.ts'], 'page scripts see the DOM');
  assert.deepEqual(tsconfig['compilerOptions']?.['lib'], ['ES2023'], 'the analyses do not');
  const pages = await json(join(dir, 'tsconfig.pages.json'));
  assert.deepEqual(pages['include'], ['analyses/**/*.page.ts', 'analyses/**/analysis.ts']);
  assert.deepEqual(pages['compilerOptions']?.['lib'], ['ES2023', 'DOM', 'DOM.Iterable']);
  assert.equal(pages['compilerOptions']?.['moduleResolution'], 'Bundler');
  assert.equal(
    tsconfig['compilerOptions']?.['skipLibCheck'],
    undefined,
    'library types are checked',
  );
  const pkg = await json(join(dir, 'package.json'));
  assert.deepEqual(pkg['scripts'], PROJECT_SCRIPTS);
  assert.deepEqual(pkg['devDependencies'], PROJECT_DEV_DEPENDENCIES);
  assert.deepEqual(pkg['dependencies'], { databench: '^1.2.3' });
  assert.equal(pkg['type'], 'module');
});

test("npm init's package.json keeps what it has and gets what is missing; a second run adds nothing", async () => {
  const dir = await fresh();
  const before = {
    name: 'mine',
    version: '1.0.0',
    scripts: { test: 'echo "Error: no test specified" && exit 1', start: 'node server.js' },
    dependencies: { databench: '^0.1.0' },
    devDependencies: { typescript: '~5.4.0' },
  };
  await writeFile(join(dir, 'package.json'), JSON.stringify(before, null, 4) + '\n');
  await writeFile(join(dir, 'tsconfig.json'), '{ "compilerOptions": {} }\n');
  const setup = await setUpProject(dir, join(dir, 'analyses'), SELF);
  assert.deepEqual(setup.created, [join(dir, 'tsconfig.pages.json')]);
  assert.deepEqual(setup.updated, [
    {
      path: join(dir, 'package.json'),
      added: ['scripts.typecheck', 'scripts.test', 'devDependencies.@types/node'],
    },
  ]);
  const text = await readFile(join(dir, 'package.json'), 'utf8');
  assert.match(text, /^\{\n {4}"name"/, 'the indentation is kept');
  const pkg = JSON.parse(text) as typeof before & { scripts: Record<string, string> };
  assert.equal(pkg.scripts.start, 'node server.js');
  assert.equal(pkg.scripts['test'], 'databench test');
  assert.equal(pkg.devDependencies.typescript, '~5.4.0');
  assert.equal(await readFile(join(dir, 'tsconfig.json'), 'utf8'), '{ "compilerOptions": {} }\n');
  const again = await setUpProject(dir, join(dir, 'analyses'), SELF);
  assert.deepEqual(again, { created: [], updated: [], devDependencies: [] });
});

test('analyses in the project folder itself: the tsconfig includes every .ts', async () => {
  const dir = await fresh();
  await setUpProject(dir, dir, SELF);
  assert.deepEqual((await json(join(dir, 'tsconfig.json')))['include'], ['**/*.ts']);
  assert.deepEqual((await json(join(dir, 'tsconfig.pages.json')))['include'], [
    '**/*.page.ts',
    '**/analysis.ts',
  ]);
});

test('a package.json that is not JSON is an error naming it, and nothing is written', async () => {
  const dir = await fresh();
  await writeFile(join(dir, 'package.json'), '{ nope');
  await assert.rejects(
    setUpProject(dir, join(dir, 'analyses'), SELF),
    /package\.json is not valid JSON/,
  );
  assert.equal(await readFile(join(dir, 'package.json'), 'utf8'), '{ nope');
  await assert.rejects(readFile(join(dir, 'tsconfig.json')), { code: 'ENOENT' });
});
