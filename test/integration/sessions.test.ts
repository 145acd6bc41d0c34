// The session guarantees, against the real server with real sockets,
// for the in-process and the worker kernel alike: teardown that always
// happens, exclusive resume, bounded queued input, outbound limits in bytes
// and a server-wide outbound budget.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  createServer,
  type DatabenchServer,
  type ServerOptions,
} from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import type { DetachOptions } from '../../src/datastore/backend.ts';
import { MemoryBackend } from '../../src/datastore/backends/memory.ts';
import { deferred } from '../async.ts';
import { FIXTURES, TestClient, until, within, wsUrlOf } from '../helpers.ts';

/** A server on the kernels fixture (in-process, worker and Python analyses); `options` on top. */
function kernelsServer(options: ServerOptions = {}): Promise<DatabenchServer> {
  return createServer({
    port: 0,
    analyses: FIXTURES + 'kernels',
    logger: createMemoryLogger(),
    ...options,
  });
}

describe('sessions', () => {
  let server: DatabenchServer;
  const logger = createMemoryLogger();
  before(async () => {
    server = await kernelsServer({
      logger,
      pauseQueuedBytes: 256 * 1024,
      sendBufferHardBytes: 1 << 20,
    });
  });
  after(() => server.close());

  for (const name of ['inproc', 'work']) {
    describe(name, () => {
      test('a page that leaves while its handler never returns: disconnected runs, the session is released', async () => {
        const { client, id } = await TestClient.connect(wsUrlOf(server, name));
        client.send('forever');
        client.send('echo', [1]);
        client.close();
        await client.closed();
        await until(
          () => logger.lines.some(([, l]) => l.includes(`disconnected ${id.slice(0, 8)}`)),
          'disconnected ran',
        );
        await until(() => server.sessions.size === 0, 'the session is released');
      });

      test('resume is exclusive: the newest socket takes over, the older one closes with 4001', async () => {
        const first = await TestClient.connect(wsUrlOf(server, name));
        first.client.send('mine', [7]);
        await first.client.next('data');
        const second = await TestClient.connect(wsUrlOf(server, name), { id: first.id });
        assert.equal(second.id, first.id);
        const closed = await first.client.closed();
        assert.equal(closed.code, 4001);
        assert.match(closed.reason, /resumed by another page/);
        assert.deepEqual((await second.client.next('data')).load, { mine: 7 });
        second.client.send('echo', ['mine']);
        assert.equal((await second.client.next('echo')).load, 'mine');
        second.client.close();
      });

      test('an id the server never issued starts a fresh session with a fresh id', async () => {
        const chosen = '01234567-89ab-4def-8123-456789abcdef';
        const { client, id } = await TestClient.connect(wsUrlOf(server, name), { id: chosen });
        assert.notEqual(id, chosen);
        assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        client.close();
      });

      test('outbound limits count bytes: three-byte text past the hard bound closes the page', async () => {
        const { client } = await TestClient.connect(wsUrlOf(server, name));
        // 400k characters are 1.2 MB of UTF-8: over the 1 MiB bound
        client.send('big', [400_000]);
        const closed = await client.closed();
        assert.equal(closed.code, 1008);
        assert.match(closed.reason, /send buffer over limit/);
      });
    });
  }

  test('queued input is bounded in bytes: a busy session stops reading its socket', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'inproc'));
    client.send('forever');
    const load = 'x'.repeat(100 * 1024);
    for (let i = 0; i < 40; i++) client.send('echo', [load]);
    const session = [...server.sessions].find((s) => s.kernel.name === 'inproc')!;
    await until(() => session.ws.isPaused, 'the socket is paused');
    // a paused socket reads nothing, a close included: the server's shutdown ends it
    client.ws.terminate();
  });
});

describe('sessions: hard bound of queued input', () => {
  let server: DatabenchServer;
  before(async () => {
    server = await kernelsServer({
      pauseQueuedBytes: 64 << 20,
      maxQueuedBytes: 512 * 1024,
    });
  });
  after(() => server.close());

  test('past the hard bound the socket closes with 1008 and a reason', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'work'));
    client.send('forever');
    const load = 'x'.repeat(100 * 1024);
    for (let i = 0; i < 10; i++) client.send('echo', [load]);
    const closed = await client.closed();
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /bytes of actions queued/);
  });
});

describe('sessions: the server-wide outbound budget', () => {
  let server: DatabenchServer;
  // the server's decision to close a page is the event the test acts on
  // (not a poll of the log): the ids it names, and a hook to run at once
  const closedIds: string[] = [];
  let onBudgetClose: () => void = () => undefined;
  const logger = {
    ...createMemoryLogger(),
    warn(line: string): void {
      const closing = /^\[inproc (\w{8})\] closing a slow page: all slow pages together/.exec(line);
      if (closing) {
        closedIds.push(closing[1]!);
        onBudgetClose();
      }
    },
  };
  before(async () => {
    server = await kernelsServer({
      logger,
      sendBufferSoftBytes: 64 * 1024,
      sendBufferHardBytes: 64 << 20,
      sendBufferTotalBytes: 8 << 20,
    });
  });
  after(() => server.close());

  test('slow pages together past the budget: the slowest are closed with a reason', async () => {
    const pages = await Promise.all(
      [0, 1, 2].map(() => TestClient.connect(wsUrlOf(server, 'inproc'))),
    );
    // none of them reads: their frames pile up on the server
    for (const { client } of pages) client.ws.pause();
    // the pages read again the moment the server closes one: each close
    // frame waits behind what the page was sent, and the page must reach it
    const decided = deferred();
    onBudgetClose = () => {
      for (const { client } of pages) client.ws.resume();
      decided.resolve();
    };
    pages[0]!.client.send('flood', [40, 256 * 1024]);
    pages[1]!.client.send('flood', [40, 256 * 1024]);
    pages[2]!.client.send('flood', [8, 256 * 1024]);
    await within(decided.promise, 15_000, 'the budget to close a page');
    const closed = pages.filter(({ id }) => closedIds.includes(id.slice(0, 8)));
    assert.ok(closed.length > 0, `the closed pages are among these: ${closedIds.join(', ')}`);
    for (const { client } of closed) {
      const { code, reason } = await client.closed(15_000);
      assert.equal(code, 1008);
      assert.match(reason, /send budget/);
    }
    // the page that asked for least is not among the slowest
    assert.ok(!closed.includes(pages[2]!), 'the page that asked for least stays open');
    assert.equal(pages[2]!.client.ws.readyState, pages[2]!.client.ws.OPEN);
    for (const { client } of pages) client.close();
  });
});

describe('sessions: a page closed for reading too slowly', () => {
  let server: DatabenchServer;
  const lines: string[] = [];
  let onLine: () => void = () => undefined;
  const logger = {
    ...createMemoryLogger(),
    debug(line: string): void {
      lines.push(line);
      onLine();
    },
    warn(line: string): void {
      lines.push(line);
      onLine();
    },
  };
  before(async () => {
    server = await kernelsServer({
      logger,
      sendBufferSoftBytes: 64 * 1024,
      // less than one slow page holds: any slow page alone is over it
      sendBufferTotalBytes: 32 * 1024,
    });
  });
  after(() => server.close());

  test('what its socket still holds counts against the budget: if it does not read, it is cut off', async () => {
    const { client, id } = await TestClient.connect(wsUrlOf(server, 'inproc'));
    client.ws.pause();
    const prefix = `[inproc ${id.slice(0, 8)}]`;
    const cutOff = deferred();
    onLine = () => {
      if (lines.some((l) => l.startsWith(`${prefix} cutting off a slow page`))) cutOff.resolve();
    };
    client.send('flood', [40, 256 * 1024]);
    await within(cutOff.promise, 15_000, 'the budget to cut off the closed page');
    assert.ok(
      lines.some((l) => l.startsWith(`${prefix} closing a slow page`)),
      'the page was closed (with a reason) before it was cut off',
    );
    client.ws.resume();
    // its close frame was still in the server's buffer: the page sees the connection end
    assert.equal((await client.closed(15_000)).code, 1006);
    await until(() => server.sessions.size === 0, 'the session is released');
  });
});

describe('whose share of retained data a page uses', () => {
  const cases: Array<[host: string, owner: string]> = [
    // a loopback bind: every page is on this machine, no per-socket address lookup
    ['127.0.0.1', 'loopback'],
    // a public bind: the peer's address
    ['0.0.0.0', '127.0.0.1'],
  ];
  for (const [host, owner] of cases) {
    test(`bound to ${host}: the data a page leaves is retained for "${owner}"`, async () => {
      const owners: Array<string | undefined> = [];
      class Recording extends MemoryBackend {
        override detach(domain: string, options: DetachOptions): void {
          owners.push(options.owner);
          super.detach(domain, options);
        }
      }
      const server = await createServer({
        port: 0,
        host,
        analyses: FIXTURES + 'kernels',
        datastore: new Recording(),
        // what is retained, not who may connect, is under test here
        token: false,
      });
      try {
        const url = wsUrlOf(server, 'inproc').replace('0.0.0.0', '127.0.0.1');
        const { client } = await TestClient.connect(url);
        client.send('mine', [1]);
        await client.next('data');
        client.close();
        await client.closed();
        await until(() => owners.some((o) => o !== undefined), 'the page data was detached');
        assert.deepEqual(
          owners.filter((o) => o !== undefined),
          [owner],
        );
      } finally {
        await server.close();
      }
    });
  }
});

describe('a slow page of each kernel', () => {
  for (const name of ['inproc', 'work']) {
    test(`${name}: data updates coalesce while the page does not read, the final value arrives`, async () => {
      const server = await kernelsServer({
        sendBufferSoftBytes: 64 * 1024,
      });
      try {
        const { client } = await TestClient.connect(wsUrlOf(server, name));
        const socket = (client.ws as unknown as { _socket: { pause(): void; resume(): void } })
          ._socket;
        socket.pause();
        client.send('blobs', [2000, 16 * 1024]);
        // the analysis writes while the page does not read
        await new Promise((r) => setTimeout(r, 1500));
        socket.resume();
        await client.next('blobs_done', 20_000);
        const blobs = client.frames.filter((f) => f.signal === 'data');
        assert.ok(
          (blobs.at(-1)?.load as { blob: string }).blob.startsWith('1999:'),
          'the latest value arrives',
        );
        assert.ok(blobs.length < 2000, `updates coalesced: ${blobs.length} frames for 2000 writes`);
        client.close();
      } finally {
        await server.close();
      }
    });
  }
});
