// The client in Node against a real `ws` server speaking docs/reference/protocol.md.
import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import {
  Connection,
  DatabenchError,
  attach,
  connect,
  guessWSUrl,
  setDefaultWebSocket,
  type ClientConsole,
} from './node.js';
import { startProtocolServer, type ProtocolServer } from './protocol-server.test-helper.js';
import { WebSocket } from 'ws';

/** A console that records instead of printing. */
function recordingConsole(): ClientConsole & { lines: Array<[string, unknown[]]> } {
  const lines: Array<[string, unknown[]]> = [];
  return {
    lines,
    log: (...args) => lines.push(['log', args]),
    warn: (...args) => lines.push(['warn', args]),
    error: (...args) => lines.push(['error', args]),
  };
}

/** Resolve when `check()` is true, polling on the event loop; fail with `what` after the timeout. */
async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const servers = new Set<ProtocolServer>();
const connections = new Set<Connection>();

async function server(
  options?: Parameters<typeof startProtocolServer>[0],
): Promise<ProtocolServer> {
  const s = await startProtocolServer(options);
  servers.add(s);
  return s;
}

function client(
  s: ProtocolServer,
  options: ConstructorParameters<typeof Connection>[3] = {},
): Connection {
  const c = new Connection(s.wsUrl(), '?a=1', null, { console: recordingConsole(), ...options });
  connections.add(c);
  return c;
}

afterEach(async () => {
  for (const c of connections) c.disconnect();
  connections.clear();
  for (const s of servers) await s.close();
  servers.clear();
});

after(() => setDefaultWebSocket(WebSocket));

describe('deltas', () => {
  test('a __delta is applied to the value the client holds and dispatched as the whole value', async () => {
    const s = await server();
    const c = client(s);
    const seen: unknown[] = [];
    c.on({ data: 'xs' }, (xs: number[]) => seen.push(structuredClone(xs)));
    const cfg: unknown[] = [];
    c.on({ class_data: 'cfg' }, (v: unknown) => cfg.push(structuredClone(v)));
    c.connect();
    await c.once('__connect', { timeoutMs: 5000 });
    s.broadcast('data', { xs: [1, 2] });
    s.broadcast('__delta', { signal: 'data', key: 'xs', append: [3, 4] });
    s.broadcast('__delta', { signal: 'data', key: 'xs', append: [5] });
    s.broadcast('class_data', { cfg: { a: 1 } });
    s.broadcast('__delta', {
      signal: 'class_data',
      key: 'cfg',
      ops: [{ op: 'add', path: '/b', value: [1] }],
    });
    await c.once({ class_data: 'cfg' }, { timeoutMs: 5000 });
    await until('the patched classData', () => cfg.length === 2);
    assert.deepEqual(seen, [
      [1, 2],
      [1, 2, 3, 4],
      [1, 2, 3, 4, 5],
    ]);
    assert.deepEqual(cfg, [{ a: 1 }, { a: 1, b: [1] }]);
  });

  test('a user_data frame and a __delta of user_data reach on({user_data: key}) as whole values', async () => {
    const s = await server();
    const c = client(s);
    const seen: unknown[] = [];
    c.on({ user_data: 'recent' }, (v: string[]) => seen.push(structuredClone(v)));
    c.connect();
    await c.once('__connect', { timeoutMs: 5000 });
    s.broadcast('user_data', { recent: ['a'] });
    s.broadcast('__delta', { signal: 'user_data', key: 'recent', append: ['b'] });
    await until('the appended user_data', () => seen.length === 2);
    assert.deepEqual(seen, [['a'], ['a', 'b']]);
  });

  test('a delta that does not apply, or names a key the client never got, is reported and dispatches nothing', async () => {
    const s = await server();
    const c = client(s);
    const errors: Array<string | undefined> = [];
    const seen: unknown[] = [];
    c.on({ data: /.*/ }, (v: unknown) => seen.push(v));
    c.connect();
    await c.once('__connect', { timeoutMs: 5000 });
    c.errorCB = (message) => errors.push(message);
    s.broadcast('__delta', { signal: 'data', key: 'never', append: [1] });
    s.broadcast('data', { n: 1 });
    s.broadcast('__delta', { signal: 'data', key: 'n', append: [2] });
    s.broadcast('__delta', { signal: 'data', key: 'n', ops: [{ op: 'remove', path: '/x' }] });
    s.broadcast('__delta', { signal: 'data', key: 'n' });
    s.broadcast('data', { done: true });
    await c.once({ data: 'done' }, { timeoutMs: 5000 });
    assert.deepEqual(seen, [1, true]);
    assert.equal(errors.length, 4, errors.join(' | '));
    assert.match(String(errors[0]), /"never", which this client holds no value of/);
    assert.match(String(errors[1]), /not a list/);
    assert.match(String(errors[2]), /does not apply/);
    assert.match(String(errors[3]), /bad __delta frame/);
  });

  test('with deltas: false the client does not announce them (the server sends whole values)', async () => {
    const s = await server();
    const c = client(s, { deltas: false });
    c.connect();
    const hello = await s.takeConnect();
    assert.deepEqual(JSON.parse(hello.raw), { __connect: null, __request_args: '?a=1' });
    assert.equal(hello.message.kind === 'connect' && hello.message.deltas, false);
  });
});

describe('handshake', () => {
  test('sends __connect with the request args and keeps what the reply says', async () => {
    const s = await server({ analysesVersion: 'v7' });
    const c = client(s);
    let called: Connection | undefined;
    c.connect((connection) => (called = connection));
    const hello = await s.takeConnect();
    assert.deepEqual(JSON.parse(hello.raw), {
      __connect: null,
      __request_args: '?a=1',
      __deltas: 1,
    });
    await c.once('__connect', { timeoutMs: 5000 });
    assert.equal(called, c);
    assert.equal(c.connected, true);
    assert.equal(c.analysisId, 'analysis-1');
    assert.equal(c.databenchBackendVersion, '0.7.0-test');
    assert.equal(c.analysesVersion, 'v7');
  });

  test('resumes a given analysis id', async () => {
    const s = await server();
    const c = new Connection(s.wsUrl(), '', 'earlier-id', { console: recordingConsole() });
    connections.add(c);
    c.connect();
    assert.equal((await s.takeConnect()).message.analysisId, 'earlier-id');
  });

  test('attach() resolves with a connected Connection; connect() returns it connecting', async () => {
    const s = await server();
    const c = await attach(s.wsUrl(), '', null, { console: recordingConsole() });
    connections.add(c);
    assert.equal(c.connected, true);
    assert.equal(c.analysisId, 'analysis-1');
    const d = connect(s.wsUrl(), '', null, undefined, { console: recordingConsole() });
    connections.add(d);
    assert.equal(d.connected, false);
    await d.once('__connect', { timeoutMs: 5000 });
    assert.equal(d.analysisId, 'analysis-2');
  });

  test('guesses ws(s)://<host>/<page directory>/ws from the page location', () => {
    const g = globalThis as { location?: unknown };
    const page = (protocol: string, pathname: string): void => {
      g.location = { protocol, host: 'example.org:8443', pathname, search: '?q=1', reload() {} };
    };
    try {
      page('http:', '/dummypi/');
      assert.equal(guessWSUrl(), 'ws://example.org:8443/dummypi/ws');
      page('https:', '/');
      assert.equal(guessWSUrl(), 'wss://example.org:8443/ws');
      page('http:', '/a/b/index.html');
      assert.equal(guessWSUrl(), 'ws://example.org:8443/a/b/ws');
      const c = new Connection(undefined, undefined, undefined, { console: recordingConsole() });
      assert.equal(c.wsUrl, 'ws://example.org:8443/a/b/ws');
      assert.equal(c.requestArgs, '?q=1');
    } finally {
      delete g.location;
    }
  });

  test('without a URL outside a browser, connect() says what is missing', () => {
    const c = new Connection(undefined, undefined, undefined, { console: recordingConsole() });
    assert.equal(c.wsUrl, '');
    assert.throws(
      () => c.connect(),
      (e: unknown) => e instanceof DatabenchError && e.code === 'NO_URL',
    );
  });

  test('without a WebSocket implementation (Node 20, browser entry), connect() says how to get one', () => {
    setDefaultWebSocket(undefined);
    try {
      const c = new Connection('ws://127.0.0.1:1/ws', '', null, { console: recordingConsole() });
      assert.throws(
        () => c.connect(),
        (e: unknown) =>
          e instanceof DatabenchError &&
          e.code === 'NO_WEBSOCKET' &&
          /import the client as "[\w-]+\/client"/.test(e.message) &&
          /"ws" package/.test(e.message),
      );
    } finally {
      setDefaultWebSocket(WebSocket);
    }
  });

  test('options are validated once, naming the option', () => {
    assert.throws(
      () => new Connection('ws://x/ws', '', null, { maxQueuedEmits: 0 }),
      /option maxQueuedEmits: expected an integer >= 1, got 0/,
    );
    assert.throws(
      () =>
        new Connection('ws://x/ws', '', null, {
          reconnectInitialDelayMs: 100,
          reconnectMaxDelayMs: 50,
        }),
      /option reconnectMaxDelayMs: expected a number >= 100, got 50/,
    );
  });
});

describe('on()', () => {
  test('a signal name gets (load, signal); {data: key} gets each matching key exactly', async () => {
    const s = await server();
    const c = client(s);
    const whole: unknown[] = [];
    const byKey: unknown[] = [];
    c.on('data', (load, signal) => whole.push([signal, load]));
    c.on({ data: 'pi' }, (value, key) => byKey.push([key, value]));
    await new Promise((resolve) => c.connect(resolve));
    s.broadcast('data', { pi: 3.14, api: 1, pi_estimate: 2 });
    s.broadcast('data', { other: 1 });
    s.broadcast('class_data', { pi: 'not data' });
    s.broadcast('data', { pi: { estimate: 3.1 } });
    await until('two whole frames', () => whole.length === 3);
    assert.deepEqual(whole, [
      ['data', { pi: 3.14, api: 1, pi_estimate: 2 }],
      ['data', { other: 1 }],
      ['data', { pi: { estimate: 3.1 } }],
    ]);
    assert.deepEqual(byKey, [
      ['pi', 3.14],
      ['pi', { estimate: 3.1 }],
    ]);
  });

  test('{data: RegExp} gets every matching key, also with a global RegExp', async () => {
    const s = await server();
    const c = client(s);
    const got: unknown[] = [];
    c.on({ data: /^run_/g }, (value, key) => got.push([key, value]));
    c.on({ class_data: /light/ }, (value, key) => got.push(['class', key, value]));
    await new Promise((resolve) => c.connect(resolve));
    s.broadcast('data', { run_a: 1, run_b: 2, walk: 3 });
    s.broadcast('data', { run_c: 4 });
    s.broadcast('class_data', { traffic_light: 'red' });
    await until('four values', () => got.length === 4);
    assert.deepEqual(got, [
      ['run_a', 1],
      ['run_b', 2],
      ['run_c', 4],
      ['class', 'traffic_light', 'red'],
    ]);
  });

  test('a throwing callback does not stop the others; off() removes a listener', async () => {
    const s = await server();
    const out = recordingConsole();
    const c = client(s, { console: out });
    const got: unknown[] = [];
    const removed = (): void => {
      got.push('removed');
    };
    c.on('ping', () => {
      throw new Error('boom');
    });
    c.on('ping', (v) => got.push(v));
    c.on('ping', removed);
    c.off('ping', removed);
    c.connect();
    await c.once('__connect', { timeoutMs: 5000 });
    s.broadcast('ping', 1);
    await until('the second callback', () => got.length === 1);
    assert.deepEqual(got, [1]);
    assert.ok(
      out.lines.some(([level, args]) => level === 'error' && /"ping" threw/.test(String(args[0]))),
    );
  });

  test('trigger() delivers locally as if from the server', () => {
    const c = new Connection('ws://unused/ws', '', null, { console: recordingConsole() });
    const got: unknown[] = [];
    c.on({ data: 'x' }, (v) => got.push(v));
    c.on('custom', (v, key) => got.push([key, v]));
    c.trigger('data', { x: 5, y: 6 });
    c.trigger('custom');
    assert.deepEqual(got, [5, ['custom', undefined]]);
  });

  test('log, warn and error signals go to the console', async () => {
    const s = await server();
    const out = recordingConsole();
    const c = client(s, { console: out });
    await new Promise((resolve) => c.connect(resolve));
    s.broadcast('log', 'hello');
    s.broadcast('warn', 'careful');
    s.broadcast('error', 'broken');
    await until('three lines', () => out.lines.length >= 3);
    assert.deepEqual(out.lines.slice(-3), [
      ['log', ['backend:', 'hello']],
      ['warn', ['backend:', 'careful']],
      ['error', ['backend:', 'broken']],
    ]);
    c.emit('log', 'from page');
    assert.deepEqual(out.lines.at(-1), ['log', ['frontend:', 'from page']]);
  });

  test('a malformed frame is reported through errorCB and the connection keeps working', async () => {
    const s = await server();
    const c = client(s);
    const errors: unknown[] = [];
    c.errorCB = (message) => {
      if (message !== undefined) errors.push(message);
    };
    await new Promise((resolve) => c.connect(resolve));
    s.broadcastRaw('{not json');
    s.broadcastRaw('[1,2]');
    s.broadcast('after', 1);
    assert.equal(await c.once('after', { timeoutMs: 5000 }), 1);
    assert.equal(errors.length, 2);
    assert.match(String(errors[0]), /bad frame from the server: malformed JSON/);
    assert.match(String(errors[1]), /must be a JSON object, got a list/);
  });
});

describe('once()', () => {
  test('resolves with the next value and then stops listening', async () => {
    const s = await server();
    const c = client(s);
    await new Promise((resolve) => c.connect(resolve));
    const next = c.once({ data: 'pi' });
    const signal = c.once('data');
    s.broadcast('data', { e: 2.7 });
    s.broadcast('data', { pi: 3.14 });
    s.broadcast('data', { pi: 3.15 });
    assert.equal(await next, 3.14);
    assert.deepEqual(await signal, { e: 2.7 });
  });

  test('rejects with TIMEOUT after timeoutMs', async () => {
    const c = new Connection('ws://unused/ws', '', null, { console: recordingConsole() });
    await assert.rejects(c.once({ data: 'never' }, { timeoutMs: 20 }), (e: unknown) => {
      return (
        e instanceof DatabenchError &&
        e.code === 'TIMEOUT' &&
        /"data" signal with key never/.test(e.message)
      );
    });
  });
});

describe('emit()', () => {
  test('sends {signal, load}; no message → no load key; NaN becomes a string', async () => {
    const s = await server();
    const c = client(s);
    await new Promise((resolve) => c.connect(resolve));
    c.emit('run');
    c.emit('params', { n: 3, x: NaN });
    c.emit('list', [1, 2]);
    c.emit('zero', 0);
    assert.equal((await s.takeAction('run')).raw, '{"signal":"run"}');
    assert.equal(
      (await s.takeAction('params')).raw,
      '{"signal":"params","load":{"n":3,"x":"NaN"}}',
    );
    assert.equal((await s.takeAction('list')).raw, '{"signal":"list","load":[1,2]}');
    assert.equal((await s.takeAction('zero')).raw, '{"signal":"zero","load":0}');
  });

  test('preEmit hooks transform the message in the order they were added', async () => {
    const s = await server();
    const c = client(s);
    c.preEmit('run', (m: { n: number }) => ({ ...m, n: m.n * 10 }));
    c.preEmit('run', (m: { n: number }) => ({ ...m, seed: 42 }));
    c.preEmit('bare', () => 'added');
    await new Promise((resolve) => c.connect(resolve));
    c.emit('run', { n: 2 });
    c.emit('other', { n: 2 });
    c.emit('bare');
    assert.deepEqual((await s.takeAction('run')).message.load, { n: 20, seed: 42 });
    assert.deepEqual((await s.takeAction('other')).message.load, { n: 2 });
    assert.deepEqual((await s.takeAction('bare')).message.load, 'added');
  });

  test('emits before the connection is ready wait in a bounded queue; the oldest are dropped and reported', async () => {
    const s = await server();
    const c = client(s, { maxQueuedEmits: 3 });
    const errors: string[] = [];
    c.errorCB = (message) => {
      if (message !== undefined) errors.push(message);
    };
    for (let i = 1; i <= 5; i++) c.emit(`a${i}`, i);
    assert.equal(errors.length, 2);
    assert.match(errors[0] ?? '', /dropped "a1" \(at most 3 are kept\)/);
    assert.match(errors[1] ?? '', /dropped "a2"/);
    c.connect();
    await s.takeAction('a5');
    assert.deepEqual(
      s.received.map((r) =>
        r.message.kind === 'action' ? r.message.signal : `__${r.message.kind}`,
      ),
      ['__connect', 'a3', 'a4', 'a5'],
    );
  });

  test('an unencodable message throws at emit time', () => {
    const c = new Connection('ws://unused/ws', '', null, { console: recordingConsole() });
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    assert.throws(
      () => c.emit('x', cyclic),
      (e: unknown) => e instanceof DatabenchError && e.code === 'ENCODE_CYCLE',
    );
  });
});

describe('onProcess()', () => {
  test("gets 'start' and 'end' of the action emitted with that __process_id, then is removed", async () => {
    const s = await server();
    s.onAction = ({ message, send }) => {
      const id = (message.load as { __process_id?: number } | undefined)?.__process_id;
      if (id === undefined) return;
      send('__process', { id, status: 'start' });
      send('work', message.signal);
      send('__process', { id, status: 'end' });
    };
    const c = client(s);
    const events: unknown[] = [];
    c.onProcess(7, (status) => events.push(['7', status]));
    c.onProcess(8, (status) => events.push(['8', status]));
    c.on('work', (v) => events.push(['work', v]));
    await new Promise((resolve) => c.connect(resolve));
    c.emit('run', { __process_id: 7 });
    await until('the end', () => events.length === 3);
    assert.deepEqual(events, [
      ['7', 'start'],
      ['work', 'run'],
      ['7', 'end'],
    ]);
    // the callbacks of a finished process are gone; another id is untouched
    c.trigger('__process', { id: 7, status: 'start' });
    c.trigger('__process', { id: 8, status: 'start' });
    assert.deepEqual(events.slice(3), [['8', 'start']]);
  });
});

describe('reconnect', () => {
  test('after a server restart it reconnects to the same port and resumes the same analysis id', async () => {
    const s1 = await server();
    const port = s1.port;
    const c = client(s1, { reconnectInitialDelayMs: 20, reconnectMaxDelayMs: 100 });
    const errors: Array<string | undefined> = [];
    c.errorCB = (message) => errors.push(message);
    await new Promise((resolve) => c.connect(resolve));
    const id = c.analysisId;
    assert.equal(id, 'analysis-1');

    await s1.close();
    servers.delete(s1);
    await until('the client to see the lost connection', () => !c.connected);
    c.emit('while_down', 1); // queued until the new connection is ready

    const s2 = await server({ port });
    const hello = await s2.takeConnect();
    assert.equal(hello.message.analysisId, id, 'the reconnect resumes the analysis id');
    assert.deepEqual((await s2.takeAction('while_down')).message.load, 1);
    assert.equal(c.analysisId, id);
    assert.ok(
      errors.includes('Connection lost. Reconnecting…'),
      `errors: ${JSON.stringify(errors)}`,
    );
    assert.equal(errors.at(-1), undefined, 'the alert is cleared once connected again');
  });

  test('close code 1012 (service restart) reconnects at once, not after the backoff', async () => {
    const s = await server();
    const c = client(s, { reconnectInitialDelayMs: 60_000, reconnectMaxDelayMs: 60_000 });
    await new Promise((resolve) => c.connect(resolve));
    await s.takeConnect();
    for (const socket of s.sockets) socket.close(1012, 'restart');
    const again = await s.takeConnect(2000);
    assert.equal(again.message.analysisId, 'analysis-1');
  });

  test('a changed analyses_version between two connects calls onAnalysesVersionChange', async () => {
    const s = await server({ analysesVersion: 'a' });
    const changes: unknown[] = [];
    const c = client(s, {
      reconnectInitialDelayMs: 10,
      reconnectMaxDelayMs: 50,
      onAnalysesVersionChange: (previous, current) => changes.push([previous, current]),
    });
    await new Promise((resolve) => c.connect(resolve));
    s.analysesVersion = 'b';
    for (const socket of s.sockets) socket.close(1012);
    await until('the second connect', () => changes.length === 1);
    assert.deepEqual(changes, [['a', 'b']]);
    assert.equal(c.analysesVersion, 'b');
  });

  test('disconnect() stops reconnecting', async () => {
    const s = await server();
    const c = client(s, { reconnectInitialDelayMs: 10, reconnectMaxDelayMs: 20 });
    await new Promise((resolve) => c.connect(resolve));
    c.disconnect();
    await until('the server to see the close', () => s.sockets.size === 0);
    await new Promise((resolve) => setTimeout(resolve, 100)); // several backoff periods: nothing may happen
    assert.equal(s.received.filter((r) => r.message.kind === 'connect').length, 1);
    assert.equal(c.connected, false);
  });
});

describe('review fixes', () => {
  test('emits queued while offline go out before those of the connect callback', async () => {
    const s = await server();
    const c = client(s);
    c.emit('first');
    c.connect(() => c.emit('second'));
    await s.takeAction('second');
    assert.deepEqual(
      s.received.map((r) =>
        r.message.kind === 'action' ? r.message.signal : `__${r.message.kind}`,
      ),
      ['__connect', 'first', 'second'],
    );
  });

  test('off() with a key pattern removes only that pattern', async () => {
    const s = await server();
    const c = client(s);
    const got: unknown[] = [];
    const f = (value: unknown, key?: string): void => void got.push([key, value]);
    c.on({ data: 'a' }, f);
    c.on({ data: 'b' }, f);
    c.off({ data: 'a' }, f);
    c.trigger('data', { a: 1, b: 2 });
    assert.deepEqual(got, [['b', 2]]);
  });

  test('a lost connection ends the processes still waiting for their end (lost: true)', async () => {
    const s = await server();
    s.onAction = ({ message, send }) => {
      const id = (message.load as { __process_id?: number } | undefined)?.__process_id;
      if (id !== undefined) send('__process', { id, status: 'start' }); // and never an end
    };
    const c = client(s, { reconnectInitialDelayMs: 60_000, reconnectMaxDelayMs: 60_000 });
    const events: unknown[] = [];
    c.onProcess(3, (status, load) => events.push([status, (load as { lost?: boolean }).lost]));
    await new Promise((resolve) => c.connect(resolve));
    c.emit('run', { __process_id: 3 });
    await until('the start', () => events.length === 1);
    for (const socket of s.sockets) socket.terminate();
    await until('the synthetic end', () => events.length === 2);
    assert.deepEqual(events, [
      ['start', undefined],
      ['end', true],
    ]);
  });

  test('a server that keeps closing with 1012 gets backoff after the first immediate reconnect', async () => {
    const s = await server();
    s.onAction = () => undefined;
    const c = client(s, { reconnectInitialDelayMs: 300, reconnectMaxDelayMs: 300 });
    await new Promise((resolve) => c.connect(resolve));
    await s.takeConnect();
    const start = Date.now();
    for (const socket of s.sockets) socket.close(1012, 'restart');
    await s.takeConnect(); // at once
    for (const socket of s.sockets) socket.close(1012, 'restart');
    await s.takeConnect(); // not at once: within a second of the last immediate one
    assert.ok(Date.now() - start >= 200, `reconnected too fast: ${Date.now() - start} ms`);
  });
});

describe("Connection: the server's frame limit and resumed sessions", () => {
  test('an emit larger than max_frame_bytes (counted in UTF-8) is not sent: an __error of its action, a console error and a warn action instead', async () => {
    const s = await server({ maxFrameBytes: 400 });
    const out = recordingConsole();
    const c = client(s, { console: out });
    const errors: unknown[] = [];
    c.on('__error', (load) => errors.push(load));
    c.connect();
    await s.takeConnect();
    await until('connected', () => c.connected);
    assert.equal(c.maxFrameBytes, 400);
    // 300 ASCII characters fit; 130 three-byte ones (390 bytes) do not
    c.emit('paste', 'x'.repeat(300));
    await s.takeAction('paste');
    c.emit('paste', '€'.repeat(130));
    const warn = await s.takeAction('warn');
    assert.match(
      String(warn.message.load),
      /^"paste" was not sent: its message is 4\d\d bytes, more than the 400 bytes the server reads in one message \(its --max-frame-bytes\)/,
    );
    assert.equal(errors.length, 1);
    assert.deepEqual(Object.keys(errors[0] as object).sort(), [
      'action',
      'location',
      'message',
      'where',
    ]);
    assert.equal((errors[0] as { action: string }).action, 'paste');
    assert.ok(
      out.lines.some(([level, args]) => level === 'error' && /not sent/.test(String(args[0]))),
    );
    // nothing else was sent: the next frame the server gets is the next emit
    c.emit('paste', 'ok');
    assert.equal((await s.takeAction('paste')).message.load, 'ok');
    assert.equal(
      s.received.filter((r) => r.message.kind === 'action' && r.message.signal === 'paste').length,
      2,
    );
  });

  test('emits queued before the limit was known are checked when they go out', async () => {
    const s = await server({ maxFrameBytes: 400 });
    const c = client(s);
    c.emit('paste', 'y'.repeat(1000));
    c.emit('small', 1);
    c.connect();
    await s.takeAction('small');
    assert.equal(
      s.received.some((r) => r.message.kind === 'action' && r.message.signal === 'paste'),
      false,
    );
    await s.takeAction('warn');
  });

  test('resumed: true only when the reply carries the id the connection asked for', async () => {
    const s = await server();
    const fresh = client(s);
    fresh.connect();
    await until('connected', () => fresh.connected);
    assert.equal(fresh.resumed, false);
    const again = new Connection(s.wsUrl(), '', fresh.analysisId, { console: recordingConsole() });
    connections.add(again);
    again.connect();
    await until('connected', () => again.connected);
    assert.equal(again.resumed, true);
    assert.equal(again.resumesOnReload, false, 'outside a browser nothing is kept for a reload');
  });
});
