// The package as a user gets it: packed, installed from the tarball into an
// empty project, and the README's "Your first analysis" commands run as
// written (the registry name swapped for the tarball). The install reaches
// the npm registry (npm's cache first): without it the suite skips with one
// line, except under CI=true where it fails.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { serving, TestClient, until, wsUrlOf, type CliRun } from '../helpers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const PKG = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
};
const CI = process.env['CI'] === 'true';
const OFFLINE = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|network/i;

interface Result {
  code: number | null;
  output: string;
}

/** Run a command to its end; the output of both streams, in order. */
function run(command: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: '', HOST: '', NO_COLOR: '1' };
    // the child is a user's process, not a subtest of this runner
    delete env['NODE_TEST_CONTEXT'];
    delete env['NODE_OPTIONS'];
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += String(d)));
    child.stderr.on('data', (d: Buffer) => (output += String(d)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} took over ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** The commands of the README's first `sh` block under "Your first analysis", comments removed. */
async function firstAnalysisCommands(): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Your first analysis'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'the README has a "Your first analysis" sh block');
  return block
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter(Boolean);
}

function readSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function readdirSyncSafe(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** What building and packing reads. */
const COPIED = [
  'package.json',
  'README.md',
  'LICENSE',
  'tsconfig.json',
  'tsconfig.build.json',
  'bin',
  'scripts',
  'src',
  'templates',
  'analyses',
  'fonts',
];
const workDir = await mkdtemp(join(tmpdir(), 'databench-package-'));
const project = join(workDir, 'project');
let tarball = '';
/** Why the suite cannot run here (no registry); undefined when it can. */
let unavailable: string | undefined;

describe('the packed package in an empty project', { timeout: 300_000 }, () => {
  before(async () => {
    // built and packed from a copy: the checkout's dist/ is left alone for the other suites
    const copy = join(workDir, 'checkout');
    await mkdir(copy);
    for (const item of COPIED) await cp(join(ROOT, item), join(copy, item), { recursive: true });
    await symlink(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
    const built = await run(process.execPath, ['scripts/build.js'], copy);
    assert.equal(built.code, 0, built.output);
    const packed = await run(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', workDir],
      copy,
    );
    assert.equal(packed.code, 0, packed.output);
    const [info] = JSON.parse(packed.output.slice(packed.output.indexOf('['))) as Array<{
      filename: string;
    }>;
    tarball = join(workDir, info!.filename);
    await mkdir(project);
    await writeFile(join(project, 'package.json'), '{ "name": "fresh", "private": true }\n');
  });
  after(async () => {
    if (!process.env['KEEP']) await rm(workDir, { recursive: true, force: true });
  });

  test('the tarball holds no tests, sources, source maps or Python bytecode caches', () => {
    const list = spawnSync('tar', ['tzf', tarball], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    const files = list.stdout.split('\n').filter(Boolean);
    assert.ok(files.includes('package/dist/index.d.ts'), 'the types are there');
    assert.ok(files.includes('package/fonts/DejaVuSans.ttf'), 'the one font file is there');
    const bad = files.filter(
      (f) =>
        f.endsWith('.map') ||
        f.includes('/__pycache__/') ||
        f.startsWith('package/src/') ||
        (f.startsWith('package/dist/') && /\.test(-d|-helper)?\.(js|d\.ts)$/.test(f)),
    );
    assert.deepEqual(bad, []);
  });

  test('@arethetypeswrong/cli finds no problem in the ESM entry points', async () => {
    const attw = join(ROOT, 'node_modules', '.bin', 'attw');
    const result = await run(attw, [tarball, '--profile', 'esm-only', '--format', 'ascii'], ROOT);
    assert.equal(result.code, 0, result.output);
  });

  test("the README's first analysis, as written: install, new, typecheck, test, serve", async (t) => {
    const commands = await firstAnalysisCommands();
    const install = `npm install ${PKG.name}`;
    assert.equal(commands[0], install, 'the README installs the package by its own name');
    const serve = commands.at(-1);
    assert.equal(serve, 'npx databench', 'the README ends by starting the server');
    for (const command of commands.slice(0, -1)) {
      const [bin, ...args] = (command === install ? `npm install ${tarball}` : command).split(' ');
      if (bin === 'npm' && args[0] === 'install')
        args.push('--no-audit', '--no-fund', '--prefer-offline');
      const result = await run(bin!, args, project);
      if (
        result.code !== 0 &&
        bin === 'npm' &&
        args[0] === 'install' &&
        OFFLINE.test(result.output)
      ) {
        unavailable = `the npm registry is not reachable: ${command} needs it`;
        if (CI) assert.fail(`${unavailable}\n${result.output}`);
        t.skip(unavailable);
        return;
      }
      assert.equal(result.code, 0, `${command}:\n${result.output}`);
      if (command === 'npm test') assert.match(result.output, /# pass 1\b/);
      if (command === 'npm run typecheck') {
        assert.match(result.output, /databench check: 1 analysis, no problems/);
      }
    }
    // the generated project checks library types: nothing of ours may need skipLibCheck
    const tsconfig = JSON.parse(await readFile(join(project, 'tsconfig.json'), 'utf8')) as {
      compilerOptions: Record<string, unknown>;
    };
    assert.equal(tsconfig.compilerOptions['skipLibCheck'], undefined);

    // a page that names an action the analysis lacks: `npm run typecheck` runs databench check
    const pagePath = join(project, 'analyses', 'hello', 'index.html');
    const pageText = await readFile(pagePath, 'utf8');
    await writeFile(pagePath, pageText.replace('data-action="count"', 'data-action="cuont"'));
    // and a page script with the typed client: tsconfig.pages.json checks it with the DOM's types
    const scriptPath = join(project, 'analyses', 'hello', 'index.page.ts');
    await writeFile(
      scriptPath,
      [
        `import { Connection } from '${PKG.name}/client';`,
        `import type { Hello } from './analysis.js';`,
        'const d = new Connection<Hello>();',
        "d.on({ data: 'clicks' }, (n) => document.title = n.toFixed(0));",
        "d.emit('count');",
        '',
      ].join('\n'),
    );
    const checked = await run('npm', ['run', 'typecheck'], project);
    // the page script bundled for the browser as the pages guide shows, served from static/
    const bundled = await run(
      'npx',
      [
        'esbuild',
        'analyses/hello/index.page.ts',
        '--bundle',
        '--format=esm',
        '--outfile=analyses/hello/static/index.page.js',
      ],
      project,
    );
    assert.equal(bundled.code, 0, bundled.output);
    await writeFile(pagePath, pageText);
    await rm(scriptPath);
    // exit 1 from databench check, the last of the three: both tsc runs passed
    assert.equal(checked.code, 1, checked.output);
    assert.doesNotMatch(checked.output, /error TS/);
    assert.match(
      checked.output,
      /analyses\/hello\/index\.html:\d+:\d+: data-action="cuont": no handler for 'cuont' on Hello \(did you mean 'count'\?\)/,
    );

    // a type error: `npm run typecheck` fails on it, and the server reports it
    const analysis = join(project, 'analyses', 'hello', 'analysis.ts');
    const source = await readFile(analysis, 'utf8');
    await writeFile(analysis, source + '\nexport const STEP: number = "five";\n');
    const typecheck = await run('npm', ['run', 'typecheck'], project);
    assert.notEqual(typecheck.code, 0, typecheck.output);
    assert.match(typecheck.output, /analyses\/hello\/analysis\.ts.*TS2322/);

    // the server: the README's command, on a free port
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: '', HOST: '' };
    delete env['NODE_TEST_CONTEXT'];
    const server = spawn('npx', ['databench', '--port', '0'], {
      cwd: project,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    server.stdout.on('data', (d: Buffer) => (out += String(d)));
    server.stderr.on('data', (d: Buffer) => (out += String(d)));
    /** Resolves with the first match of `pattern` in the server's output. */
    const output = (pattern: RegExp, what: string): Promise<RegExpExecArray> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what} in 60 s:\n${out}`)), 60_000);
        const look = (): void => {
          const m = pattern.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          }
        };
        look();
        server.stdout.on('data', look);
        server.stderr.on('data', look);
        server.on('exit', (code) => reject(new Error(`the server exited (${code}):\n${out}`)));
      });
    try {
      const url = (await output(/serving at (http:\/\/\S+)/, '"serving at"'))[1]!;
      assert.match(out, /serving 1 analysis from/);
      // the type check runs in the background and reports the error, as a warning
      await output(
        /type error\(s\)[^\n]*\n[^\n]*analysis\.ts:\d+:\d+ - error TS2322/,
        'type error report',
      );
      const page = await fetch(`${url}/hello/`);
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.match(html, /data-action="count"/, 'the analysis still serves');
      const script = await fetch(`${url}/hello/static/index.page.js`);
      assert.equal(script.status, 200);
      assert.match(script.headers.get('content-type') ?? '', /javascript/);
      const code = await script.text();
      assert.match(code, /"count"/, 'the bundled page script emits count');
      assert.doesNotMatch(
        code,
        /from\s*["']databench-ts/,
        'the client is bundled in, not imported',
      );
      // a page that connects gets them for its error panel, right after its reply
      const { client } = await TestClient.connect(wsUrlOf({ url }, 'hello'));
      const told = await client.next('__type_errors');
      assert.match((told.load as { text: string }).text, /analysis\.ts:\d+:\d+ - error TS2322/);
      client.close();
    } finally {
      // npx runs the server in a child: end the whole group this test started
      if (server.pid !== undefined) process.kill(-server.pid, 'SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
    }
  });

  test('analyses compile as they load, without a loader: a helper module, import.meta, worker threads, errors at .ts lines', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const folder = join(project, 'compiled');
    await cp(join(ROOT, 'test', 'fixtures', 'compile'), folder, { recursive: true });
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: '', HOST: '' };
    delete env['NODE_TEST_CONTEXT'];
    delete env['NODE_OPTIONS'];
    // the installed bin itself (no npx in between): its process is the server
    const bin = join(project, 'node_modules', PKG.name, 'bin', 'databench.js');
    const child = spawn(
      process.execPath,
      [bin, '--analyses', folder, '--port', '0', '--no-watch', '--typecheck', 'off'],
      { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const server: CliRun = {
      child,
      stdout: '',
      stderr: '',
      exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    };
    child.stdout.on('data', (d: Buffer) => (server.stdout += String(d)));
    child.stderr.on('data', (d: Buffer) => (server.stderr += String(d)));
    try {
      const url = await serving(server);
      for (const [name, data] of [
        ['helper', 'world'],
        ['threaded', 'threads'],
      ] as const) {
        const { client } = await TestClient.connect(wsUrlOf({ url }, name));
        const where = (await client.next('where')).load as Record<string, unknown>;
        assert.equal(where['greeting'], `hello ${data} from util.ts`);
        assert.equal(where['filename'], join(folder, name, 'analysis.ts'));
        client.send('boom');
        const error = await client.waitFor((f) => f.signal === '__error', 'a __error frame');
        assert.equal((error.load as Record<string, unknown>)['location'], 'helper/util.ts:6:9');
        client.close();
      }
      // esbuild's process ran for the load only (Linux: /proc lists the children of every thread)
      const pid = child.pid ?? 0;
      const esbuildChildren = (): string[] =>
        readdirSyncSafe(`/proc/${pid}/task`).flatMap((task) =>
          readSafe(`/proc/${pid}/task/${task}/children`)
            .split(/\s+/)
            .filter(Boolean)
            .filter((kid) => readSafe(`/proc/${kid}/cmdline`).includes('esbuild')),
        );
      if (readdirSyncSafe(`/proc/${pid}/task`).length > 0) {
        await until(() => esbuildChildren().length === 0, 'no esbuild process is left');
      }
    } finally {
      child.kill('SIGTERM');
      await server.exited;
    }
  });

  test('the published types compile with skipLibCheck off under nodenext and bundler', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const entries = await readdir(join(project, 'node_modules', PKG.name, 'dist'));
    assert.ok(entries.includes('index.d.ts'));
    await writeFile(
      join(project, 'entries.ts'),
      [
        `import { Analysis, createServer, utils, type ServerOptions } from '${PKG.name}';`,
        `import { AnalysisTest } from '${PKG.name}/testing';`,
        `import { Connection } from '${PKG.name}/client';`,
        `import { PROTOCOL, parseClientMessage } from '${PKG.name}/protocol';`,
        `export const used = [Analysis, createServer, utils, AnalysisTest, Connection, PROTOCOL, parseClientMessage];`,
        `export const options: ServerOptions = { port: 0 };`,
        '',
      ].join('\n'),
    );
    const base = {
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      target: 'ES2022',
      lib: ['ES2023', 'DOM'],
    };
    for (const [name, resolution] of [
      ['nodenext', { module: 'NodeNext', moduleResolution: 'NodeNext' }],
      ['bundler', { module: 'ESNext', moduleResolution: 'Bundler' }],
    ] as const) {
      const config = join(project, `tsconfig.${name}.json`);
      await writeFile(
        config,
        JSON.stringify({ compilerOptions: { ...base, ...resolution }, files: ['entries.ts'] }),
      );
      const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc');
      const result = await run(process.execPath, [tsc, '-p', config], project);
      assert.equal(result.code, 0, `${name}:\n${result.output}`);
    }
  });

  test('--ssl-port without selfsigned installed says to install it (exit 1)', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const result = await run('npx', ['databench', '--port', '0', '--ssl-port', '0'], project);
    assert.equal(result.code, 1, result.output);
    assert.match(
      result.output,
      /^databench: --ssl-port without --ssl-certfile needs the package selfsigned, which is not installed: run npm install selfsigned$/m,
    );
  });

  test('a figure without the optional plotting packages names the npm install to run', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const script = `
      import { utils } from '${PKG.name}';
      try {
        await utils.figToSrc({ mark: 'bar', data: { values: [] } }, { format: 'png' });
        console.log('rendered');
      } catch (e) {
        console.log(e.code + ': ' + e.message);
      }`;
    await writeFile(join(project, 'figure.mjs'), script);
    const result = await run(process.execPath, ['figure.mjs'], project);
    assert.equal(result.code, 0, result.output);
    assert.match(
      result.output,
      /^MISSING_DEPENDENCY: .*run npm install vega vega-lite @resvg\/resvg-js$/m,
    );
  });
});
