import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { Datastore, MemoryBackend } from '../../src/index.ts';
import { FIXTURES, TestClient } from '../helpers.ts';

function get(
  server: DatabenchServer,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown> }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Send raw bytes and read until the server closes or a blank line ends the head. */
function rawRequest(server: DatabenchServer, text: string): Promise<string> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(text));
    let got = '';
    socket.on('data', (d) => {
      got += String(d);
      if (got.includes('\r\n\r\n')) socket.destroy();
    });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
}

describe('hardening', () => {
  let server: DatabenchServer;
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: FIXTURES + 'analyses',
      logger: createMemoryLogger(),
    });
  });
  after(() => server.close());

  test('a malformed upgrade URL is refused and the server keeps serving', async () => {
    const head = await rawRequest(
      server,
      'GET //[/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    assert.match(head, /^HTTP\/1.1 404/);
    assert.equal((await get(server, '/')).status, 200);
  });

  test('a refused upgrade whose client resets does not crash the server', async () => {
    const url = new URL(server.url);
    await Promise.all(
      Array.from(
        { length: 30 },
        (_, i) =>
          new Promise<void>((resolve) => {
            const socket = connect(Number(url.port), url.hostname, () => {
              socket.write(
                `GET /parameters/ws HTTP/1.1\r\nHost: ${url.host}\r\nOrigin: http://evil.example\r\n` +
                  'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
                  'Sec-WebSocket-Version: 13\r\n\r\n',
              );
              setTimeout(() => socket.resetAndDestroy(), i % 4);
            });
            socket.on('error', () => undefined);
            socket.on('close', () => resolve());
          }),
      ),
    );
    assert.equal((await get(server, '/')).status, 200);
  });

  test('DNS rebinding: a foreign Host is refused for pages and sockets', async () => {
    assert.equal((await get(server, '/', { Host: 'evil.example:80' })).status, 403);
    assert.equal(
      (await get(server, '/', { Host: `localhost:${new URL(server.url).port}` })).status,
      200,
    );
    await assert.rejects(
      TestClient.open(server.url.replace('http', 'ws') + '/parameters/ws', {
        headers: { Host: 'evil.example' },
        origin: 'http://evil.example',
      }),
      /403/,
    );
  });

  test('only ids of the issued form resume: a class name gets a new session', async () => {
    const { client, id } = await TestClient.connect(
      server.url.replace('http', 'ws') + '/streamer/ws',
      {
        id: 'Streamer',
      },
    );
    assert.notEqual(id, 'Streamer');
    assert.match(String((await client.next('warn')).load), /not valid/);
    client.close();
  });

  test('a page cannot run the lifecycle actions', async () => {
    const { client } = await TestClient.connect(server.url.replace('http', 'ws') + '/args_echo/ws');
    await client.next('args_echo');
    client.send('args', { cli_args: ['--admin'], request_args: {} });
    assert.match(String((await client.next('warn')).load), /run by the server only/);
    client.close();
  });

  test('a redirect keeps the query string', async () => {
    const res = await get(server, '/parameters?a=1');
    assert.equal(res.status, 301);
    assert.equal(res.headers['location'], '/parameters/?a=1');
  });

  test('an unsatisfiable range is a 416, not a 500', async () => {
    const res = await get(server, '/parameters/static/hello.txt', { Range: 'bytes=999999-' });
    assert.equal(res.status, 416);
  });
});

describe('datastore hardening', () => {
  test('a throwing callback does not keep a change from the other stores', async () => {
    const domain = `throwing-${Math.random()}`;
    const a = new Datastore(domain);
    const b = new Datastore(domain).onChange(() => {
      throw new Error('buggy callback');
    });
    const seen: unknown[] = [];
    const c = new Datastore(domain).onChange((_k, v) => void seen.push(v));
    await assert.rejects(a.set('x', 1), /buggy callback/);
    assert.deepEqual(seen, [1]);
    assert.equal(c.get('x'), 1);
    for (const s of [a, b, c]) s.close();
  });

  test('releaseAfterMs drops left-behind data after a while, and a cap bounds how many wait', async () => {
    const backend = new MemoryBackend(2);
    for (const name of ['d1', 'd2', 'd3']) {
      const store = new Datastore(name, { backend, releaseAfterMs: 60_000 });
      await store.set('v', name);
      store.close();
    }
    assert.equal(
      backend.domainCount,
      2,
      'the oldest left-behind domain went when the cap was passed',
    );
    const again = new Datastore('d3', { backend, releaseAfterMs: 60_000 });
    assert.equal(again.get('v'), 'd3', 'a domain opened again keeps its data');
    again.close();

    const quick = new MemoryBackend();
    const store = new Datastore('q', { backend: quick, releaseAfterMs: 20 });
    await store.set('v', 1);
    store.close();
    const deadline = Date.now() + 2000;
    while (quick.domainCount > 0) {
      assert.ok(Date.now() < deadline, 'the data was not released');
      await new Promise((r) => setTimeout(r, 10));
    }
  });
});

describe('hardening: sessions that end badly', () => {
  let server: DatabenchServer;
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: FIXTURES + 'analyses',
      logger: createMemoryLogger(),
    });
  });
  after(() => server.close());

  test('a loop that keeps writing after its page left does not freeze the server', async () => {
    const { client } = await TestClient.connect(server.url.replace('http', 'ws') + '/spinner/ws');
    client.send('spin', [300_000]);
    await client.next('data');
    client.ws.terminate();
    await new Promise((r) => setTimeout(r, 20));
    // without yielding, the loop would run to its end before this request is answered
    assert.equal((await get(server, '/')).status, 200);
    assert.equal(
      globalThis.__databenchSpinDone,
      false,
      'the server answered while the loop still ran',
    );
  });

  test('the error frame that explains a close arrives before the close', async () => {
    const { client } = await TestClient.connect(
      server.url.replace('http', 'ws') + '/ctor_throws/ws',
    ).catch(async () => ({ client: undefined }));
    assert.equal(client, undefined, 'no __connect reply for an analysis that cannot start');
    const raw = await TestClient.open(server.url.replace('http', 'ws') + '/ctor_throws/ws');
    raw.sendJson({ __connect: null });
    const { code } = await raw.closed();
    assert.equal(code, 1011);
    assert.match(String(raw.frames.find((f) => f.signal === 'error')?.load), /no instance today/);
  });

  test('during shutdown new sockets are refused with 503', async () => {
    const other = await createServer({
      port: 0,
      analyses: FIXTURES + 'analyses',
      logger: createMemoryLogger(),
    });
    const { client } = await TestClient.connect(other.url.replace('http', 'ws') + '/args_echo/ws');
    const closing = other.close();
    await assert.rejects(TestClient.open(other.url.replace('http', 'ws') + '/args_echo/ws'), /503/);
    await closing;
    assert.equal((await client.closed()).code, 1001);
  });
});
