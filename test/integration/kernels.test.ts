// The kernel boundary with real worker threads and real sockets: the kernel
// conformance suite (src/testing/kernel-suite.ts) run against the in-process
// and the worker kernel, each running the conformance analysis (the Python
// kernel runs it in python-kernel.test.ts); then, through a real server, what
// spans kernels (classData shared by the pages of one analysis on every
// kernel, not by analyses whose classes have one name; bad frames answered
// alike), and what only a worker kernel does: many sessions on a small pool
// converge, a thread ended from outside or by an uncaught throw, reload and
// shutdown end threads, dummypi runs the same in either kernel.
import assert from 'node:assert/strict';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testKernel } from 'databench-ts/testing';
import { Meta } from '../../src/analysis/meta.ts';
import { InProcessKernel } from '../../src/kernel/in-process.ts';
import { WorkerKernel } from '../../src/kernel/worker/worker-kernel.ts';
import { compileAnalysis } from '../../src/loader/compile-analysis.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger, type Logger } from '../../src/util/logger.ts';
import { Conformance } from '../fixtures/kernels/conformance/analysis.ts';
import { FIXTURES, TestClient, until, wsUrlOf, type Frame } from '../helpers.ts';
import { assertPython, pythonSkip } from '../python.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const CONFORMANCE = join(FIXTURES, 'kernels', 'conformance');

function pool(server: DatabenchServer, name = 'work'): WorkerKernel {
  return server.app.entries.get(name)!.kernel as WorkerKernel;
}

/** A worker kernel of two threads running the conformance analysis, and its compiled module. */
async function conformanceWorkers(
  logger: Logger,
  idleMs?: number,
): Promise<{ kernel: WorkerKernel; module: Awaited<ReturnType<typeof compileAnalysis>> }> {
  const file = join(CONFORMANCE, 'analysis.ts');
  const module = await compileAnalysis(file, { root: CONFORMANCE });
  try {
    const kernel = await WorkerKernel.create({
      name: 'conformance',
      file,
      module,
      routes: [],
      cliArgs: [],
      logger,
      threads: 2,
      ...(idleMs === undefined ? {} : { idleMs }),
    });
    return { kernel, module };
  } catch (error) {
    await module.dispose();
    throw error;
  }
}

testKernel(
  'in-process',
  ({ logger }) => new InProcessKernel(new Meta('conformance', Conformance, CONFORMANCE), logger),
);

testKernel(
  'worker',
  async ({ logger }) => {
    return (await conformanceWorkers(logger)).kernel;
  },
  { memberIds: (kernel) => kernel.workers.map((w) => w.threadId) },
);

test('the thread a worker kernel starts at load ends after being idle when no page uses it', async () => {
  const { kernel, module } = await conformanceWorkers(createMemoryLogger(), 50);
  try {
    assert.equal(kernel.live, 1, 'one thread at load, to report load errors');
    // ending, then gone once its thread has exited
    await until(
      () => kernel.live === 0 && kernel.workers.length === 0,
      'the unused thread ends after idleMs',
    );
  } finally {
    await kernel.dispose();
    await module.dispose();
  }
});

describe('kernels', () => {
  let server: DatabenchServer;
  const logger = createMemoryLogger();
  before(async () => {
    server = await createServer({ port: 0, analyses: FIXTURES + 'kernels', logger });
  });
  after(() => server.close());

  test('classData is shared by the pages of one analysis on every kernel, not by analyses of one class name', async () => {
    if (pythonSkip === false) assertPython();
    // work, inproc and py all run a class Work: each analysis has its own classData
    const names = pythonSkip === false ? ['work', 'inproc', 'py'] : ['work', 'inproc'];
    for (const name of names) {
      assert.equal(server.app.entries.get(name)?.classDomain, `Work@${name}`);
    }
    const pages = await Promise.all(
      names.map(async (name) => {
        // two pages each: on two threads, two processes (a free member first)
        const a = await TestClient.connect(wsUrlOf(server, name));
        const b = await TestClient.connect(wsUrlOf(server, name));
        return [a.client, b.client] as const;
      }),
    );
    const v = (f: Frame): number | undefined =>
      f.signal === 'class_data' ? (f.load as { v?: number }).v : undefined;
    for (const [i, name] of names.entries()) {
      const [a, b] = pages[i]!;
      a.send('shared', [11 + i]);
      await b.waitFor((f) => v(f) === 11 + i, `the write of a ${name} page on its other page`);
      b.send('shared', [21 + i]);
      await a.waitFor((f) => v(f) === 21 + i, `the write of a ${name} page back on the first`);
    }
    // every page has seen its own analysis's writes, in order: none of another's
    for (const [i, name] of names.entries()) {
      for (const page of pages[i]!) {
        const seen = page.frames.map(v).filter((x) => x !== undefined);
        assert.deepEqual(seen.slice(-2), [11 + i, 21 + i], `the classData values of ${name}`);
        assert.ok(
          seen.every((x) => x % 10 === (11 + i) % 10),
          `${name} saw only its own writes: ${seen.join(', ')}`,
        );
      }
    }
    for (const page of pages.flat()) page.close();
  });

  test('200 sessions on a 2-thread pool writing classData converge, and a resuming page gets the same', async () => {
    const clients = await Promise.all(
      Array.from({ length: 200 }, () => TestClient.connect(wsUrlOf(server, 'work'))),
    );
    clients.forEach(({ client }, i) => client.send('shared', [1000 + i]));
    await Promise.all(clients.map(({ client }) => client.next('shared_done', 20_000)));
    // one more write everyone must end with
    clients[0]!.client.send('shared', [-1]);
    const last = (c: TestClient): number | undefined =>
      (c.frames.filter((f) => f.signal === 'class_data').at(-1)?.load as { v?: number })?.v;
    await until(
      () => clients.every(({ client }) => last(client) === -1),
      'every page shows the final value',
      20_000,
    );
    const resumed = await TestClient.connect(wsUrlOf(server, 'work'), { id: clients[5]!.id });
    const snapshot = await resumed.client.next('class_data');
    assert.deepEqual(snapshot.load, { v: -1 });
    assert.ok(pool(server).threads <= 2, `threads: ${pool(server).threads}`);
    for (const { client } of [...clients, resumed]) client.close();
    await until(() => server.sessions.size === 0, 'all sessions are released', 20_000);
  });

  for (const name of ['inproc', 'work', 'py']) {
    test(
      `${name}: bad frames get the same answers as from every kernel`,
      { skip: name === 'py' && pythonSkip },
      async () => {
        if (name === 'py') assertPython();
        const client = await TestClient.open(wsUrlOf(server, name));
        client.send('echo', ['early']);
        assert.match(String((await client.next('warn')).load), /send __connect first/);
        client.ws.send('{not json');
        assert.match(String((await client.next('error')).load), /malformed JSON/);
        client.ws.send('[1,2]');
        assert.match(String((await client.next('error')).load), /must be a JSON object/);
        client.sendJson({ __connect: null });
        await client.next('__connect');
        client.sendJson({ __connect: null });
        assert.match(String((await client.next('error')).load), /already connected/);
        client.send('connected');
        assert.match(String((await client.next('warn')).load), /run by the server only/);
        client.send('nope');
        assert.match(String((await client.next('warn')).load), /no handler for nope/);
        client.ws.send(Buffer.from([1, 2, 3]), { binary: true });
        assert.equal((await client.closed()).code, 1003);
      },
    );
  }

  test('a thread ended from outside (terminate) and an uncaught throw are survived the same way', async () => {
    const a = await TestClient.connect(wsUrlOf(server, 'work'));
    a.client.send('thread');
    await a.client.next('thread');
    a.client.send('uncaught');
    assert.match(String((await a.client.next('error')).load), /thrown outside any handler/);
    assert.equal((await a.client.closed()).code, 1011);

    const b = await TestClient.connect(wsUrlOf(server, 'work'));
    b.client.send('burn', [3000]);
    await until(() => pool(server).workers.length > 0, 'a thread runs');
    for (const worker of pool(server).workers) void worker.terminate();
    assert.match(String((await b.client.next('error')).load), /kernel stopped/);
    assert.equal((await b.client.closed()).code, 1011);
    const c = await TestClient.connect(wsUrlOf(server, 'work'));
    c.client.send('echo', [1]);
    assert.equal((await c.client.next('echo')).load, 1);
    assert.ok(pool(server).threads <= 2);
    c.client.close();
  });

  test('a worker analysis with a syntax error is reported with file and line', async () => {
    const entry = server.app.entries.get('broken_worker')!;
    assert.equal(entry.kernel, undefined);
    assert.match(entry.error ?? '', /broken_worker\/analysis\.ts:\d+/);
  });
});

describe('worker kernel: reload and shutdown', () => {
  const dir = join(ROOT, 'test-artifacts', 'kernels-reload');
  let server: DatabenchServer;
  const logger = createMemoryLogger();
  before(async () => {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await cp(join(FIXTURES, 'kernels', 'work'), join(dir, 'work'), { recursive: true });
    await writeFile(join(dir, 'index.yaml'), 'analyses:\n  - name: work\n    kernel: worker\n');
    server = await createServer({ port: 0, analyses: dir, logger, watch: true });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a save closes open pages with 1012, new sessions run the new code, old threads end', async () => {
    const old = pool(server);
    const a = await TestClient.connect(wsUrlOf(server, 'work'));
    a.client.send('echo', ['v1']);
    assert.equal((await a.client.next('echo')).load, 'v1');
    const reloaded = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (pool(server) !== old) {
          clearInterval(check);
          resolve();
        }
      }, 20);
    });
    const file = join(dir, 'work', 'analysis.ts');
    const { readFile } = await import('node:fs/promises');
    const source = await readFile(file, 'utf8');
    await writeFile(
      file,
      source.replace("await this.emit('echo', x);", "await this.emit('echo', ['v2', x]);"),
    );
    assert.equal((await a.client.closed(10_000)).code, 1012);
    await reloaded;
    const b = await TestClient.connect(wsUrlOf(server, 'work'));
    b.client.send('echo', ['x']);
    assert.deepEqual((await b.client.next('echo')).load, ['v2', 'x']);
    await until(() => old.threads === 0, 'the old threads have ended');
    b.client.close();
  });

  test('shutdown runs disconnected in the kernel and ends every thread', async () => {
    const a = await TestClient.connect(wsUrlOf(server, 'work'));
    a.client.send('echo', [1]);
    await a.client.next('echo');
    const kernel = pool(server);
    assert.ok(kernel.threads >= 1);
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 6000);
    assert.equal(kernel.threads, 0);
    assert.ok(
      logger.lines.some(([, line]) => line.includes(`disconnected ${a.id.slice(0, 8)}`)),
      'disconnected ran in the worker',
    );
    assert.equal((await a.client.closed()).code, 1001);
  });
});

/** Frames with their loads reduced to their shape: signal and keys, not random values. */
function shape(frames: Frame[]): string[] {
  return frames.map((f) =>
    f.load !== null && typeof f.load === 'object' && !Array.isArray(f.load)
      ? `${f.signal}:${Object.keys(f.load).sort().join(',')}`
      : f.signal,
  );
}

describe('the packaged dummypi runs identically in-process and in worker threads', () => {
  const dir = join(ROOT, 'test-artifacts', 'kernels-dummypi');
  let server: DatabenchServer;
  before(async () => {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await cp(join(ROOT, 'analyses', 'dummypi'), join(dir, 'dummypi'), { recursive: true });
    await cp(join(ROOT, 'analyses', 'dummypi'), join(dir, 'dummypi_worker'), { recursive: true });
    // one line of index.yaml is the only difference
    await writeFile(
      join(dir, 'index.yaml'),
      'analyses:\n  - name: dummypi\n  - name: dummypi_worker\n    kernel: worker\n',
    );
    server = await createServer({ port: 0, analyses: dir, logger: createMemoryLogger() });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('the same frames, in the same order', async () => {
    const shapes: string[][] = [];
    for (const name of ['dummypi', 'dummypi_worker']) {
      const { client } = await TestClient.connect(wsUrlOf(server, name));
      await client.waitFor((f) => f.signal === 'data', 'the initial samples');
      client.send('samples', [5000]);
      client.send('run', { __process_id: 1 });
      await client.waitFor(
        (f) => f.signal === '__process' && (f.load as { status: string }).status === 'end',
        'the end of the run',
        30_000,
      );
      const pi = client.frames.filter((f) => f.signal === 'data' && 'pi' in (f.load as object));
      const estimate = (pi.at(-1)!.load as { pi: { estimate: number } }).pi.estimate;
      assert.ok(Math.abs(estimate - Math.PI) < 0.2, `${name}: π ≈ ${estimate}`);
      // progress frames are throttled by time (about 20 a second), so how many
      // fall between two data frames depends on the machine's speed: compare
      // them apart from the rest
      const isProgress = (f: Frame): boolean =>
        f.signal === '__process' && (f.load as { status: string }).status === 'progress';
      const progress = client.frames.filter(isProgress);
      assert.ok(progress.length > 0, `${name}: progress frames`);
      const fractions = progress.map((f) => (f.load as { fraction: number }).fraction);
      assert.deepEqual(
        fractions,
        [...fractions].sort((x, y) => x - y),
        `${name}: progress only grows`,
      );
      shapes.push(shape(client.frames.slice(1).filter((f) => !isProgress(f))));
      client.close();
    }
    assert.deepEqual(shapes[1], shapes[0]);
  });
});
