// A server bound off loopback (or with error details off): what pages are
// told of failures, which Host headers it answers, and who owns retained data.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { MemoryBackend } from '../../src/index.ts';
import { FIXTURES, TestClient, until, wsUrlOf } from '../helpers.ts';
import { pythonSkip } from '../python.ts';

/** `http://127.0.0.1:port` of a server (it may be bound to 0.0.0.0). */
function local(server: DatabenchServer): string {
  return `http://127.0.0.1:${new URL(server.url).port}`;
}

/** GET `path` from `server` on 127.0.0.1 with the Host header `host`. */
function getWithHost(
  server: DatabenchServer,
  path: string,
  host: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: new URL(server.url).port, path, headers: { Host: host } },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += String(d)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`no answer to ${path} within 5 s`)));
    req.end();
  });
}

/** What gives away the server's files: a path of the fixtures, a stack frame, a line of source. */
function assertNoDetails(text: string, where: string): void {
  assert.ok(!text.includes(FIXTURES), `${where} has no absolute path:\n${text}`);
  assert.ok(!/\n\s*at /.test(text), `${where} has no stack frame:\n${text}`);
  assert.ok(!text.includes('secret_source_line'), `${where} has no line of source:\n${text}`);
}

for (const [what, options] of [
  ['bound to 0.0.0.0', { host: '0.0.0.0' }],
  ['errorDetails: false', { errorDetails: false }],
] as const) {
  describe(`error details, ${what}`, () => {
    let server: DatabenchServer;
    const logger = createMemoryLogger();
    before(async () => {
      server = await createServer({
        port: 0,
        analyses: FIXTURES + 'public-bind',
        logger,
        // what a page sees without details, not who may see it
        token: false,
        ...options,
      });
    });
    after(() => server.close());

    test('the index says which analyses failed, without paths, stacks or source', async () => {
      const res = await fetch(`${local(server)}/`);
      const html = await res.text();
      assert.match(html, /broken at import/);
      assertNoDetails(html, 'the index');
    });

    test('a load-error page shows the message only', async () => {
      const res = await fetch(`${local(server)}/throws/`);
      assert.equal(res.status, 500);
      const html = await res.text();
      assert.match(html, /broken at import/);
      assertNoDetails(html, 'the load-error page');
    });

    test('a Python load error shows no line of source', { skip: pythonSkip }, async () => {
      const index = await (await fetch(`${local(server)}/`)).text();
      assert.match(index, /ZeroDivisionError: division by zero/);
      assertNoDetails(index, 'the index');
      const res = await fetch(`${local(server)}/py_err/`);
      assert.equal(res.status, 500);
      const html = await res.text();
      assert.match(html, /ZeroDivisionError: division by zero/);
      assertNoDetails(html, 'the load-error page');
      assert.ok(
        logger.lines.some(([, l]) => l.includes('secret_source_line')),
        'the log has the line of source',
      );
    });

    test("a worker thread's death tells the page why, without its stack", async () => {
      const { client } = await TestClient.connect(`${local(server).replace('http', 'ws')}/dies/ws`);
      client.send('die');
      const error = await client.waitFor(
        (f) => f.signal === 'error' && String(f.load).includes('kernel stopped'),
        'the error frame of the dead kernel',
      );
      const text = String(error.load);
      assert.match(text, /the thread dies here/);
      assertNoDetails(text, 'the error frame');
      assert.equal((await client.closed(10_000)).code, 1011);
      assert.ok(
        logger.lines.some(
          ([, l]) =>
            l.includes('the thread dies here') && l.includes(FIXTURES + 'public-bind/dies'),
        ),
        'the log has the stack with its paths',
      );
    });
  });
}

describe('the Host check of a public bind', () => {
  let server: DatabenchServer;
  const logger = createMemoryLogger();
  before(async () => {
    server = await createServer({
      port: 0,
      host: '0.0.0.0',
      token: false,
      analyses: FIXTURES + 'hardening',
      allowOrigins: ['https://analyses.example.org'],
      logger,
    });
  });
  after(() => server.close());

  test("the machine's names and addresses, IP literals and --allow-origin hosts are answered", async () => {
    const port = new URL(server.url).port;
    const addresses = Object.values(networkInterfaces())
      .flat()
      .map((i) => (i?.family === 'IPv6' ? `[${i.address}]` : i?.address))
      .filter((a) => a !== undefined);
    for (const host of [
      `${hostname()}:${port}`,
      hostname(),
      ...addresses.map((a) => `${a}:${port}`),
      `198.51.100.20:${port}`,
      `localhost:${port}`,
      'analyses.example.org',
    ]) {
      assert.equal((await getWithHost(server, '/', host)).status, 200, `Host ${host}`);
    }
  });

  test('another Host is refused with 403 and a log line naming the flag, for pages and sockets', async () => {
    const port = new URL(server.url).port;
    const reply = await getWithHost(server, '/echo/', `rebound.example:${port}`);
    assert.equal(reply.status, 403);
    assert.match(reply.body, /--allow-origin/);
    assert.ok(
      logger.lines.some(
        ([level, l]) =>
          level === 'warn' && l.includes('"rebound.example:') && l.includes('--allow-origin'),
      ),
      'a log line names the Host and the flag',
    );
    await assert.rejects(
      TestClient.open(`ws://127.0.0.1:${port}/echo/ws`, {
        headers: { Host: `rebound.example:${port}` },
      }),
      /403/,
    );
    // the right Host still gets a socket
    const client = await TestClient.open(`ws://127.0.0.1:${port}/echo/ws`);
    client.close();
  });
});

describe('behind a reverse proxy, retained data is counted per client with --trust-proxy', () => {
  /** A page through the proxy for client `forwardedFor`: it keeps `value` in its data, then leaves. */
  async function visit(
    server: DatabenchServer,
    forwardedFor: string,
    value: string,
    id: string | null = null,
  ): Promise<{ id: string; kept: unknown }> {
    const client = await TestClient.open(wsUrlOf(server, 'keep'), {
      headers: { 'X-Forwarded-For': forwardedFor },
    });
    client.sendJson({ __connect: id, __request_args: '' });
    const reply = (await client.next('__connect')).load as { analysis_id: string };
    // a resumed page gets its data first
    const kept =
      id === reply.analysis_id
        ? ((await client.next('data')).load as Record<string, unknown>)['kept']
        : undefined;
    client.send('keep', value);
    await client.next('data');
    client.close();
    await client.closed();
    await until(() => server.sessions.size === 0, 'the page is released');
    return { id: reply.analysis_id, kept };
  }

  for (const trustProxy of [true, false]) {
    test(`trustProxy ${trustProxy}: another client ${trustProxy ? 'cannot evict' : 'evicts'} a client's data`, async () => {
      // each owner keeps 2 pages' data at most
      const backend = new MemoryBackend(10_000, 2);
      const server = await createServer({
        port: 0,
        analyses: FIXTURES + 'retention',
        logger: createMemoryLogger(),
        datastore: backend,
        trustProxy,
      });
      try {
        const alice = await visit(server, '203.0.113.7', 'alice');
        assert.ok(backend.has(alice.id), "alice's data is retained");
        // bob leaves three pages, and writes alice's address before his own (the proxy adds his)
        for (const n of [1, 2, 3]) await visit(server, `203.0.113.7, 198.51.100.9`, `bob ${n}`);
        assert.equal(backend.has(alice.id), trustProxy, "alice's data is still there");
        const again = await visit(server, '203.0.113.7', 'alice again', alice.id);
        if (trustProxy) {
          assert.equal(again.id, alice.id, 'alice resumes');
          assert.equal(again.kept, 'alice');
        } else {
          assert.notEqual(again.id, alice.id, 'one owner for all: bob pushed alice out');
        }
      } finally {
        await server.close();
        backend.dispose();
      }
    });
  }
});
