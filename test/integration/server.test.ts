import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient, within } from '../helpers.ts';

const ANALYSES = FIXTURES + 'analyses';

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request with the path sent exactly as given (fetch would normalise `..`). */
function raw(
  base: string,
  path: string,
  method = 'GET',
  body?: string,
  extra: { rejectUnauthorized?: boolean } = {},
): Promise<RawResponse> {
  const url = new URL(base);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method, ...extra }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

function wsUrl(server: DatabenchServer, name: string): string {
  return server.url.replace(/^http/, 'ws') + `/${name}/ws`;
}

describe('server: routes', () => {
  let server: DatabenchServer;
  const logger = createMemoryLogger();
  before(async () => {
    // made here, not committed: node_modules folders do not belong in git
    await mkdir(join(ANALYSES, 'node_modules', 'fakepkg'), { recursive: true });
    await writeFile(
      join(ANALYSES, 'node_modules', 'fakepkg', 'index.js'),
      'export const fake = 1;\n',
    );
    // only files of packages are served from node_modules: a package has its package.json
    await writeFile(join(ANALYSES, 'node_modules', 'fakepkg', 'package.json'), '{}\n');
    await mkdir(join(FIXTURES, 'node_modules', 'otherpkg'), { recursive: true });
    await writeFile(
      join(FIXTURES, 'node_modules', 'otherpkg', 'index.js'),
      'export const other = 2;\n',
    );
    await writeFile(join(FIXTURES, 'node_modules', 'otherpkg', 'package.json'), '{}\n');
    server = await createServer({ port: 0, analyses: ANALYSES, logger, cwd: FIXTURES });
  });
  after(() => server.close());

  const routes: Array<[path: string, status: number, type: RegExp, contains?: string]> = [
    ['/', 200, /text\/html/, 'Fixture analyses'],
    ['/index.html', 200, /text\/html/, 'Parameters'],
    ['/parameters/', 200, /text\/html/, 'parameters page Parameters'],
    ['/parameters/plain.html', 200, /text\/html/, 'plain view, served as it is'],
    ['/parameters/static/hello.txt', 200, /text\/plain/, 'hello static'],
    ['/parameters/analysis.js', 200, /javascript/, 'analysis.js'],
    ['/parameters/analysis.css', 200, /text\/css/, 'color: black'],
    ['/parameters/thumbnail.png', 200, /image\/png/],
    ['/static/global.txt', 200, /text\/plain/, 'global static'],
    ['/assets/a.txt', 200, /text\/plain/, 'asset a'],
    ['/node_modules/fakepkg/index.js', 200, /javascript/, 'fake'],
    ['/node_modules/otherpkg/index.js', 200, /javascript/, 'other = 2'],
    ['/_static/databench.css', 200, /text\/css/],
    ['/_static/logo.svg', 200, /image\/svg\+xml/],
    ['/_static/favicon.svg', 200, /image\/svg\+xml/],
    ['/_static/databench.js', 200, /javascript/],
    ['/routes_demo/hello', 200, /text\/plain/, 'hello GET'],
    ['/nope/', 404, /text\/html/, 'not found'],
    ['/parameters/nope.txt', 404, /text\/html/],
    ['/broken_syntax/', 500, /text\/html/, 'analysis.ts:5'],
    ['/no_export/', 500, /text\/html/, 'exports no Analysis subclass'],
    ['/missing_folder/', 500, /text\/html/, 'is missing'],
  ];
  for (const [path, status, type, contains] of routes) {
    test(`GET and HEAD ${path} → ${status}`, async () => {
      const get = await raw(server.url, path);
      assert.equal(get.status, status, `GET ${path}: ${get.body.slice(0, 300)}`);
      assert.match(String(get.headers['content-type']), type);
      if (!path.startsWith('/routes_demo/')) {
        assert.equal(get.headers['x-content-type-options'], 'nosniff');
      }
      if (contains) assert.ok(get.body.includes(contains), `GET ${path} lacks "${contains}"`);
      const head = await raw(server.url, path, 'HEAD');
      assert.equal(head.status, status, `HEAD ${path}`);
      assert.equal(head.body, '', `HEAD ${path} has no body`);
      assert.match(String(head.headers['content-type']), type);
    });
  }

  test('the index honours show_in_index and lists load errors', async () => {
    const { body } = await raw(server.url, '/');
    assert.ok(body.includes('/parameters/'));
    assert.ok(!body.includes('/hidden/'), 'hidden analysis is not in the index');
    assert.ok(body.includes('broken_syntax'));
    assert.ok(body.includes('bad-name'), 'the bad index.yaml entry is reported');
    assert.ok(!body.includes('<script>alert(1)</script>'), 'README raw HTML is escaped');
    const hidden = await raw(server.url, '/hidden/');
    assert.equal(hidden.status, 200, 'a hidden analysis is still served');
  });

  test('a page without the trailing slash redirects', async () => {
    const res = await raw(server.url, '/parameters');
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, '/parameters/');
  });

  test('static files carry cache validators', async () => {
    const res = await raw(server.url, '/parameters/static/hello.txt');
    assert.ok(res.headers.etag);
    assert.ok(res.headers['last-modified']);
    assert.match(String(res.headers['cache-control']), /max-age=0/);
    const bundle = await raw(server.url, '/_static/databench.js');
    assert.ok(bundle.headers.etag);
  });

  test('extra routes take GET and POST, with a RegExp', async () => {
    const post = await raw(server.url, '/routes_demo/hello', 'POST');
    assert.equal(post.body, 'hello POST');
    const item = await raw(server.url, '/routes_demo/items/42', 'POST', 'payload');
    assert.deepEqual(JSON.parse(item.body), {
      method: 'POST',
      url: '/routes_demo/items/42',
      body: 'payload',
    });
    const put = await raw(server.url, '/parameters/', 'PUT');
    assert.equal(put.status, 405);
  });

  const traversals = [
    '/static/../index.yaml',
    '/static/%2e%2e/index.yaml',
    '/static/%2E%2E%2Findex.yaml',
    '/parameters/static/..%2f..%2findex.yaml',
    '/_static/%2e%2e/base.html',
    '/node_modules/..%2f..%2fparameters/analysis.ts',
    '/assets/..%2findex.yaml',
    '/static/%00',
  ];
  for (const path of traversals) {
    test(`traversal refused: ${path}`, async () => {
      const res = await raw(server.url, path);
      assert.ok(res.status === 403 || res.status === 400, `${path} → ${res.status}`);
      assert.ok(!res.body.includes('Fixture analyses') && !res.body.includes('analyses:'));
    });
  }
});

describe('server: sessions', () => {
  let server: DatabenchServer;
  const logger = createMemoryLogger();
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: ANALYSES,
      logger,
      cliArgs: ['--flag', 'x'],
      maxFrameBytes: 64 * 1024,
      sendBufferSoftBytes: 64 * 1024,
      pingIntervalMs: 200,
    });
  });
  after(() => server.close());

  test('connect: reply, then connect/args/connected with request and cli args', async () => {
    const { client, id, reply } = await TestClient.connect(wsUrl(server, 'args_echo'), {
      requestArgs: '?a=1&a=2&b=&c=x+y',
    });
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(reply['databench_backend_version'], '0.1.0');
    assert.match(reply['analyses_version'] ?? '', /^[0-9a-f]{12}$/);
    const echo = await client.next('args_echo');
    assert.deepEqual(echo.load, {
      cli_args: ['--flag', 'x'],
      request_args: { a: ['1', '2'], c: ['x y'] },
    });
    client.close();
  });

  test('actions: echo, state, no-message action, unknown action, process ids', async () => {
    const { client } = await TestClient.connect(wsUrl(server, 'parameters'));
    client.send('test_fn', [1, 2]);
    assert.deepEqual((await client.next('test_fn')).load, [1, 2]);
    client.send('test_fn', { first_param: 7 });
    assert.deepEqual((await client.next('test_fn')).load, [7, 100]);
    client.send('test_action');
    assert.equal('load' in (await client.next('test_action_ack')), false);
    client.send('nothing_here');
    assert.equal((await client.next('warn')).load, 'no handler for nothing_here');
    const from = client.frames.length;
    client.send('test_state', { key: 'light', value: 'red', __process_id: 9 });
    await client.waitFor(
      (f) => f.signal === '__process' && (f.load as { status: string }).status === 'end',
      'the end frame',
    );
    assert.deepEqual(client.frames.slice(from), [
      { signal: '__process', load: { id: 9, status: 'start' } },
      { signal: 'data', load: { light: 'red' } },
      { signal: '__process', load: { id: 9, status: 'end' } },
    ]);
    client.close();
  });

  test('a throwing handler: error frame, end frame with error, session keeps working', async () => {
    const { client } = await TestClient.connect(wsUrl(server, 'args_echo'));
    client.send('throw', { message: 'boom', __process_id: 1 });
    const error = await client.next('error');
    assert.match(String(error.load), /TypeError: boom/);
    const end = await client.waitFor(
      (f) => f.signal === '__process' && (f.load as { status: string }).status === 'end',
      'end',
    );
    assert.deepEqual(end.load, { id: 1, status: 'end', error: true });
    assert.ok(
      logger.lines.some(([lvl, line]) => lvl === 'error' && line.includes('at ArgsEcho.on_throw')),
      'stack in the log',
    );
    client.send('slow', [1]);
    assert.equal((await client.next('slow_done')).load, 1);
    client.close();
  });

  test('resume: the same id gets its data and classData back as ordinary frames', async () => {
    const first = await TestClient.connect(wsUrl(server, 'streamer'));
    first.client.send('shared', ['who', 'first']);
    await first.client.next('class_data');
    first.client.send('stream', [3]);
    await first.client.next('stream_done');
    first.client.close();
    await first.client.closed();

    const fresh = await TestClient.connect(wsUrl(server, 'streamer'));
    const freshSnap = await fresh.client.next('class_data');
    assert.deepEqual(freshSnap.load, { who: 'first' }, 'a new session gets the current classData');
    assert.ok(
      !fresh.client.frames.some((f) => f.signal === 'data'),
      'a new session gets no data snapshot',
    );
    fresh.client.close();

    const again = await TestClient.connect(wsUrl(server, 'streamer'), { id: first.id });
    assert.equal(again.id, first.id);
    const data = await again.client.waitFor((f) => f.signal === 'data', 'the data snapshot');
    assert.deepEqual(data.load, { count: 2 });
    const order = again.client.frames.map((f) => f.signal);
    assert.deepEqual(order.slice(0, 3), ['__connect', 'data', 'class_data']);
    again.client.close();
  });

  test('four concurrent sessions each get their own state; classData reaches all', async () => {
    const sessions = await Promise.all(
      [1, 2, 3, 4].map(() => TestClient.connect(wsUrl(server, 'streamer'))),
    );
    assert.equal(new Set(sessions.map((s) => s.id)).size, 4);
    await Promise.all(
      sessions.map(async (s, i) => {
        s.client.send('stream', [10 + i]);
        await s.client.next('stream_done');
        const last = s.client.frames.filter((f) => f.signal === 'data').at(-1);
        assert.deepEqual(last?.load, { count: 9 + i });
      }),
    );
    const marker = `m${Date.now()}`;
    sessions[0]?.client.send('shared', ['marker', marker]);
    await Promise.all(
      sessions.map((s) =>
        s.client.waitFor(
          (f) =>
            f.signal === 'class_data' && (f.load as Record<string, unknown>)['marker'] === marker,
          'the shared marker',
        ),
      ),
    );
    for (const s of sessions) s.client.close();
  });

  test('one busy session does not block another', async () => {
    const a = await TestClient.connect(wsUrl(server, 'args_echo'));
    const b = await TestClient.connect(wsUrl(server, 'args_echo'));
    a.client.send('slow', [1500]);
    b.client.send('slow', [1]);
    await b.client.next('slow_done', 1000);
    assert.ok(!a.client.frames.some((f) => f.signal === 'slow_done'));
    await a.client.next('slow_done');
    a.client.close();
    b.client.close();
  });

  test('bad frames get a clear answer and the socket keeps working', async () => {
    const client = await TestClient.open(wsUrl(server, 'parameters'));
    client.send('test_fn', [1]);
    assert.match(String((await client.next('warn')).load), /send __connect first/);
    for (const bad of ['{not json', 'null', '[]', '5', '"text"', '{"signal": 3}']) {
      client.ws.send(bad);
      const error = await client.next('error');
      assert.match(String(error.load), /JSON|object|signal/, `answer to ${bad}`);
    }
    client.sendJson({ __connect: null });
    await client.next('__connect');
    client.sendJson({ __connect: null });
    assert.match(String((await client.next('error')).load), /already connected/);
    client.send('test_fn', [5, 6]);
    assert.deepEqual((await client.next('test_fn')).load, [5, 6]);
    client.close();
  });

  test('a binary frame closes with 1003, an oversized one with 1009', async () => {
    const binary = await TestClient.connect(wsUrl(server, 'parameters'));
    binary.client.ws.send(Buffer.from([1, 2, 3]));
    assert.equal((await binary.client.closed()).code, 1003);
    const big = await TestClient.connect(wsUrl(server, 'parameters'));
    big.client.send('test_fn', ['x'.repeat(100 * 1024)]);
    assert.equal((await big.client.closed()).code, 1009);
  });

  test('a cross-origin socket is refused; same origin is accepted', async () => {
    await assert.rejects(
      TestClient.open(wsUrl(server, 'parameters'), { origin: 'http://evil.example' }),
      /403/,
    );
    const host = new URL(server.url).host;
    const ok = await TestClient.open(wsUrl(server, 'parameters'), { origin: `http://${host}` });
    ok.close();
  });

  test('a socket to a broken or unknown analysis is refused', async () => {
    await assert.rejects(TestClient.open(wsUrl(server, 'broken_syntax')), /503/);
    await assert.rejects(TestClient.open(wsUrl(server, 'nope')), /404/);
  });

  test('a page that only answers pings stays open: its pongs keep it alive', async () => {
    const { client } = await TestClient.connect(wsUrl(server, 'parameters'));
    // the page sends nothing more; ws answers each ping with a pong. Before
    // each ping the server checks that the last one was answered
    let pings = 0;
    const answered = new Promise<void>((resolve) =>
      client.ws.on('ping', () => {
        if (++pings === 3) resolve();
      }),
    );
    await within(answered, 10_000, 'three pings (each sent after the last was answered)');
    assert.equal(client.ws.readyState, WebSocket.OPEN);
    client.send('test_fn', [1, 2]);
    assert.deepEqual((await client.next('test_fn')).load, [1, 2]);
    client.close();
  });

  test('a dead peer (no pong) is closed and disconnected runs', async () => {
    const { client, id } = await TestClient.connect(wsUrl(server, 'args_echo'));
    // stop reading: the client can no longer answer pings
    (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const deadline = Date.now() + 5000;
    while (!(globalThis.__databenchDisconnected ?? []).includes(id)) {
      assert.ok(Date.now() < deadline, 'the dead peer was not cleaned up');
      await new Promise((r) => setTimeout(r, 50));
    }
    client.ws.terminate();
  });
});

describe('server: limits and shutdown', () => {
  test('a slow page: data updates coalesce, the final value arrives', async () => {
    const server = await createServer({
      port: 0,
      analyses: ANALYSES,
      logger: createMemoryLogger(),
      sendBufferSoftBytes: 64 * 1024,
    });
    const { client } = await TestClient.connect(wsUrl(server, 'streamer'));
    const socket = (client.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    client.send('blobs', [2000, 16 * 1024]);
    // let the server write while the page does not read
    await new Promise((r) => setTimeout(r, 1500));
    socket.resume();
    await client.next('blobs_done', 20000);
    const blobs = client.frames.filter((f) => f.signal === 'data');
    const last = (blobs.at(-1)?.load as { blob: string }).blob;
    assert.ok(last.startsWith('1999:'), 'the latest value arrives');
    assert.ok(blobs.length < 2000, `updates coalesced: ${blobs.length} frames for 2000 writes`);
    client.close();
    await server.close();
  });
  test('past the hard bound a slow page is closed with 1008', async () => {
    const server = await createServer({
      port: 0,
      analyses: ANALYSES,
      logger: createMemoryLogger(),
      sendBufferSoftBytes: 16 * 1024,
      sendBufferHardBytes: 256 * 1024,
    });
    try {
      const { client } = await TestClient.connect(wsUrl(server, 'streamer'));
      (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      client.send('flood', [100_000, 4096]);
      const deadline = Date.now() + 10_000;
      while (server.sessions.size > 0) {
        assert.ok(Date.now() < deadline, 'the slow session was not closed');
        await new Promise((r) => setTimeout(r, 50));
      }
      client.ws.terminate();
    } finally {
      await server.close();
    }
  });

  test('close(): every session gets 1001 after disconnected ran', async () => {
    const server = await createServer({
      port: 0,
      analyses: ANALYSES,
      logger: createMemoryLogger(),
    });
    const sessions = await Promise.all(
      [1, 2].map(() => TestClient.connect(wsUrl(server, 'args_echo'))),
    );
    await server.close();
    for (const s of sessions) {
      const { code } = await s.client.closed();
      assert.equal(code, 1001);
      assert.ok(globalThis.__databenchDisconnected?.includes(s.id), 'disconnected ran');
    }
  });

  test('SSL: HTTPS and WSS on a second port with a generated certificate', async () => {
    const server = await createServer({
      port: 0,
      sslPort: 0,
      analyses: ANALYSES,
      logger: createMemoryLogger(),
    });
    try {
      assert.ok(server.sslUrl?.startsWith('https://'));
      const res = await raw(server.sslUrl ?? '', '/', 'GET', undefined, {
        rejectUnauthorized: false,
      });
      assert.equal(res.status, 200);
      assert.ok(res.body.includes('Fixture analyses'));
      const ws = new WebSocket((server.sslUrl ?? '').replace('https', 'wss') + '/parameters/ws', {
        rejectUnauthorized: false,
      });
      const reply = await new Promise<string>((resolve, reject) => {
        ws.on('open', () => ws.send(JSON.stringify({ __connect: null })));
        ws.on('message', (d) => resolve(String(d)));
        ws.on('error', reject);
      });
      assert.equal((JSON.parse(reply) as { signal: string }).signal, '__connect');
      ws.close();
    } finally {
      await server.close();
    }
  });
});
