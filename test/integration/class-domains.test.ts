// Whose classData is whose: a real server on a folder where three analyses
// have classes of one name (Twin: in the server's own thread, in worker
// threads, in Python processes) and one has a class of its own (Lone).
// Every page of one analysis shares its classData, on every kernel; no
// analysis sees another's; Lone keeps databench 0.7's domain (its class
// name), which is its Redis key on a real redis-server.
import assert from 'node:assert/strict';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createRedisBackend, type RedisBackend } from '../../src/datastore/backends/redis.ts';
import { loadApp } from '../../src/app/app.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, reloadWaiter, TestClient, wsUrlOf } from '../helpers.ts';
import { pythonSkip } from '../python.ts';
import { redisSkip, startRedis, type RedisServer } from '../redis.ts';

const FOLDER = join(FIXTURES, 'class-domains');
const PACKAGED = new URL('../../analyses/', import.meta.url).pathname;
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
const TWINS = ['twin_ts', 'twin_worker', 'twin_py'] as const;
const ALL = [...TWINS, 'lone'] as const;

/** Every classData key `client` has been sent (snapshots and changes). */
function classKeys(client: TestClient): Set<string> {
  const keys = new Set<string>();
  for (const f of client.frames) {
    if (f.signal === 'class_data' && typeof f.load === 'object' && f.load !== null) {
      for (const key of Object.keys(f.load)) keys.add(key);
    }
  }
  return keys;
}

/** Wait until `client` shows classData `key` = `value`. */
async function shows(client: TestClient, key: string, value: unknown, what: string): Promise<void> {
  await client.waitFor(
    (f) =>
      f.signal === 'class_data' &&
      typeof f.load === 'object' &&
      f.load !== null &&
      (f.load as Record<string, unknown>)[key] === value,
    what,
    20_000,
  );
}

/**
 * Each analysis writes a key named after itself on one page and a second
 * page of it sees the write; then a fresh page of each analysis, once its own
 * probe write is back, has been sent its own analysis's keys and no other's.
 */
async function checkSeparate(server: DatabenchServer): Promise<void> {
  const pairs = await Promise.all(
    ALL.map(async (name) => {
      const a = await TestClient.connect(wsUrlOf(server, name));
      const b = await TestClient.connect(wsUrlOf(server, name));
      return [a.client, b.client] as const;
    }),
  );
  ALL.forEach((name, i) => pairs[i]![0].send('put', [name, i + 1]));
  // shared by the pages of one analysis, on every kernel (two threads, two processes)
  await Promise.all(
    ALL.map((name, i) => shows(pairs[i]![1], name, i + 1, `${name}'s write on its other page`)),
  );
  const fresh = await Promise.all(
    ALL.map(async (name) => (await TestClient.connect(wsUrlOf(server, name))).client),
  );
  ALL.forEach((_, i) => fresh[i]!.send('put', ['probe', i + 1]));
  await Promise.all(
    ALL.flatMap((name, i) => [
      shows(fresh[i]!, 'probe', i + 1, `${name}'s probe on its new page`),
      shows(pairs[i]![1], 'probe', i + 1, `${name}'s probe on its earlier page`),
    ]),
  );
  ALL.forEach((name, i) => {
    assert.deepEqual(
      [...classKeys(fresh[i]!)].sort(),
      [name, 'probe'].sort(),
      `the classData keys a new page of ${name} was sent`,
    );
    // the first pages, open all along, never heard of another analysis's writes either
    assert.deepEqual([...classKeys(pairs[i]![1])].sort(), [name, 'probe'].sort());
  });
  for (const c of [...pairs.flat(), ...fresh]) c.close();
}

describe('classData domains: per analysis, the class name where it is unique', () => {
  let server: DatabenchServer;
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: FOLDER,
      logger: createMemoryLogger(),
      watch: false,
    });
  });
  after(() => server.close());

  test('the domains the folder gets', { skip: pythonSkip }, () => {
    const domains = Object.fromEntries(
      [...server.app.entries.values()].map((e) => [e.name, e.classDomain]),
    );
    assert.deepEqual(domains, {
      twin_ts: 'Twin@twin_ts',
      twin_worker: 'Twin@twin_worker',
      twin_py: 'Twin@twin_py',
      lone: 'Lone',
    });
  });

  test(
    'a classData write reaches every page of its analysis and no analysis whose class has the same name',
    { skip: pythonSkip },
    () => checkSeparate(server),
  );

  // the server keeps the event loop alive while the Python kernel starts
  test(
    'copies of the packaged scaffold and scaffold_py (both class Scaffold) each get their own',
    { skip: pythonSkip },
    async () => {
      // in the repository: scaffold imports databench-ts (this package, by its own name)
      const dir = join(ARTIFACTS, `class-domains-${process.pid}`);
      await rm(dir, { recursive: true, force: true });
      for (const name of ['scaffold', 'scaffold_py']) {
        await cp(join(PACKAGED, name), join(dir, name), { recursive: true });
      }
      // no index.yaml: each folder is an analysis of the kind its source asks for
      const app = await loadApp({
        dir,
        packaged: false,
        cliArgs: [],
        logger: createMemoryLogger(),
      });
      try {
        const domains = Object.fromEntries(
          [...app.entries.values()].map((e) => [e.name, e.classDomain]),
        );
        assert.deepEqual(domains, {
          scaffold: 'Scaffold@scaffold',
          scaffold_py: 'Scaffold@scaffold_py',
        });
      } finally {
        for (const entry of app.entries.values()) await entry.kernel?.dispose();
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});

describe(
  'classData domains on a real redis-server: the Redis keys',
  { skip: redisSkip || pythonSkip },
  () => {
    let redis: RedisServer;
    let backend: RedisBackend;
    let server: DatabenchServer;
    let inspect: Redis;
    before(async () => {
      redis = await startRedis();
      backend = await createRedisBackend({ url: redis.url });
      server = await createServer({
        port: 0,
        analyses: FOLDER,
        logger: createMemoryLogger(),
        datastore: backend,
        watch: false,
      });
      inspect = new Redis(redis.url);
    });
    after(async () => {
      await server.close();
      await backend.dispose();
      inspect.disconnect();
      await redis.stop();
    });

    test('Lone keeps the key of databench 0.7 (its class name); each Twin has its own', async () => {
      await checkSeparate(server);
      assert.equal(await inspect.hget('databench:domain:Lone', 'lone'), '4');
      for (const [i, name] of TWINS.entries()) {
        assert.deepEqual(await inspect.hgetall(`databench:domain:Twin@${name}`), {
          [name]: String(i + 1),
          probe: String(i + 1),
        });
      }
      assert.equal(await inspect.exists('databench:domain:Twin'), 0);
    });
  },
);

describe('classData domains after a reload', () => {
  const dir = join(ARTIFACTS, `class-domains-reload-${process.pid}`);
  const reloads = reloadWaiter(20_000);
  const source = (cls: string): string =>
    `import { Analysis } from 'databench-ts';\n` +
    `export class ${cls} extends Analysis<Record<string, unknown>, Record<string, unknown>> {\n` +
    `  async on_put(key: string, value: unknown) {\n` +
    `    await this.classData.set(key, value);\n` +
    `  }\n}\n`;
  let server: DatabenchServer;
  before(async () => {
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(dir, 'a'), { recursive: true });
    await mkdir(join(dir, 'b'), { recursive: true });
    await writeFile(join(dir, 'a', 'analysis.ts'), source('Same'));
    await writeFile(join(dir, 'b', 'analysis.ts'), source('Other'));
    await writeFile(join(dir, 'index.yaml'), 'analyses:\n  - name: a\n  - name: b\n');
    server = await createServer({
      port: 0,
      analyses: dir,
      logger: createMemoryLogger(),
      watch: true,
      onReload: reloads.onReload,
    });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("another analysis's class takes the same name: the first one's open pages restart onto its new domain", async () => {
    assert.equal(server.app.entries.get('a')?.classDomain, 'Same');
    const kernel = server.app.entries.get('a')?.kernel;
    const before = await TestClient.connect(wsUrlOf(server, 'a'));
    before.client.send('put', ['x', 1]);
    await shows(before.client, 'x', 1, 'the write before the reload');
    const reloaded = reloads.next();
    await writeFile(join(dir, 'b', 'analysis.ts'), source('Same'));
    const app = await reloaded;
    assert.equal(app.entries.get('a')?.classDomain, 'Same@a');
    assert.equal(app.entries.get('b')?.classDomain, 'Same@b');
    assert.equal(
      app.entries.get('a')?.kernel,
      kernel,
      "a's files did not change: its kernel is kept",
    );
    // its page restarts all the same, and resumes on the new domain
    assert.equal((await before.client.closed(10_000)).code, 1012);
    const again = await TestClient.connect(wsUrlOf(server, 'a'), { id: before.id });
    const other = await TestClient.connect(wsUrlOf(server, 'a'));
    again.client.send('put', ['y', 2]);
    await shows(other.client, 'y', 2, "the resumed page's write on a new page of a");
    for (const c of [again, other]) c.client.close();
  });
});
