// userData follows the signed-in user: across the user's pages, live, in
// every kernel, and across two server processes on one real redis-server;
// another user never sees it. A session is resumed only by the user who
// opened it. Real servers, real sockets.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { databench, FIXTURES, serving, TestClient, type CliRun, type Frame } from '../helpers.ts';
import { redisSkip, startRedis, type RedisServer } from '../redis.ts';

const ANALYSES = FIXTURES + 'userdata';
/** A Python or worker kernel may take a while to start on a busy machine. */
const MS = 20_000;

/** Open `url` as `user` (the X-User header the server's login reads) and send `__connect`. */
async function pageOf(
  url: string,
  user: string,
  resume: string | null = null,
): Promise<{ client: TestClient; id: string }> {
  const client = await TestClient.open(url, { headers: { 'X-User': user } });
  client.sendJson({ __connect: resume, __request_args: '' });
  const reply = await client.waitFor((f) => f.signal === '__connect', 'the __connect reply', MS);
  return { client, id: (reply.load as { analysis_id: string }).analysis_id };
}

/** Every `user_data` load a page got. */
function userData(client: TestClient): unknown[] {
  return client.frames.filter((f) => f.signal === 'user_data').map((f) => f.load);
}

/** A round trip through the page's session: every frame sent before it has arrived. */
async function settled(client: TestClient): Promise<void> {
  const from = client.frames.length;
  client.send('whoami');
  await client.waitFor((f: Frame) => f.signal === 'whoami', 'the whoami answer', MS, from);
}

function hasKey(key: string): (f: Frame) => boolean {
  return (f) => f.signal === 'user_data' && typeof f.load === 'object' && key in f.load!;
}

describe('userData: the signed-in user carries it from page to page', () => {
  let server: DatabenchServer;
  const clients: TestClient[] = [];
  const open = async (name: string, user: string, resume: string | null = null) => {
    const page = await pageOf(`${server.url.replace('http', 'ws')}/${name}/ws`, user, resume);
    clients.push(page.client);
    return page;
  };
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: ANALYSES,
      logger: createMemoryLogger(),
      watch: false,
      authenticate: (req) => {
        const id = req.headers['x-user'];
        return typeof id === 'string' && id !== '' ? { id } : null;
      },
    });
  });
  after(async () => {
    for (const c of clients) c.close();
    await server?.close();
  });

  test('pyownattr: 0.7 code with an attribute of its own named user_data keeps it (no user store for it)', async () => {
    const { client } = await open('pyownattr', 'alice@example.com');
    client.send('click');
    client.send('click');
    const clicks = await client.waitFor(
      (f) => f.signal === 'clicks' && f.load === 2,
      'the second click counted by the own attribute',
      MS,
    );
    assert.equal(clicks.load, 2);
    assert.deepEqual(userData(client), []);
  });

  for (const name of ['prefs', 'workerprefs', 'pyprefs']) {
    test(`${name}: a change in one page of a user reaches the user's other page live; another user sees none of it`, async () => {
      const { client: one } = await open(name, 'alice@example.com');
      const { client: two } = await open(name, 'alice@example.com');
      const { client: bob } = await open(name, 'bob');
      one.send('set_pref', ['theme', 'dark']);
      const live = await two.waitFor(hasKey('theme'), "alice's theme in her other page", MS);
      assert.deepEqual(live.load, { theme: 'dark' });
      one.send('see', [1]);
      two.send('see', [2]);
      await one.waitFor(
        (f) => hasKey('seen')(f) && (f.load as { seen: number[] }).seen.length === 2,
        'both appends in the first page',
        MS,
      );
      bob.send('set_pref', ['theme', 'light']);
      await bob.waitFor(hasKey('theme'), "bob's own theme", MS);
      await settled(one);
      await settled(two);
      await settled(bob);
      assert.deepEqual(userData(bob), [{ theme: 'light' }], "alice's userData never reaches bob");
      for (const page of [one, two]) {
        assert.ok(
          !userData(page).some((l) => (l as { theme?: string }).theme === 'light'),
          "bob's userData never reaches alice",
        );
      }
      // a page alice opens later starts with what she has
      const { client: later } = await open(name, 'alice@example.com');
      const snapshot = await later.waitFor(hasKey('theme'), 'the user_data snapshot', MS);
      assert.equal((snapshot.load as { theme: string }).theme, 'dark');
      assert.equal((snapshot.load as { seen: number[] }).seen.length, 2);
    });

    test(`${name}: another user who sends a session's id gets a session of their own; the owner's page stays open, and the owner resumes it`, async () => {
      const { client: owner, id } = await open(name, 'alice');
      owner.send('set_data', ['secret', 'of alice']);
      await owner.waitFor((f) => f.signal === 'data', "alice's data", MS);
      // while alice's page is open
      const { client: bob, id: bobsId } = await open(name, 'bob', id);
      assert.notEqual(bobsId, id, "bob does not get alice's session");
      await settled(bob);
      assert.deepEqual(
        bob.frames.filter((f) => f.signal === 'data'),
        [],
        "bob sees none of alice's data",
      );
      await settled(owner);
      assert.equal(owner.closeCode, undefined, "alice's page is not taken over");
      // after alice's page has gone
      owner.close();
      await owner.closed();
      const { client: again, id: againId } = await open(name, 'bob', id);
      assert.notEqual(againId, id);
      await settled(again);
      assert.deepEqual(
        again.frames.filter((f) => f.signal === 'data'),
        [],
      );
      // alice herself resumes it, with her data
      const { client: back, id: backId } = await open(name, 'alice', id);
      assert.equal(backId, id);
      const data = await back.waitFor((f) => f.signal === 'data', "alice's data snapshot", MS);
      assert.deepEqual(data.load, { secret: 'of alice' });
    });
  }
});

describe('userData across two server processes on one redis-server', { skip: redisSkip }, () => {
  let redis: RedisServer;
  let a: CliRun;
  let b: CliRun;
  let urlA = '';
  let urlB = '';
  const clients: TestClient[] = [];
  const open = async (url: string, name: string, user: string, resume: string | null = null) => {
    const page = await pageOf(`${url.replace('http', 'ws')}/${name}/ws`, user, resume);
    clients.push(page.client);
    return page;
  };
  const stop = async (run: CliRun | undefined) => {
    if (!run || run.child.exitCode !== null || run.child.signalCode !== null) return;
    run.child.kill('SIGTERM');
    await run.exited;
  };

  before(async () => {
    redis = await startRedis();
    a = databench([ANALYSES, redis.url], { bin: '../test/login-server.ts' });
    b = databench([ANALYSES, redis.url], { bin: '../test/login-server.ts' });
    [urlA, urlB] = await Promise.all([serving(a), serving(b)]);
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all([stop(a), stop(b)]);
    await redis?.stop();
  });

  for (const name of ['prefs', 'pyprefs']) {
    test(`${name}: a user's change on A reaches the user's page on B live, not another user's`, async () => {
      const { client: onA } = await open(urlA, name, 'carol');
      const { client: onB } = await open(urlB, name, 'carol');
      const { client: dave } = await open(urlB, name, 'dave');
      onA.send('set_pref', ['theme', 'solarized']);
      const live = await onB.waitFor(hasKey('theme'), "carol's theme on B", MS);
      assert.deepEqual(live.load, { theme: 'solarized' });
      onB.send('see', [7]);
      const back = await onA.waitFor(hasKey('seen'), "carol's append from B on A", MS);
      assert.deepEqual(back.load, { seen: [7] });
      await settled(dave);
      assert.deepEqual(userData(dave), [], "carol's userData never reaches dave");
      // a page of carol that opens later on B starts with it
      const { client: later } = await open(urlB, name, 'carol');
      const snapshot = await later.waitFor(hasKey('theme'), 'the user_data snapshot on B', MS);
      assert.deepEqual(snapshot.load, { theme: 'solarized', seen: [7] });
    });

    test(`${name}: another user on B who sends the id of a session open on A gets one of their own and takes nothing over; its user resumes it on B`, async () => {
      const { client: owner, id } = await open(urlA, name, 'erin');
      owner.send('set_data', ['draft', 'of erin']);
      await owner.waitFor((f) => f.signal === 'data', "erin's data", MS);
      const { client: other, id: otherId } = await open(urlB, name, 'frank', id);
      assert.notEqual(otherId, id, "frank does not get erin's session");
      await settled(other);
      assert.deepEqual(
        other.frames.filter((f) => f.signal === 'data'),
        [],
      );
      await settled(owner);
      assert.equal(owner.closeCode, undefined, "erin's page on A is not taken over");
      // erin on B: her page on A is taken over (4001), her data comes along
      const { client: moved, id: movedId } = await open(urlB, name, 'erin', id);
      assert.equal(movedId, id);
      const data = await moved.waitFor((f) => f.signal === 'data', "erin's data on B", MS);
      assert.deepEqual(data.load, { draft: 'of erin' });
      await owner.closed();
      assert.equal(owner.closeCode, 4001);
    });
  }
});
