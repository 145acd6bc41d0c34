import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { runBuildCommands } from '../../src/cli/build.ts';
import { createServer, run } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient } from '../helpers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

test("a user's base.html and analysis.html replace the package's", async () => {
  const server = await createServer({
    port: 0,
    analyses: FIXTURES + 'analyses',
    logger: createMemoryLogger(),
  });
  try {
    const page = await (await fetch(server.url + '/parameters/')).text();
    assert.match(page, /data-base="user-override"/);
    assert.match(page, /data-analysis-template="user-override"/, "the user's analysis.html too");
    assert.match(page, /parameters page Parameters/, 'the analysis block still renders');
    const index = await (await fetch(server.url + '/')).text();
    assert.match(index, /user base.html/);
  } finally {
    await server.close();
  }
});

test('run(): one analysis served at / with its socket at /ws', async () => {
  const { ArgsEcho } = await import('../fixtures/analyses/args_echo/analysis.ts');
  const server = await run(ArgsEcho, {
    port: 0,
    path: FIXTURES + 'analyses/args_echo',
    logger: createMemoryLogger(),
    cliArgs: ['--x'],
    static: { '^/files/(.*)$': '../assets' },
  });
  try {
    const res = await fetch(server.url + '/');
    assert.equal(res.status, 200);
    assert.match(await res.text(), /args echo/);
    const asset = await fetch(server.url + '/files/a.txt');
    assert.equal(asset.status, 200, 'the static map of run() serves');
    assert.equal(await asset.text(), 'asset a\n');
    const { client } = await TestClient.connect(server.url.replace('http', 'ws') + '/ws', {
      requestArgs: '?q=1',
    });
    const echo = await client.next('args_echo');
    assert.deepEqual(echo.load, { cli_args: ['--x'], request_args: { q: ['1'] } });
    client.close();
  } finally {
    await server.close();
  }
});

test('databench --build: runs the build commands in order, streams output, fails on a failing one', async () => {
  const dir = join(ROOT, 'test-artifacts', `build-${process.pid}`);
  await mkdir(join(dir, 'one'), { recursive: true });
  try {
    await writeFile(
      join(dir, 'index.yaml'),
      'build: echo global-step\nanalyses:\n  - name: one\n    build: pwd && echo one-step\n',
    );
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += String(d)));
    const ok = await runBuildCommands({
      analyses: dir,
      cwd: dir,
      logger: createMemoryLogger(),
      stdout: out,
    });
    assert.equal(ok, 0);
    assert.match(text, /global-step[\s\S]*one[/\\]?\n?[\s\S]*one-step/);
    assert.ok(text.indexOf('global-step') < text.indexOf('one-step'));

    await writeFile(
      join(dir, 'index.yaml'),
      'build: echo first && exit 3\nanalyses:\n  - name: one\n    build: echo never\n',
    );
    let failed = '';
    const out2 = new PassThrough();
    out2.on('data', (d: Buffer) => (failed += String(d)));
    const code = await runBuildCommands({
      analyses: dir,
      cwd: dir,
      logger: createMemoryLogger(),
      stdout: out2,
    });
    assert.equal(code, 3);
    assert.match(failed, /first/);
    assert.doesNotMatch(failed, /never/, 'a failure stops the build');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('createServer and run are public: importable from the package, bound to 127.0.0.1', async () => {
  const databench = await import('databench-ts');
  const server = await databench.createServer({
    port: 0,
    analyses: FIXTURES + 'analyses',
    logger: createMemoryLogger(),
  });
  try {
    assert.equal((server.httpServer.address() as { address: string }).address, '127.0.0.1');
    assert.equal(typeof databench.run, 'function');
  } finally {
    await server.close();
  }
});

test('--allow-origin: a listed origin may open a socket (its host too)', async () => {
  const server = await createServer({
    port: 0,
    analyses: FIXTURES + 'analyses',
    logger: createMemoryLogger(),
    allowOrigins: ['http://ok.example:8080'],
  });
  try {
    const url = server.url.replace('http', 'ws') + '/parameters/ws';
    const ok = await TestClient.open(url, {
      origin: 'http://ok.example:8080',
      headers: { Host: 'ok.example:8080' },
    });
    ok.close();
    await assert.rejects(TestClient.open(url, { origin: 'http://other.example' }), /403/);
  } finally {
    await server.close();
  }
});

test('SSL with a certificate and key from files', async () => {
  const selfsigned = await import('selfsigned');
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
  });
  const dir = join(ROOT, 'test-artifacts', `ssl-${process.pid}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'cert.pem'), pems.cert);
  await writeFile(join(dir, 'key.pem'), pems.private);
  const server = await createServer({
    port: 0,
    sslPort: 0,
    sslCertFile: join(dir, 'cert.pem'),
    sslKeyFile: join(dir, 'key.pem'),
    analyses: FIXTURES + 'analyses',
    logger: createMemoryLogger(),
  });
  try {
    const { request } = await import('node:https');
    const url = new URL(server.sslUrl ?? '');
    const cert = await new Promise<string>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: '/', rejectUnauthorized: false },
        (res) => {
          const peer = (
            res.socket as unknown as { getPeerCertificate(): { fingerprint256: string } }
          ).getPeerCertificate();
          res.resume();
          resolve(peer.fingerprint256);
        },
      );
      req.on('error', reject);
      req.end();
    });
    const { X509Certificate } = await import('node:crypto');
    assert.equal(
      cert,
      new X509Certificate(pems.cert).fingerprint256,
      'the server uses the given certificate',
    );
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
