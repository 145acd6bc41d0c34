// Live, read-only share links: a page's session seen by a second page as it
// changes, actions of the viewer refused, revocation, expiry, guessed links,
// the allow rule, and two servers on one Redis. Real servers, real sockets.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import WebSocket from 'ws';
import { Connection } from '../../src/client/connection.ts';
import type { WebSocketConstructor } from '../../src/client/websocket.ts';
import { DatabenchError } from '../../src/protocol/errors.ts';
import { applyDelta, type DeltaLoad } from '../../src/protocol/delta.ts';
import { MAX_SHARES_PER_PAGE, MAX_VIEWERS_PER_SESSION } from '../../src/server/share.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient, until, type Frame } from '../helpers.ts';
import { pythonSkip } from '../python.ts';
import { redisSkip, startRedis, type RedisServer } from '../redis.ts';

const SHARE = FIXTURES + 'share';

function wsUrl(server: DatabenchServer, analysis = 'board'): string {
  return `${server.url.replace('http', 'ws')}/${analysis}/ws`;
}

/** The value of `key` in a `data` / `class_data` frame (undefined: not in it). */
function valueOf(frame: Frame, key: string): unknown {
  return (frame.load as Record<string, unknown>)[key];
}

/** The next `signal` frame that holds `key` with `value`. */
function seen(client: TestClient, signal: string, key: string, value: unknown): Promise<Frame> {
  return client.waitFor(
    (f) => f.signal === signal && valueOf(f, key) === value,
    `${signal} ${key} = ${JSON.stringify(value)}`,
  );
}

/** A share link of `owner`'s session: its id and expiry. */
async function share(
  owner: TestClient,
  expiresMs?: number,
): Promise<{ share: string; expires: number }> {
  owner.send(
    '__share',
    expiresMs === undefined ? { op: 'create' } : { op: 'create', expires_ms: expiresMs },
  );
  const reply = (await owner.next('__share')).load as {
    op: string;
    share: string;
    expires: number;
  };
  assert.equal(reply.op, 'created', JSON.stringify(reply));
  return reply;
}

/** Open a viewer of link `id`: the client and its `__connect` reply (or its refusal). */
async function view(
  url: string,
  id: string,
  headers: Record<string, string> = {},
): Promise<{ client: TestClient; reply: Frame }> {
  const client = await TestClient.open(url, { headers });
  client.sendJson({ __connect: null, __request_args: '', __share: id });
  const reply = await client.waitFor(
    (f) => f.signal === '__connect' || f.signal === 'error',
    'the __connect reply, or an error',
  );
  return { client, reply };
}

/** A viewer's link is refused: an error frame naming no reason a guess could use, then 4003. */
async function refused(url: string, id: string): Promise<void> {
  const { client, reply } = await view(url, id);
  assert.equal(reply.signal, 'error');
  assert.match(String(reply.load), /share link is unknown, expired or revoked/);
  const closed = await client.closed();
  assert.equal(closed.code, 4003);
}

describe('share links on one server', () => {
  const logger = createMemoryLogger();
  let server: DatabenchServer;
  before(async () => {
    server = await createServer({ port: 0, analyses: SHARE, logger });
  });
  after(() => server?.close());

  for (const [analysis, kernelSkip] of [
    ['board', false],
    ['board_worker', false],
    ['board_py', pythonSkip],
  ] as const) {
    test(
      `${analysis}: a viewer sees the owner's data and classData, then every change, live; the owner is not taken over`,
      { skip: kernelSkip },
      async () => {
        const url = wsUrl(server, analysis);
        const { client: owner, id } = await TestClient.connect(url);
        owner.send('x', 7);
        await seen(owner, 'data', 'x', 7);
        owner.send('visit');
        const visits = valueOf(await owner.next('class_data'), 'visits') as number;

        const link = await share(owner);
        assert.match(link.share, /^[A-Za-z0-9_-]{24}$/, 'a 144-bit id in base64url');
        assert.ok(link.expires > Date.now() + 23 * 3600_000, 'a link works 24 h by default');

        const { client: viewer, reply } = await view(url, link.share);
        assert.equal(reply.signal, '__connect');
        const load = reply.load as Record<string, unknown>;
        assert.equal(load['view'], true);
        assert.equal(load['analysis_id'], '', "a viewer never learns the owner's id");
        assert.ok(
          !JSON.stringify(viewer.frames).includes(id),
          "the owner's id reaches no viewer frame",
        );
        // the snapshot
        await seen(viewer, 'data', 'x', 7);
        await seen(viewer, 'class_data', 'visits', visits);

        // live
        owner.send('x', 8);
        await seen(viewer, 'data', 'x', 8);
        owner.send('visit');
        await seen(viewer, 'class_data', 'visits', visits + 1);
        assert.equal(owner.ws.readyState, owner.ws.OPEN, 'the owner is still open (no 4001)');
        assert.equal(owner.closeCode, undefined);

        // the owner's page reloads (resumes its id): the viewer stays and follows on
        owner.close();
        await owner.closed();
        // while the owner is away, its kept data is still shown, to open viewers and new ones
        const late = await view(url, link.share);
        assert.equal(late.reply.signal, '__connect');
        await seen(late.client, 'data', 'x', 8);
        assert.equal(viewer.ws.readyState, viewer.ws.OPEN);
        const again = await TestClient.connect(url, { id });
        assert.equal(again.id, id, 'the owner resumed its session');
        again.client.send('x', 9);
        await seen(viewer, 'data', 'x', 9);
        await seen(late.client, 'data', 'x', 9);
        assert.equal(viewer.ws.readyState, viewer.ws.OPEN);
        late.client.close();
        again.client.close();
        viewer.close();
      },
    );
  }

  test('actions, __cancel and uploads of a viewer are refused with a warn and never reach the analysis', async () => {
    const url = wsUrl(server);
    const { client: owner } = await TestClient.connect(url);
    owner.send('x', 1);
    await seen(owner, 'data', 'x', 1);
    const link = await share(owner);
    const { client: viewer } = await view(url, link.share);
    await seen(viewer, 'data', 'x', 1);

    // the owner runs an action that waits; the viewer tries to act and to cancel it
    owner.send('hold', { __process_id: 1 });
    await owner.waitFor(
      (f) => f.signal === '__process' && (f.load as { status: string }).status === 'start',
      'the start of hold',
    );
    viewer.send('x', 99);
    viewer.send('connected');
    viewer.send('__cancel', { id: 1 });
    viewer.send('__cancel', { action: 'hold' });
    viewer.send('__upload', {
      op: 'start',
      id: 5,
      action: 'x',
      files: [{ name: 'a.txt', type: 'text/plain', size: 3 }],
    });
    viewer.send('__share', { op: 'create' });
    const warns: string[] = [];
    for (let i = 0; i < 5; i++) warns.push(String((await viewer.next('warn')).load));
    assert.match(warns[0]!, /action "x" refused: this page is a read-only view/);
    assert.match(warns[1]!, /action "connected" refused/);
    assert.match(warns[2]!, /__cancel refused/);
    assert.match(warns[3]!, /__cancel refused/);
    assert.match(warns[4]!, /upload to "x" refused/);
    const upload = (await viewer.next('__upload')).load as { op: string };
    assert.equal(upload.op, 'error');
    const shareReply = (await viewer.next('__share')).load as { op: string; message: string };
    assert.deepEqual(shareReply.op, 'error');
    assert.match(shareReply.message, /read-only view cannot share/);

    // the owner's action was not cancelled, and x is still the owner's
    owner.send('release');
    await seen(owner, 'data', 'held', 'released');
    const end = await owner.waitFor(
      (f) => f.signal === '__process' && (f.load as { status: string }).status === 'end',
      'the end of hold',
    );
    assert.equal((end.load as { cancelled?: boolean }).cancelled, undefined);
    await seen(viewer, 'data', 'held', 'released');
    owner.send('x', 2);
    await seen(viewer, 'data', 'x', 2);
    const xs = (c: TestClient) =>
      c.frames
        .filter((f) => f.signal === 'data' && 'x' in (f.load as object))
        .map((f) => valueOf(f, 'x'));
    assert.deepEqual(xs(owner), [1, 2], "the viewer's action never changed the owner's data");
    assert.deepEqual(xs(viewer), [1, 2]);
    owner.close();
    viewer.close();
  });

  test('a revoked link closes its open viewers (4003) and opens no new one; only its session may revoke it', async () => {
    const url = wsUrl(server);
    const { client: owner } = await TestClient.connect(url);
    const link = await share(owner);
    const { client: viewer } = await view(url, link.share);

    // another session cannot revoke it
    const { client: other } = await TestClient.connect(url);
    other.send('__share', { op: 'revoke', share: link.share });
    const otherReply = (await other.next('__share')).load as { op: string };
    assert.equal(otherReply.op, 'error');
    assert.equal(viewer.ws.readyState, viewer.ws.OPEN);

    owner.send('__share', { op: 'revoke', share: link.share });
    assert.deepEqual((await owner.next('__share')).load, { op: 'revoked', share: link.share });
    const closed = await viewer.closed();
    assert.equal(closed.code, 4003);
    assert.match(closed.reason, /revoked/);
    await refused(url, link.share);
    // the owner's page is untouched
    owner.send('x', 3);
    await seen(owner, 'data', 'x', 3);
    owner.close();
    other.close();
  });

  test(`a page makes at most ${MAX_SHARES_PER_PAGE} links; revoking one frees its place`, async () => {
    const url = wsUrl(server);
    const { client: owner } = await TestClient.connect(url);
    const links: string[] = [];
    for (let i = 0; i < MAX_SHARES_PER_PAGE; i++) links.push((await share(owner)).share);
    assert.equal(new Set(links).size, MAX_SHARES_PER_PAGE, 'each link is its own');
    owner.send('__share', { op: 'create' });
    const over = (await owner.next('__share')).load as { op: string; message: string };
    assert.equal(over.op, 'error');
    assert.match(over.message, new RegExp(`at most ${MAX_SHARES_PER_PAGE} share links`));
    // the links made still work
    const { reply } = await view(url, links[0]!);
    assert.equal(reply.signal, '__connect');
    owner.send('__share', { op: 'revoke', share: links[1]! });
    assert.deepEqual((await owner.next('__share')).load, { op: 'revoked', share: links[1] });
    const again = await share(owner);
    assert.ok(!links.includes(again.share));
    owner.send('__share', { op: 'create' });
    assert.equal(((await owner.next('__share')).load as { op: string }).op, 'error');
    owner.close();
  });

  test(`a shared session has at most ${MAX_VIEWERS_PER_SESSION} viewers in a process: one more is told to retry later (1013)`, async () => {
    const url = wsUrl(server);
    const { client: owner } = await TestClient.connect(url);
    const link = await share(owner);
    const viewers: TestClient[] = [];
    for (let i = 0; i < MAX_VIEWERS_PER_SESSION; i++) {
      const { client, reply } = await view(url, link.share);
      assert.equal(reply.signal, '__connect', `viewer ${i + 1} is let in`);
      viewers.push(client);
    }
    const { client: extra, reply } = await view(url, link.share);
    assert.equal(reply.signal, 'error');
    assert.match(String(reply.load), /as many viewers as it may/);
    const closed = await extra.closed();
    assert.equal(closed.code, 1013);
    assert.match(closed.reason, /too many viewers/);
    // the viewers let in follow on; one that leaves frees its place
    owner.send('x', 41);
    await Promise.all(viewers.map((v) => seen(v, 'data', 'x', 41)));
    const left = viewers.pop()!;
    left.close();
    await left.closed();
    // the server hears the close a moment after the page: a refused viewer retries, as the page would
    let next: TestClient | undefined;
    for (const end = Date.now() + 10_000; next === undefined;) {
      const attempt = await view(url, link.share);
      if (attempt.reply.signal === '__connect') next = attempt.client;
      else if (Date.now() > end) assert.fail('no viewer was let in after one left');
      else assert.equal((await attempt.client.closed()).code, 1013);
    }
    viewers.push(next);
    for (const v of viewers) v.close();
    owner.close();
  });

  test('a guessed, malformed or foreign link is refused before anything is shown', async () => {
    const url = wsUrl(server);
    await refused(url, randomBytes(18).toString('base64url'));
    await refused(url, 'not-a-share-id');
    await refused(url, '../../etc');
    // a link of board does not open on board_worker's socket (its allow rule could differ)
    const { client: owner } = await TestClient.connect(url);
    const link = await share(owner);
    await refused(wsUrl(server, 'board_worker'), link.share);
    // an owner's analysis id is not a share link either
    await refused(url, (owner.frames[0]!.load as { analysis_id: string }).analysis_id);
    owner.close();
  });
});

describe('the client: Connection.share(), revokeShare() and a viewing Connection', () => {
  test('a link made by one Connection opens another as a viewer, which cannot share and stops when revoked', async () => {
    const server = await createServer({ port: 0, analyses: SHARE, logger: createMemoryLogger() });
    const opened: Connection[] = [];
    try {
      const url = wsUrl(server);
      const quiet = {
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        console: { log: () => undefined, warn: () => undefined, error: () => undefined },
      };
      const attach = (options: ConstructorParameters<typeof Connection>[3]) =>
        new Promise<Connection>((resolve) => {
          const c = new Connection(url, '', null, options);
          opened.push(c);
          c.connect(resolve);
        });
      const owner = await attach(quiet);
      owner.emit('x', 5);
      await owner.once({ data: 'x' });
      const link = await owner.share({ expiresMs: 60_000 });
      assert.equal(link.url, `${server.url}/board/?__share=${link.id}`);
      assert.ok(link.expires.getTime() <= Date.now() + 60_000);

      const problems: string[] = [];
      const viewer = await attach({ ...quiet, share: link.id });
      viewer.errorCB = (message) => void (message !== undefined && problems.push(message));
      assert.equal(viewer.viewing, true);
      assert.equal(owner.viewing, false);
      assert.equal(viewer.analysisId, undefined, 'no id: nothing to resume');
      const followed = viewer.once({ data: 'x' });
      owner.emit('x', 6);
      assert.equal(await followed, 6);
      await assert.rejects(
        viewer.share(),
        (e) => e instanceof DatabenchError && e.code === 'SHARE',
      );

      await owner.revokeShare();
      await until(
        () => problems.some((p) => p.includes('This shared view has ended')),
        'the viewer says its view ended',
      );
      assert.equal(viewer.connected, false);
      // nothing left to revoke
      await assert.rejects(owner.revokeShare(), /no share link to revoke/);
    } finally {
      for (const c of opened) c.disconnect();
      await server.close();
    }
  });
});

describe("slow viewers count against the owner's budget", () => {
  test('paused viewers of one session are closed once together they hold more than sendBufferViewersBytes; the owner is not', async () => {
    const logger = createMemoryLogger();
    const server = await createServer({
      port: 0,
      analyses: SHARE,
      logger,
      sendBufferSoftBytes: 64 * 1024,
      // far above what each viewer gets (20 MB) and what all hold: only the viewers' budget can close them
      sendBufferHardBytes: 64 << 20,
      sendBufferTotalBytes: 256 << 20,
      sendBufferViewersBytes: 1 << 20,
    });
    try {
      const url = wsUrl(server);
      const { client: owner } = await TestClient.connect(url);
      const link = await share(owner);
      const viewers: TestClient[] = [];
      for (let i = 0; i < 3; i++) {
        const { client, reply } = await view(url, link.share);
        assert.equal(reply.signal, '__connect');
        client.ws.pause();
        viewers.push(client);
      }
      owner.send('fill', [200, 100_000]);
      assert.equal((await owner.next('filled', 60_000)).load, 200);
      assert.equal(owner.ws.readyState, owner.ws.OPEN, 'the owner reads: it is not closed');
      const closing = () =>
        logger.lines.filter(([, line]) =>
          line.includes(
            'closing a slow page: all slow pages together hold more than 1048576 bytes',
          ),
        ).length;
      await until(() => closing() >= 1, "a viewer closed by its session's budget", 30_000);
      for (const client of viewers) {
        client.ws.resume();
        client.close();
      }
      owner.close();
    } finally {
      await server.close();
    }
  });
});

describe('share links expire', () => {
  test('a link lives at most shareExpiresMs: its open viewer closes then, and a new one is refused', async () => {
    const server = await createServer({
      port: 0,
      analyses: SHARE,
      logger: createMemoryLogger(),
      shareExpiresMs: 600,
    });
    try {
      const url = wsUrl(server);
      const { client: owner } = await TestClient.connect(url);
      // a page may ask for longer: the server's bound wins
      const before = Date.now();
      const link = await share(owner, 10 * 24 * 3600_000);
      assert.ok(link.expires <= Date.now() + 600, 'capped at shareExpiresMs');
      assert.ok(link.expires >= before + 600);
      const { client: viewer, reply } = await view(url, link.share);
      assert.equal(reply.signal, '__connect');
      const closed = await viewer.closed(10_000);
      assert.equal(closed.code, 4003);
      assert.match(closed.reason, /expired/);
      assert.ok(Date.now() >= link.expires, 'not before its expiry');
      await refused(url, link.share);
      owner.close();
    } finally {
      await server.close();
    }
  });

  test('shareExpiresMs is checked once at start', async () => {
    await assert.rejects(
      createServer({ port: 0, analyses: SHARE, logger: createMemoryLogger(), shareExpiresMs: 0 }),
      /option shareExpiresMs.*a positive number/,
    );
    await assert.rejects(
      createServer({
        port: 0,
        analyses: SHARE,
        logger: createMemoryLogger(),
        shareExpiresMs: 2 ** 31,
      }),
      /option shareExpiresMs.*at most 2147483647/,
    );
  });
});

describe('a share link obeys the allow rule of its analysis', () => {
  test('a viewer must be let in like anyone: no login or the wrong group is refused at the upgrade', async () => {
    const USERS: Record<string, { id: string; groups: string[] }> = {
      ann: { id: 'ann', groups: ['analysts'] },
      zoe: { id: 'zoe', groups: ['analysts'] },
      bob: { id: 'bob', groups: ['sales'] },
    };
    const server = await createServer({
      port: 0,
      analyses: SHARE,
      logger: createMemoryLogger(),
      authenticate: (req) => USERS[String(req.headers['x-user'])] ?? null,
    });
    try {
      const url = wsUrl(server, 'team_board');
      const owner = await TestClient.open(url, { headers: { 'X-User': 'ann' } });
      owner.sendJson({ __connect: null, __request_args: '' });
      await owner.next('__connect');
      owner.send('x', 4);
      await seen(owner, 'data', 'x', 4);
      const link = await share(owner);

      await assert.rejects(
        view(url, link.share, { 'X-User': 'bob' }),
        /upgrade refused with HTTP 403/,
      );
      await assert.rejects(view(url, link.share), /upgrade refused with HTTP 401/);
      const { client: viewer, reply } = await view(url, link.share, { 'X-User': 'zoe' });
      assert.equal(reply.signal, '__connect');
      await seen(viewer, 'data', 'x', 4);
      owner.close();
      viewer.close();
    } finally {
      await server.close();
    }
  });
});

describe('share links across two processes on Redis', { skip: redisSkip }, () => {
  let redis: RedisServer;
  let a: DatabenchServer;
  let b: DatabenchServer;
  before(async () => {
    redis = await startRedis();
    a = await createServer({
      port: 0,
      analyses: SHARE,
      logger: createMemoryLogger(),
      datastore: redis.url,
    });
    b = await createServer({
      port: 0,
      analyses: SHARE,
      logger: createMemoryLogger(),
      datastore: redis.url,
    });
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  test('a link made on A opens on B, follows the owner live, survives its resume on B and closes when revoked on A', async () => {
    const { client: owner, id } = await TestClient.connect(wsUrl(a));
    owner.send('x', 11);
    await seen(owner, 'data', 'x', 11);
    const link = await share(owner);

    const { client: viewer, reply } = await view(wsUrl(b), link.share);
    assert.equal(reply.signal, '__connect');
    await seen(viewer, 'data', 'x', 11);
    owner.send('x', 12);
    await seen(viewer, 'data', 'x', 12);

    // the owner's page moves to B (a resume across processes): the viewer stays
    owner.close();
    await owner.closed();
    const moved = await TestClient.connect(wsUrl(b), { id });
    assert.equal(moved.id, id);
    moved.client.send('x', 13);
    await seen(viewer, 'data', 'x', 13);
    assert.equal(viewer.ws.readyState, viewer.ws.OPEN);

    // revoked from B's page, the viewer on B closes; a viewer on A is refused
    const { client: second } = await view(wsUrl(a), link.share);
    await seen(second, 'data', 'x', 13);
    moved.client.send('__share', { op: 'revoke', share: link.share });
    assert.equal(((await moved.client.next('__share')).load as { op: string }).op, 'revoked');
    assert.equal((await viewer.closed()).code, 4003);
    assert.equal((await second.closed()).code, 4003, 'the viewer on the other process closes too');
    await refused(wsUrl(a), link.share);
    moved.client.close();
  });
});

describe('share links: a viewer is measured like its owner', () => {
  const HARD = 64 * 1024;
  let server: DatabenchServer;
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: FIXTURES + 'share',
      logger: createMemoryLogger(),
      sendBufferSoftBytes: 16 * 1024,
      sendBufferHardBytes: HARD,
    });
  });
  after(() => server.close());

  test('a viewer that takes deltas follows a list past sendBufferHardBytes, as its owner does', async () => {
    const n = 20_000;
    assert.ok(JSON.stringify(Array.from({ length: n }, (_, i) => i)).length > HARD);
    const owner = await TestClient.open(wsUrl(server));
    owner.sendJson({ __connect: null, __request_args: '', __deltas: 1 });
    await owner.next('__connect');
    const link = await share(owner);
    const viewer = await TestClient.open(wsUrl(server));
    viewer.sendJson({ __connect: null, __request_args: '', __share: link.share, __deltas: 1 });
    await viewer.next('__connect');
    owner.send('grow', [n]);
    await owner.next('grown', 30_000);
    // the viewer's list, as a page holds it: whole values, then deltas applied
    let xs: unknown;
    // applyDelta changes the value in place: rebuild from copies of the frames
    await until(
      () => {
        xs = undefined;
        for (const f of viewer.frames) {
          if (f.signal === 'data' && 'xs' in (f.load as object)) {
            xs = structuredClone((f.load as { xs: unknown }).xs);
          } else if (f.signal === '__delta' && (f.load as DeltaLoad).key === 'xs') {
            xs = applyDelta(xs, f.load as DeltaLoad);
          }
        }
        return Array.isArray(xs) && xs.length >= n;
      },
      'the viewer holding the whole list',
      30_000,
    );
    assert.deepEqual(
      xs,
      Array.from({ length: n }, (_, i) => i),
    );
    assert.ok(!viewer.frames.some((f) => f.signal === 'error'), 'no error frame to the viewer');
    owner.close();
    viewer.close();
  });
});
