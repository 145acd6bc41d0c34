// A project written for databench 0.7 (test/fixtures/v07py: Python analyses
// listed in index.yaml without `kernel:`, Tornado-style handlers calling each
// other, a PeriodicCallback, a static map into the project's node_modules,
// routes.py, `from analyses.x import …`), served unchanged by the real server
// from the project's folder, over real HTTP and WebSockets with real Python
// kernel processes.
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { PythonKernel } from '../../src/kernel/python/python-kernel.ts';
import { ROUTE_MAX_BODY_BYTES } from '../../src/kernel/python/py-routes.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient, until, wsUrlOf, writeFakeD3 } from '../helpers.ts';
import { assertPython, tornadoSkip } from '../python.ts';

const PROJECT = join(FIXTURES, 'v07py');

describe('a databench 0.7 project served unchanged', { skip: tornadoSkip }, () => {
  let server: DatabenchServer;
  const logger = createMemoryLogger();
  const clients: TestClient[] = [];
  const connect = async (name: string, requestArgs = ''): Promise<TestClient> => {
    const { client } = await TestClient.connect(wsUrlOf(server, name), { requestArgs });
    clients.push(client);
    return client;
  };

  before(async () => {
    assertPython();
    // what `npm install` made beside the analyses folder
    await writeFakeD3(join(PROJECT, 'node_modules', 'd3'));
    // the project's folder is the working directory, as for `databench` run there
    server = await createServer({ port: 0, cwd: PROJECT, logger, cliArgs: ['--some-flag'] });
  });
  after(async () => {
    for (const client of clients) client.close();
    await server?.close();
  });

  test('an entry without kernel: whose folder holds analysis.py runs in a Python kernel', async () => {
    const entry = server.app.entries.get('helloworld');
    assert.equal(entry?.error, undefined);
    assert.equal(entry?.kernelKind, 'py');
    assert.ok(entry?.kernel instanceof PythonKernel);
    const client = await connect('helloworld');
    const frame = await client.waitFor((f) => f.signal === 'data', 'the status');
    assert.deepEqual(frame.load, { status: 'Hello World' });
  });

  test('every page renders: the index lists them, the Tornado pages load their scripts', async () => {
    const index = await fetch(server.url + '/');
    assert.equal(index.status, 200);
    const html = await index.text();
    for (const name of ['helloworld', 'bagofchars', 'flowers', 'parameters', 'simple2']) {
      assert.ok(html.includes(`/${name}/`), `the index links ${name}`);
    }
    const page = await fetch(server.url + '/helloworld/');
    assert.equal(page.status, 200);
    assert.match(
      await page.text(),
      /<script src="\/helloworld\/analysis\.js\?v=0\.7\.0"><\/script>/,
    );
    const script = await fetch(server.url + '/helloworld/analysis.js');
    assert.equal(script.status, 200);
  });

  test("the static map serves from the project's node_modules; a missing root was logged at start", async () => {
    const res = await fetch(server.url + '/static/d3.min.js');
    assert.equal(res.status, 200);
    assert.match(await res.text(), /fixture-d3/);
    assert.match(String(res.headers.get('content-type')), /javascript/);
    assert.ok(
      logger.lines.some(
        ([level, line]) =>
          level === 'warn' &&
          line.startsWith('index.yaml: did not find static root node_modules/font-awesome/fonts/'),
      ),
      'the missing font-awesome root is named in the log',
    );
    assert.equal((await fetch(server.url + '/fonts/fontawesome-webfont.woff')).status, 404);
  });

  test("0.7's action parameters: a list is positional, a dict by name, none, and cli_args", async () => {
    const client = await connect('parameters');
    client.send('test_fn', [1, 2]);
    assert.deepEqual((await client.next('test_fn')).load, [1, 2]);
    client.send('test_fn', { first_param: 3 });
    assert.deepEqual((await client.next('test_fn')).load, [3, 100]);
    client.send('test_fn', 4);
    assert.deepEqual((await client.next('test_fn')).load, [4, 100]);
    client.send('test_action');
    await client.next('test_action_ack');
    client.send('test_state', ['key', 'value']);
    const data = await client.waitFor(
      (f) => f.signal === 'data' && (f.load as Record<string, unknown>)['key'] === 'value',
      'the state',
    );
    assert.deepEqual(data.load, { key: 'value' });
    // the server's own flags never reach the analyses; unknown ones do
    client.send('test_cli_args');
    assert.deepEqual((await client.next('cli_args')).load, ['--some-flag']);
  });

  // needs the Python package's @databench.on to return an awaitable that runs
  // the method (0.7's decorator made a Tornado coroutine of it)
  test('handlers calling each other: connected runs sentence, which emits and sets the state', async () => {
    const client = await connect('bagofchars');
    const log = await client.next('log');
    assert.deepEqual(log.load, { a: 2, e: 2, h: 1, p: 2, r: 1, s: 1, t: 1, y: 1 });
    const data = await client.waitFor(
      (f) => f.signal === 'data' && (f.load as Record<string, unknown>)['sentence'] !== undefined,
      'the sentence in data',
    );
    assert.equal((data.load as Record<string, unknown>)['sentence'], 'type a phrase');
    client.send('sentence', 'hello');
    const counts = await client.waitFor(
      (f) =>
        f.signal === 'data' && isDeepStrictEqual(f.load, { counts: { e: 1, h: 1, l: 2, o: 1 } }),
      'the counts of "hello"',
    );
    assert.ok(counts);
  });

  // needs the same, and Tornado's PeriodicCallback running on the kernel's loop
  test('a Tornado PeriodicCallback calls an @databench.on generator: it runs, updates stream', async () => {
    const client = await connect('flowers');
    const steps: number[] = [];
    for (let i = 0; i < 3; i++) {
      const frame = await client.waitFor(
        (f) =>
          f.signal === 'data' &&
          typeof (f.load as Record<string, unknown>)['step'] === 'number' &&
          !steps.includes((f.load as { step: number }).step),
        `step ${i + 1} of the periodic callback`,
      );
      steps.push((frame.load as { step: number }).step);
    }
    assert.deepEqual(steps, [1, 2, 3]);
    client.send('n_flowers', 5);
    await client.waitFor(
      (f) => f.signal === 'data' && (f.load as Record<string, unknown>)['flowers'] === 5,
      'a step that sees n_flowers 5',
    );
  });

  // needs the analyses folder importable as the package `analyses`
  test('from analyses.pub.analysis import …: one analysis imports another of the package', async () => {
    assert.equal(server.app.entries.get('sub')?.error, undefined);
    const client = await connect('sub');
    assert.equal((await client.next('log')).load, 'subscribed to someStatsProvider');
    assert.equal((await client.next('status')).load, 'stats: hello');
  });

  describe('routes.py', () => {
    const url = (path: string): string => `${server.url}/simple2/${path}`;
    const origin = (): string => server.url;

    test('GET and POST reach the Tornado handlers, with form arguments', async () => {
      const get = await fetch(url('get'));
      assert.equal(get.status, 200);
      assert.equal(await get.text(), 'done');
      const post = await fetch(url('post'), {
        method: 'POST',
        headers: { Origin: origin(), 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'data=test%20data',
      });
      assert.equal(post.status, 200);
      assert.equal(await post.text(), 'test data');
    });

    test("path arguments, the route's kwargs, query arguments, headers and JSON", async () => {
      const res = await fetch(url('item/abc?q=x'));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-item'), 'abc');
      assert.match(String(res.headers.get('content-type')), /application\/json/);
      assert.deepEqual(await res.json(), { item: 'item-abc', q: 'x' });
      // the pattern is matched whole, as Tornado matches it
      assert.equal((await fetch(url('item/ABC'))).status, 404);
      assert.equal((await fetch(url('getx'))).status, 404);
    });

    test('a POST from another origin is refused, unless the handler allows it', async () => {
      const refused = await fetch(url('post'), {
        method: 'POST',
        headers: {
          Origin: 'http://evil.example',
          'Content-Type': 'application/x-www-form-urlencoded',
        },
        body: 'data=x',
      });
      assert.equal(refused.status, 403);
      const hook = await fetch(url('hook'), {
        method: 'POST',
        headers: { Origin: 'http://other.example' },
        body: 'payload',
      });
      assert.equal(hook.status, 201);
      assert.equal(await hook.text(), 'payload');
    });

    test("a handler that raises is Tornado's 500, with its traceback in the log", async () => {
      const res = await fetch(url('broken'));
      assert.equal(res.status, 500);
      await until(
        () =>
          logger.lines.some(
            ([level, line]) =>
              level === 'error' && line.includes('ValueError: this handler is broken'),
          ),
        'the traceback is logged',
      );
    });

    test('a body over the limit gets 413 and never reaches the kernel', async () => {
      const res = await fetch(url('post'), {
        method: 'POST',
        headers: { Origin: origin() },
        body: Buffer.alloc(ROUTE_MAX_BODY_BYTES + 1, 97),
      });
      assert.equal(res.status, 413);
    });

    test('concurrent requests are answered each by its own response', async () => {
      const responses = await Promise.all(
        ['0.2', '0.01', '0.1'].map(async (s) => {
          const res = await fetch(url(`slow?s=${s}`));
          return [res.status, await res.text()];
        }),
      );
      assert.deepEqual(responses, [
        [200, 'slept'],
        [200, 'slept'],
        [200, 'slept'],
      ]);
    });

    test('a kernel process that dies in a handler: a 500 and a log line; the next request gets a new process', async () => {
      const kernel = server.app.entries.get('simple2')?.kernel as PythonKernel;
      const [pid] = kernel.pids;
      const res = await fetch(url('exit'));
      assert.equal(res.status, 500);
      assert.ok(
        logger.lines.some(
          ([level, line]) =>
            level === 'error' &&
            line.includes('routes.py: GET /simple2/exit failed: its kernel process stopped'),
        ),
      );
      const again = await fetch(url('get'));
      assert.equal(again.status, 200);
      assert.equal(await again.text(), 'done');
      assert.notDeepEqual(kernel.pids, [pid]);
    });
  });
});

describe('routes.py: a handler that does not answer in time', { skip: tornadoSkip }, () => {
  let kernel: PythonKernel;
  let http: Server;
  const logger = createMemoryLogger();
  before(async () => {
    assertPython();
    kernel = await PythonKernel.create({
      name: 'simple2',
      file: join(PROJECT, 'analyses', 'simple2', 'analysis.py'),
      routes: [],
      cliArgs: [],
      logger,
      routeTimeoutMs: 300,
    });
    // the server's dispatch, as http.ts does it, on a real socket
    http = createHttpServer((req, res) => {
      const rest = (req.url ?? '').split('?')[0]?.replace(/^\/simple2\//, '') ?? '';
      const route = kernel.extraRoutes.find(([p]) => typeof p !== 'string' && p.test(rest));
      if (route) void route[1](req, res);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    // the kernel's process does not keep Node alive: the listening socket does, until it has gone
    await kernel?.dispose();
    await new Promise((resolve) => http?.close(resolve));
  });

  test('a 500 after the timeout, with a log line; the kernel answers the next request', async () => {
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/simple2/`;
    const res = await fetch(base + 'slow?s=5');
    assert.equal(res.status, 500);
    assert.ok(
      logger.lines.some(
        ([level, line]) =>
          level === 'error' &&
          line === '[simple2] routes.py: GET /simple2/slow?s=5 failed: no answer within 0.3 s',
      ),
      JSON.stringify(logger.lines),
    );
    const fast = await fetch(base + 'get');
    assert.equal(await fast.text(), 'done');
  });
});
