// A 5 MB upload through nginx, configured with the recipe of
// docs/guides/deploying.md ("Two hosts behind nginx") as it is written there
// (only its ports and paths are this test's): the file arrives byte for byte,
// and a file past the server's limit is refused with the limit, as without a proxy.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { Connection, type ConnectionOptions } from '../../src/client/connection.ts';
import { isDatabenchError } from '../../src/protocol/errors.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, within } from '../helpers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const NGINX = process.env['NGINX_PATH'] ?? '/usr/sbin/nginx';
const hasNginx = spawnSync(NGINX, ['-v']).status === 0;
/** Skipped where nginx is missing, except in CI (.ci/run installs it): there the suite fails. */
const skip: false | string =
  hasNginx || process.env['CI'] === 'true'
    ? false
    : `no nginx at ${NGINX}: apt-get install nginx-light`;
const PUBLIC = 'http://databench.example.com';
const MiB = 1 << 20;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** The nginx block of docs/guides/deploying.md, pointed at `upstream` and listening on `port`. */
async function recipe(upstream: number, port: number): Promise<string> {
  const doc = await readFile(join(ROOT, 'docs/guides/deploying.md'), 'utf8');
  const block = /```nginx\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block, 'docs/guides/deploying.md has an nginx block');
  assert.match(block, /listen 80;/);
  assert.match(block, /server 127\.0\.0\.1:5001;/);
  return block
    .replace(/server 127\.0\.0\.1:500\d;/g, `server 127.0.0.1:${upstream};`)
    .replace('listen 80;', `listen 127.0.0.1:${port};`);
}

describe('uploads behind the nginx recipe of docs/guides/deploying.md', { skip }, () => {
  let server: DatabenchServer;
  let nginx: ChildProcess | undefined;
  let dir: string;
  let url: string;
  let nginxLog = '';

  before(async () => {
    server = await createServer({
      port: 0,
      analyses: FIXTURES + 'upload',
      logger: createMemoryLogger(),
      allowOrigins: [PUBLIC],
      maxUploadBytes: 8 * MiB,
    });
    dir = await mkdtemp(join(tmpdir(), 'databench-nginx-'));
    const port = await freePort();
    const upstream = Number(new URL(server.url).port);
    await writeFile(
      join(dir, 'nginx.conf'),
      [
        `pid ${dir}/nginx.pid;`,
        `error_log ${dir}/error.log warn;`,
        'worker_processes 1;',
        'events { worker_connections 64; }',
        'http {',
        `  access_log off;`,
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
          (name) => `  ${name}_temp_path ${dir}/${name};`,
        ),
        await recipe(upstream, port),
        '}',
      ].join('\n'),
    );
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    nginx.stderr?.on('data', (d: Buffer) => (nginxLog += String(d)));
    url = `ws://127.0.0.1:${port}/upload_py/ws`;
    // nginx answers once it listens
    const deadline = Date.now() + 10_000;
    for (;;) {
      const status = await fetch(`http://127.0.0.1:${port}/upload/`, {
        headers: { Host: 'databench.example.com' },
      }).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      if (Date.now() > deadline || nginx.exitCode !== null) {
        throw new Error(`nginx did not start (last status ${status}): ${nginxLog}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  after(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx?.once('exit', resolve));
      nginx.kill('SIGQUIT');
      await exited;
    }
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A client as a browser on the public origin: nginx's Host and Origin. */
  const proxied: ConnectionOptions = {
    WebSocket: class extends WebSocket {
      constructor(address: string) {
        super(address, { headers: { Host: 'databench.example.com' }, origin: PUBLIC });
      }
    },
    console: { log: () => undefined, warn: () => undefined, error: () => undefined },
  };

  test('a 5 MB file arrives byte for byte in a Python handler; past the limit the page is told', async () => {
    const d = new Connection(url, '', null, proxied);
    await within(
      new Promise((resolve) => d.connect(resolve)),
      10_000,
      'the connection through nginx',
    );
    const bytes = randomBytes(5 * 1000 * 1000);
    const hash = d.once({ data: 'sha256' }, { timeoutMs: 20_000 });
    await within(d.upload('load_csv', new File([bytes], 'big.bin')).done, 20_000, 'the upload');
    assert.equal(await hash, createHash('sha256').update(bytes).digest('hex'));

    await assert.rejects(
      d.upload('load_csv', new File([new Uint8Array(9 * MiB)], 'huge.bin')).done,
      (error: unknown) =>
        isDatabenchError(error, 'UPLOAD') && /at most 8 MiB/.test((error as Error).message),
    );
    d.disconnect();
  });
});
