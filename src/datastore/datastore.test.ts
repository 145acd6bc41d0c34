import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { DatabenchError, Datastore, MemoryBackend, type DatastoreBackend } from 'databench-ts';
import { deferred, turn } from '../../test/async.js';

/** A fresh domain per test: the default backend is process-wide. */
function domain(): string {
  return `test-${randomUUID()}`;
}

/** Records every change a store reports through `onChange`. */
function record(store: Datastore): Array<[string, unknown]> {
  const seen: Array<[string, unknown]> = [];
  store.onChange((key, value) => {
    seen.push([key, value]);
  });
  return seen;
}

describe('Datastore: the dict-like API', () => {
  test('set, get, has and get with a default', async () => {
    const store = new Datastore(domain());
    assert.equal(store.has('a'), false);
    assert.equal(store.get('a'), undefined);
    assert.equal(store.get('a', 42), 42);
    await store.set('a', 1);
    assert.equal(store.has('a'), true);
    assert.equal(store.get('a'), 1);
    assert.equal(store.get('a', 42), 1);
    store.close();
  });

  test('delete removes the key and subscribers get null; deleting a missing key sends nothing', async () => {
    const store = new Datastore(domain());
    const seen = record(store);
    await store.set('a', 1);
    await store.delete('a');
    assert.equal(store.has('a'), false);
    assert.equal(store.get('a'), undefined);
    assert.equal(store.size, 0);
    await store.delete('a');
    assert.deepEqual(seen, [
      ['a', 1],
      ['a', null],
    ]);
    store.close();
  });

  test('keys, values, entries and size follow insertion order', async () => {
    const store = new Datastore(domain());
    assert.equal(store.size, 0);
    await store.set('x', 1);
    await store.set('y', { z: [2] });
    await store.set('w', 'three');
    assert.equal(store.size, 3);
    assert.deepEqual([...store.keys()], ['x', 'y', 'w']);
    assert.deepEqual([...store.values()], [1, { z: [2] }, 'three']);
    assert.deepEqual(
      [...store.entries()],
      [
        ['x', 1],
        ['y', { z: [2] }],
        ['w', 'three'],
      ],
    );
    store.close();
  });

  test('update sets several keys and reports each change', async () => {
    const store = new Datastore(domain());
    const seen = record(store);
    await store.update({ a: 1, b: 2 });
    assert.deepEqual(store.toObject(), { a: 1, b: 2 });
    assert.deepEqual(seen, [
      ['a', 1],
      ['b', 2],
    ]);
    store.close();
  });

  test('init sets only keys that are not present yet', async () => {
    const store = new Datastore(domain());
    await store.set('a', 'kept');
    const seen = record(store);
    await store.init({ a: 'ignored', b: 'new' });
    assert.deepEqual(store.toObject(), { a: 'kept', b: 'new' });
    assert.deepEqual(seen, [['b', 'new']]);
    store.close();
  });

  test('setState with an object updates like update', async () => {
    const store = new Datastore(domain());
    await store.setState({ a: 1 });
    await store.setState({ b: 2 });
    assert.deepEqual(store.toObject(), { a: 1, b: 2 });
    store.close();
  });

  test('setState with a function gets the store and applies what it returns', async () => {
    const store = new Datastore<{ count: number }>(domain());
    await store.set('count', 1);
    let received: unknown;
    await store.setState((s) => {
      received = s;
      return { count: s.get('count', 0) + 1 };
    });
    assert.equal(received, store);
    assert.equal(store.get('count'), 2);
    store.close();
  });

  test('onChange gets (key, value) for set, update and delete', async () => {
    const store = new Datastore(domain());
    const calls: unknown[][] = [];
    store.onChange((...args) => {
      calls.push(args);
    });
    await store.set('a', [1, 2]);
    await store.update({ b: { c: true } });
    await store.delete('a');
    assert.deepEqual(calls, [
      ['a', [1, 2]],
      ['b', { c: true }],
      ['a', null],
    ]);
    store.close();
  });

  test('subscribe gets {key: value} for every change', async () => {
    const store = new Datastore(domain());
    const calls: unknown[][] = [];
    store.subscribe((...args) => {
      calls.push(args);
    });
    await store.set('a', 1);
    await store.setState({ b: 'x', c: null });
    assert.deepEqual(calls, [[{ a: 1 }], [{ b: 'x' }], [{ c: null }]]);
    store.close();
  });

  test('triggerAllChangeCallbacks replays every key to this instance only', async () => {
    const name = domain();
    const store = new Datastore(name);
    const other = new Datastore(name);
    await store.update({ a: 1, b: [2] });
    const seen = record(store);
    const seenByOther = record(other);
    const states: unknown[] = [];
    store.subscribe((s) => {
      states.push(s);
    });
    await store.triggerAllChangeCallbacks();
    assert.deepEqual(seen, [
      ['a', 1],
      ['b', [2]],
    ]);
    assert.deepEqual(states, [{ a: 1 }, { b: [2] }]);
    assert.deepEqual(seenByOther, []);
    store.close();
    other.close();
  });

  test('triggerAllChangeCallbacks resolves only after async callbacks resolve', async () => {
    const store = new Datastore(domain());
    await store.set('a', 1);
    const gate = deferred();
    store.onChange(() => gate.promise);
    let done = false;
    const p = store.triggerAllChangeCallbacks().then(() => (done = true));
    await turn();
    assert.equal(done, false);
    gate.resolve();
    await p;
    assert.equal(done, true);
    store.close();
  });

  test('a closed store refuses writes', async () => {
    const store = new Datastore(domain());
    store.close();
    await assert.rejects(async () => store.set('a', 1), /closed/);
    await assert.rejects(async () => store.update({ a: 1 }), /closed/);
    await assert.rejects(async () => store.delete('a'), /closed/);
  });
});

describe('Datastore: one domain, several instances', () => {
  test('two instances on one domain see the same data and each gets every change', async () => {
    const name = domain();
    const a = new Datastore(name);
    const b = new Datastore(name);
    const seenA = record(a);
    const seenB = record(b);
    await a.set('x', 1);
    await b.set('y', 2);
    assert.deepEqual(a.toObject(), { x: 1, y: 2 });
    assert.deepEqual(b.toObject(), { x: 1, y: 2 });
    const expected = [
      ['x', 1],
      ['y', 2],
    ];
    assert.deepEqual(seenA, expected);
    assert.deepEqual(seenB, expected);
    a.close();
    b.close();
  });

  test('an instance opened later sees what is already there', async () => {
    const name = domain();
    const a = new Datastore(name);
    await a.set('x', 'early');
    const b = new Datastore(name);
    assert.equal(b.get('x'), 'early');
    a.close();
    b.close();
  });

  test('close() removes only that instance’s callbacks', async () => {
    const name = domain();
    const a = new Datastore(name);
    const b = new Datastore(name);
    const seenA = record(a);
    const statesA: unknown[] = [];
    a.subscribe((s) => {
      statesA.push(s);
    });
    const seenB = record(b);
    await b.set('x', 1);
    a.close();
    await b.set('x', 2);
    assert.deepEqual(seenA, [['x', 1]]);
    assert.deepEqual(statesA, [{ x: 1 }]);
    assert.deepEqual(seenB, [
      ['x', 1],
      ['x', 2],
    ]);
    b.close();
  });

  test('close() twice is harmless and does not close the domain for the others', async () => {
    const name = domain();
    const backend = new MemoryBackend();
    const a = new Datastore(name, { backend, releaseStorage: true });
    const b = new Datastore(name, { backend, releaseStorage: true });
    await a.set('x', 1);
    a.close();
    a.close();
    assert.equal(b.get('x'), 1);
    await b.set('x', 2);
    assert.equal(b.get('x'), 2);
    b.close();
  });

  test('with releaseStorage the data is dropped when the last instance closes', async () => {
    const name = domain();
    const backend = new MemoryBackend();
    const a = new Datastore(name, { backend, releaseStorage: true });
    const b = new Datastore(name, { backend, releaseStorage: true });
    await a.set('x', 1);
    a.close();
    // one instance is still open: the data stays
    assert.equal(b.get('x'), 1);
    assert.equal(backend.domainCount, 1);
    b.close();
    assert.equal(backend.domainCount, 0);
    const c = new Datastore(name, { backend });
    assert.equal(c.has('x'), false);
    assert.equal(c.size, 0);
    c.close();
  });

  test('without releaseStorage the data survives the last close', async () => {
    const name = domain();
    const backend = new MemoryBackend();
    const a = new Datastore(name, { backend });
    await a.set('x', { kept: true });
    a.close();
    assert.equal(backend.domainCount, 1);
    const b = new Datastore(name, { backend });
    assert.deepEqual(b.get('x'), { kept: true });
    b.close();
  });

  test('the default backend keeps data across close too', async () => {
    const name = domain();
    const a = new Datastore(name);
    await a.set('x', 1);
    a.close();
    const b = new Datastore(name);
    assert.equal(b.get('x'), 1);
    b.close();
    const c = new Datastore(name, { releaseStorage: true });
    c.close();
    const d = new Datastore(name);
    assert.equal(d.has('x'), false);
    d.close();
  });
});

describe('Datastore: values are stored encoded', () => {
  test('setting an equal value sends nothing', async () => {
    const store = new Datastore(domain());
    const seen = record(store);
    await store.set('a', 1);
    await store.set('a', 1);
    await store.update({ a: 1 });
    await store.setState({ a: 1 });
    assert.deepEqual(seen, [['a', 1]]);
    await store.set('a', 2);
    assert.deepEqual(seen, [
      ['a', 1],
      ['a', 2],
    ]);
    store.close();
  });

  test('a deep-equal nested object (a different object) sends nothing', async () => {
    const store = new Datastore(domain());
    const seen = record(store);
    await store.set('a', { b: { c: [1, { d: 'e' }] } });
    await store.set('a', { b: { c: [1, { d: 'e' }] } });
    assert.equal(seen.length, 1);
    await store.set('a', { b: { c: [1, { d: 'f' }] } });
    assert.equal(seen.length, 2);
    assert.deepEqual(seen[1], ['a', { b: { c: [1, { d: 'f' }] } }]);
    store.close();
  });

  test('a mutated copy set again is a change', async () => {
    const store = new Datastore<{ list: number[] }>(domain());
    const seen = record(store);
    await store.set('list', [1]);
    const list = store.get('list', []);
    list.push(2);
    await store.set('list', list);
    assert.deepEqual(seen, [
      ['list', [1]],
      ['list', [1, 2]],
    ]);
    store.close();
  });

  test('a read returns a copy: mutating it changes nothing until set again', async () => {
    const store = new Datastore(domain());
    await store.set('a', { list: [1, 2], nested: { x: 1 } });
    const copy = store.get('a') as { list: number[]; nested: { x: number } };
    copy.list.push(3);
    copy.nested.x = 99;
    assert.deepEqual(store.get('a'), { list: [1, 2], nested: { x: 1 } });
    assert.notEqual(store.get('a'), store.get('a'));

    const values = [...store.values()] as Array<{ list: number[] }>;
    values[0]!.list.length = 0;
    const entries = [...store.entries()] as Array<[string, { list: number[] }]>;
    entries[0]![1].list.length = 0;
    const whole = store.toObject() as { a: { list: number[] } };
    whole.a.list.length = 0;
    assert.deepEqual(store.get('a'), { list: [1, 2], nested: { x: 1 } });
    store.close();
  });

  test('the value a callback gets is a copy too', async () => {
    const store = new Datastore(domain());
    store.onChange((_key, value) => {
      (value as number[]).push(99);
    });
    const other = record(store);
    await store.set('a', [1]);
    assert.deepEqual(store.get('a'), [1]);
    assert.deepEqual(other, [['a', [1]]]);
    store.close();
  });

  test('storing a value keeps it independent of the caller’s object', async () => {
    const store = new Datastore(domain());
    const original = { n: 1 };
    await store.set('a', original);
    original.n = 2;
    assert.deepEqual(store.get('a'), { n: 1 });
    store.close();
  });
});

describe('Datastore: writes wait for subscribers', () => {
  test('set resolves only after an async onChange callback resolves', async () => {
    const store = new Datastore(domain());
    const gate = deferred();
    store.onChange(() => gate.promise);
    let done = false;
    const write = store.set('a', 1).then(() => (done = true));
    await turn();
    assert.equal(done, false, 'set resolved before its subscriber finished');
    gate.resolve();
    await write;
    assert.equal(done, true);
    store.close();
  });

  test('update waits for async subscribe callbacks of every instance on the domain', async () => {
    const name = domain();
    const a = new Datastore(name);
    const b = new Datastore(name);
    const gateA = deferred();
    const gateB = deferred();
    a.subscribe(() => gateA.promise);
    b.subscribe(() => gateB.promise);
    let done = false;
    const write = a.update({ x: 1, y: 2 }).then(() => (done = true));
    await turn();
    assert.equal(done, false);
    gateA.resolve();
    await turn();
    assert.equal(done, false, 'update resolved before the other instance’s subscriber finished');
    gateB.resolve();
    await write;
    assert.equal(done, true);
    a.close();
    b.close();
  });

  test('delete waits for async callbacks', async () => {
    const store = new Datastore(domain());
    await store.set('a', 1);
    const gate = deferred();
    store.onChange(() => gate.promise);
    let done = false;
    const write = store.delete('a').then(() => (done = true));
    await turn();
    assert.equal(done, false);
    gate.resolve();
    await write;
    assert.equal(done, true);
    store.close();
  });

  test('the value is readable at once, before the write resolves', async () => {
    const store = new Datastore(domain());
    const gate = deferred();
    store.onChange(() => gate.promise);
    const write = store.set('a', 'now');
    assert.equal(store.get('a'), 'now');
    gate.resolve();
    await write;
    store.close();
  });
});

describe('Datastore: encoding', () => {
  test('NaN, Infinity and -Infinity become the strings "NaN", "Infinity", "-Infinity"', async () => {
    const store = new Datastore(domain());
    const seen = record(store);
    await store.set('nums', [NaN, Infinity, -Infinity, 1.5]);
    await store.set('one', NaN);
    assert.deepEqual(store.get('nums'), ['NaN', 'Infinity', '-Infinity', 1.5]);
    assert.equal(store.get('one'), 'NaN');
    assert.deepEqual(seen, [
      ['nums', ['NaN', 'Infinity', '-Infinity', 1.5]],
      ['one', 'NaN'],
    ]);
    store.close();
  });

  test('Set becomes a list and Map an object', async () => {
    const store = new Datastore(domain());
    await store.set('set', new Set([1, 'two', 3]));
    await store.set(
      'map',
      new Map<unknown, unknown>([
        ['a', 1],
        [2, new Set(['nested'])],
      ]),
    );
    assert.deepEqual(store.get('set'), [1, 'two', 3]);
    assert.deepEqual(store.get('map'), { a: 1, '2': ['nested'] });
    store.close();
  });

  test('typed arrays become lists (non-finite floats encoded too)', async () => {
    const store = new Datastore(domain());
    await store.set('u8', new Uint8Array([1, 2, 255]));
    await store.set('f64', new Float64Array([0.5, NaN, -Infinity]));
    await store.set('i16', new Int16Array(new Int16Array([5, -5, 7]).buffer, 2, 2));
    await store.set('big', new BigInt64Array([1n, -2n]));
    assert.deepEqual(store.get('u8'), [1, 2, 255]);
    assert.deepEqual(store.get('f64'), [0.5, 'NaN', '-Infinity']);
    assert.deepEqual(store.get('i16'), [-5, 7]);
    assert.deepEqual(store.get('big'), [1, -2]);
    store.close();
  });

  test('BigInt: a number when safe, else a string of its digits', async () => {
    const store = new Datastore(domain());
    await store.set('small', 42n);
    await store.set('huge', 2n ** 64n);
    await store.set('negative', -(2n ** 64n));
    assert.equal(store.get('small'), 42);
    assert.equal(store.get('huge'), '18446744073709551616');
    assert.equal(store.get('negative'), '-18446744073709551616');
    store.close();
  });

  test('Date becomes its ISO string', async () => {
    const store = new Datastore(domain());
    const when = new Date(Date.UTC(2020, 0, 2, 3, 4, 5, 6));
    await store.set('when', when);
    await store.set('nested', { at: [when] });
    assert.equal(store.get('when'), '2020-01-02T03:04:05.006Z');
    assert.deepEqual(store.get('nested'), { at: ['2020-01-02T03:04:05.006Z'] });
    store.close();
  });

  test('undefined at the top level is stored as null', async () => {
    const store = new Datastore(domain());
    await store.set('u', undefined);
    assert.equal(store.has('u'), true);
    assert.equal(store.get('u'), null);
    store.close();
  });

  test('a cycle throws ENCODE_CYCLE naming the key and leaves the store unchanged', async () => {
    const store = new Datastore(domain());
    const seen = record(store);
    await store.set('loop', 'before');
    seen.length = 0;
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    await assert.rejects(
      async () => store.set('loop', cyclic),
      (error: unknown) => {
        assert.ok(error instanceof DatabenchError, 'not a DatabenchError');
        assert.equal(error.code, 'ENCODE_CYCLE');
        assert.match(error.message, /"loop"/);
        return true;
      },
    );
    assert.equal(store.get('loop'), 'before');
    assert.deepEqual(seen, []);
    store.close();
  });

  test('a cycle in one key of update leaves every key of the update unchanged', async () => {
    const store = new Datastore(domain());
    const seen = record(store);
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    await assert.rejects(
      async () => store.update({ fine: 1, broken: cyclic }),
      (error: unknown) =>
        error instanceof DatabenchError &&
        error.code === 'ENCODE_CYCLE' &&
        error.message.includes('"broken"'),
    );
    await assert.rejects(
      async () => store.setState(() => ({ fine: 1, broken: cyclic })),
      (error: unknown) => error instanceof DatabenchError && error.code === 'ENCODE_CYCLE',
    );
    assert.equal(store.has('fine'), false);
    assert.equal(store.size, 0);
    assert.deepEqual(seen, []);
    store.close();
  });

  test('a cycle through a Map or a Set is an ENCODE_CYCLE too', async () => {
    const store = new Datastore(domain());
    const map = new Map<string, unknown>();
    map.set('me', map);
    const set = new Set<unknown>();
    set.add({ inner: set });
    for (const [key, value] of [
      ['viaMap', map],
      ['viaSet', set],
    ] as const) {
      await assert.rejects(
        async () => store.set(key, value),
        (error: unknown) =>
          error instanceof DatabenchError &&
          error.code === 'ENCODE_CYCLE' &&
          error.message.includes(`"${key}"`),
      );
    }
    assert.equal(store.size, 0);
    store.close();
  });

  test('a shared (non-cyclic) object is not a cycle', async () => {
    const store = new Datastore(domain());
    const shared = { n: 1 };
    await store.set('twice', { a: shared, b: shared, list: [shared, shared] });
    assert.deepEqual(store.get('twice'), { a: { n: 1 }, b: { n: 1 }, list: [{ n: 1 }, { n: 1 }] });
    const map = new Map([['k', 1]]);
    const set = new Set([map]);
    await store.set('containers', { m1: map, m2: map, s1: set, s2: [set, set] });
    assert.deepEqual(store.get('containers'), {
      m1: { k: 1 },
      m2: { k: 1 },
      s1: [{ k: 1 }],
      s2: [[{ k: 1 }], [{ k: 1 }]],
    });
    store.close();
  });
});

/**
 * A small backend whose storage sits "elsewhere": `attach` loads a copy
 * asynchronously (until the test opens `gate`), `write` persists
 * asynchronously, and the test can make a change as if from another process.
 */
class RemoteMapBackend implements DatastoreBackend {
  readonly name = 'remote-map';
  readonly storage = new Map<string, Map<string, string>>();
  readonly attached: string[] = [];
  readonly detached: Array<[string, boolean]> = [];
  readonly writes: Array<[string, string, string | undefined]> = [];
  readonly gate = deferred();
  /** When set, writes are persisted only once it resolves. */
  writeGate: Promise<void> | undefined;
  private readonly listeners = new Map<
    string,
    (key: string, encoded: string | undefined) => void
  >();

  async attach(
    domain: string,
    onRemoteChange: (key: string, encoded: string | undefined) => void,
  ): Promise<Map<string, string>> {
    this.attached.push(domain);
    this.listeners.set(domain, onRemoteChange);
    // the load is a read issued now; its answer arrives when the gate opens
    const snapshot = new Map(this.storage.get(domain) ?? []);
    await this.gate.promise;
    return snapshot;
  }

  async write(domain: string, key: string, encoded: string | undefined): Promise<void> {
    await (this.writeGate ?? Promise.resolve());
    let map = this.storage.get(domain);
    if (!map) this.storage.set(domain, (map = new Map<string, string>()));
    if (encoded === undefined) map.delete(key);
    else map.set(key, encoded);
    this.writes.push([domain, key, encoded]);
  }

  async detach(domain: string, { release }: { release: boolean }): Promise<void> {
    this.listeners.delete(domain);
    this.detached.push([domain, release]);
    if (release) this.storage.delete(domain);
  }

  dispose(): void {
    this.listeners.clear();
  }

  /** Another process changed `key` on `domain`. */
  remoteSet(domain: string, key: string, value: unknown): void {
    const encoded = JSON.stringify(value);
    let map = this.storage.get(domain);
    if (!map) this.storage.set(domain, (map = new Map<string, string>()));
    map.set(key, encoded);
    this.listeners.get(domain)?.(key, encoded);
  }
}

describe('Datastore: a custom backend with an async attach', () => {
  test('loads the domain, then behaves like the default store', async () => {
    const backend = new RemoteMapBackend();
    const name = domain();
    backend.storage.set(name, new Map([['preloaded', JSON.stringify({ v: 1 })]]));
    const store = new Datastore(name, { backend });
    let ready = false;
    void store.ready.then(() => (ready = true));
    await turn();
    assert.equal(ready, false, 'ready before the backend loaded the domain');
    backend.gate.resolve();
    await store.ready;
    assert.deepEqual(store.get('preloaded'), { v: 1 });
    assert.deepEqual([...store.keys()], ['preloaded']);

    const seen = record(store);
    await store.set('x', [1, 2]);
    assert.deepEqual(store.get('x'), [1, 2]);
    assert.deepEqual(backend.writes, [[name, 'x', '[1,2]']]);
    assert.equal(backend.storage.get(name)?.get('x'), '[1,2]');
    await store.set('x', [1, 2]);
    assert.equal(backend.writes.length, 1, 'an equal value was written again');
    await store.delete('x');
    assert.deepEqual(backend.writes.at(-1), [name, 'x', undefined]);
    assert.deepEqual(seen, [
      ['x', [1, 2]],
      ['x', null],
    ]);
    store.close();
  });

  test('a write resolves only after the backend has persisted it', async () => {
    const backend = new RemoteMapBackend();
    backend.gate.resolve();
    const name = domain();
    const store = new Datastore(name, { backend });
    await store.ready;
    const persist = deferred();
    backend.writeGate = persist.promise;
    let done = false;
    const write = store.set('k', 'v').then(() => (done = true));
    await turn();
    assert.equal(done, false, 'the write resolved before the backend persisted it');
    assert.equal(store.get('k'), 'v');
    persist.resolve();
    await write;
    assert.deepEqual(backend.writes, [[name, 'k', '"v"']]);
    store.close();
  });

  test('two instances share one attach and both get changes made elsewhere', async () => {
    const backend = new RemoteMapBackend();
    backend.gate.resolve();
    const name = domain();
    const a = new Datastore(name, { backend });
    const b = new Datastore(name, { backend });
    await Promise.all([a.ready, b.ready]);
    assert.deepEqual(backend.attached, [name]);
    const seenA = record(a);
    const statesB: unknown[] = [];
    b.subscribe((s) => {
      statesB.push(s);
    });
    backend.remoteSet(name, 'remote', { from: 'elsewhere' });
    assert.deepEqual(a.get('remote'), { from: 'elsewhere' });
    assert.deepEqual(seenA, [['remote', { from: 'elsewhere' }]]);
    assert.deepEqual(statesB, [{ remote: { from: 'elsewhere' } }]);
    // the same value again is not a change
    backend.remoteSet(name, 'remote', { from: 'elsewhere' });
    assert.equal(seenA.length, 1);
    a.close();
    b.close();
  });

  test('writes made before the load finished win over the loaded values', async () => {
    const backend = new RemoteMapBackend();
    const name = domain();
    backend.storage.set(
      name,
      new Map([
        ['a', '"stored"'],
        ['b', '"stored"'],
      ]),
    );
    const store = new Datastore(name, { backend });
    const early = store.set('a', 'local');
    backend.gate.resolve();
    await Promise.all([early, store.ready]);
    assert.equal(store.get('a'), 'local');
    assert.equal(store.get('b'), 'stored');
    store.close();
  });

  test('detach is called once, when the last instance closes, with the release flag', async () => {
    const backend = new RemoteMapBackend();
    backend.gate.resolve();
    const name = domain();
    const a = new Datastore(name, { backend });
    const b = new Datastore(name, { backend, releaseStorage: true });
    await Promise.all([a.ready, b.ready]);
    await a.set('x', 1);
    a.close();
    assert.deepEqual(backend.detached, []);
    b.close();
    assert.deepEqual(backend.detached, [[name, true]]);
    assert.equal(backend.storage.has(name), false);
  });
});

describe('Datastore: a key named __proto__ is an ordinary key', () => {
  test('update and init store an own __proto__ key; toObject copies it as an own key', async () => {
    const store = new Datastore(domain());
    await store.update(JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as object);
    assert.deepEqual(store.get('__proto__'), { polluted: true });
    const copy = store.toObject() as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(copy), Object.prototype);
    assert.ok(Object.hasOwn(copy, '__proto__'));
    assert.deepEqual(Object.keys(copy).sort(), ['__proto__', 'a']);
    assert.equal((copy as { polluted?: unknown }).polluted, undefined);

    const other = new Datastore(domain());
    await other.init({ ['__proto__']: 5, b: 2 });
    assert.equal(other.get('__proto__'), 5);
    await other.init({ ['__proto__']: 6 });
    assert.equal(other.get('__proto__'), 5, 'init keeps a present key');
    assert.deepEqual(Object.keys(other.toObject()).sort(), ['__proto__', 'b']);
  });

  test('an object literal { __proto__: … } is refused with an error, not dropped', async () => {
    const store = new Datastore(domain());
    for (const op of ['update', 'init', 'setState'] as const) {
      assert.throws(
        () => store[op]({ __proto__: { a: 1 } }),
        (e: unknown) => e instanceof DatabenchError && e.code === 'DATASTORE_PROTOTYPE',
      );
    }
    assert.equal(store.size, 0);
    // class instances and objects without a prototype are fine
    class Point {
      x = 1;
    }
    await store.update(new Point() as object);
    await store.update(Object.assign(Object.create(null) as object, { y: 2 }));
    assert.deepEqual(store.toObject(), { x: 1, y: 2 });
  });
});

describe('MemoryBackend: retention per owner, so one client cannot evict the others', () => {
  test('one owner leaving many stores behind evicts only its own', async () => {
    const backend = new MemoryBackend(10, 3);
    const keep = async (name: string, owner?: string): Promise<void> => {
      const store = new Datastore(name, {
        backend,
        releaseAfterMs: 60_000,
        ...(owner === undefined ? {} : { owner }),
      });
      await store.set('v', name);
      store.close();
    };
    await keep('victim-1', '192.0.2.1');
    await keep('victim-2', '192.0.2.2');
    await keep('anonymous');
    for (let i = 0; i < 50; i++) await keep(`flood-${i}`, '198.51.100.7');
    // the flooder keeps its 3 newest; nobody else lost anything
    assert.equal(backend.domainCount, 6);
    for (const name of ['victim-1', 'victim-2', 'anonymous', 'flood-47', 'flood-48', 'flood-49']) {
      assert.equal(new Datastore(name, { backend }).get('v'), name, name);
    }
    assert.equal(new Datastore('flood-46', { backend }).get('v'), undefined);
  });

  test('the global bound still holds across owners, oldest first', async () => {
    const backend = new MemoryBackend(4, 3);
    for (let i = 0; i < 6; i++) {
      const store = new Datastore(`d${i}`, { backend, releaseAfterMs: 60_000, owner: `o${i}` });
      await store.set('v', i);
      store.close();
    }
    assert.equal(backend.domainCount, 4);
    assert.equal(new Datastore('d0', { backend }).get('v'), undefined);
    assert.equal(new Datastore('d5', { backend }).get('v'), 5);
  });

  test("a resumed domain leaves its owner's count", async () => {
    const backend = new MemoryBackend(10, 2);
    const a = new Datastore('r1', { backend, releaseAfterMs: 60_000, owner: 'x' });
    await a.set('v', 1);
    a.close();
    // resumed and left again, by the same owner: still one place, not two
    const again = new Datastore('r1', { backend, releaseAfterMs: 60_000, owner: 'x' });
    again.close();
    const b = new Datastore('r2', { backend, releaseAfterMs: 60_000, owner: 'x' });
    await b.set('v', 2);
    b.close();
    assert.equal(new Datastore('r1', { backend }).get('v'), 1);
    assert.equal(new Datastore('r2', { backend }).get('v'), 2);
  });
});

describe('Datastore: stores that open and close during a delivery', () => {
  test('a store opened by a callback during a delivery gets the next change, not this one', async () => {
    const d = domain();
    const a = new Datastore(d);
    const got: string[] = [];
    let opened: Datastore | undefined;
    a.onChange(() => {
      got.push('a');
      opened ??= new Datastore(d).onChange(() => got.push('opened'));
    });
    await a.set('k', 1);
    assert.deepEqual(got, ['a']);
    await a.set('k', 2);
    assert.deepEqual(got, ['a', 'a', 'opened']);
    a.close();
    opened!.close();
  });

  test('a store closed by a callback during a delivery: every other store still gets it', async () => {
    const d = domain();
    const [a, b, c, e] = [0, 1, 2, 3].map(() => new Datastore(d)) as [
      Datastore,
      Datastore,
      Datastore,
      Datastore,
    ];
    const got: string[] = [];
    a.onChange(() => got.push('a'));
    // b closes a store before it in the list
    b.onChange(() => {
      got.push('b');
      a.close();
    });
    c.onChange(() => got.push('c'));
    e.onChange(() => got.push('e'));
    await c.set('k', 1);
    assert.deepEqual(got, ['a', 'b', 'c', 'e']);
    for (const s of [b, c, e]) s.close();
  });

  test('many stores of one domain open and close in any order', async () => {
    const d = domain();
    const stores = Array.from({ length: 50 }, () => new Datastore(d));
    const heard = new Set<number>();
    stores.forEach((s, i) => s.onChange(() => heard.add(i)));
    for (let i = 0; i < 50; i += 3) stores[i]!.close();
    await stores[1]!.set('k', 1);
    assert.deepEqual(
      [...heard].sort((x, y) => x - y),
      stores.map((_, i) => i).filter((i) => i % 3 !== 0),
    );
    for (const s of stores) s.close();
  });
});

describe('Datastore: deltas', () => {
  /** Every change as its listeners get it: key, whole value, and delta (when any). */
  function changes(store: Datastore): Array<{ key: string; value: unknown; delta?: unknown }> {
    const seen: Array<{ key: string; value: unknown; delta?: unknown }> = [];
    store.onEncodedChange((change) => {
      const delta = change.delta;
      seen.push(
        delta === undefined
          ? { key: change.key, value: change.decode() }
          : { key: change.key, value: change.decode(), delta: { ...delta } },
      );
    });
    return seen;
  }

  test('append and extend grow the list; each change carries the new items as its delta', async () => {
    const store = new Datastore<{ xs: unknown[]; empty: number[] }>(domain());
    const seen = changes(store);
    await store.append('xs', 1);
    await store.append('xs', 2, { a: NaN });
    await store.extend('xs', new Set([3]));
    await store.extend('xs', []);
    await store.set('empty', []);
    await store.append('empty', 5);
    assert.deepEqual(store.get('xs'), [1, 2, { a: 'NaN' }, 3]);
    assert.deepEqual(store.get('empty'), [5]);
    assert.deepEqual(seen, [
      { key: 'xs', value: [1] },
      {
        key: 'xs',
        value: [1, 2, { a: 'NaN' }],
        delta: { kind: 'append', encoded: '2,{"a":"NaN"}' },
      },
      { key: 'xs', value: [1, 2, { a: 'NaN' }, 3], delta: { kind: 'append', encoded: '3' } },
      { key: 'empty', value: [] },
      { key: 'empty', value: [5], delta: { kind: 'append', encoded: '5' } },
    ]);
    store.close();
  });

  test('append to a key that holds something else than a list throws, and changes nothing', async () => {
    const store = new Datastore<Record<string, unknown>>(domain());
    await store.set('n', { a: 1 });
    assert.throws(
      () => store.append('n', 1),
      (e: unknown) => e instanceof DatabenchError && e.code === 'DATASTORE_NOT_A_LIST',
    );
    assert.deepEqual(store.get('n'), { a: 1 });
    store.close();
  });

  test('patch applies JSON Patch operations; the change carries them; a failing patch changes nothing', async () => {
    const store = new Datastore<Record<string, unknown>>(domain());
    const seen = changes(store);
    await store.set('cfg', { a: 1, b: [1, 2] });
    const value = { deep: true };
    const ops = [
      { op: 'replace', path: '/a', value: 2 },
      { op: 'add', path: '/b/-', value },
      { op: 'remove', path: '/b/0' },
    ] as const;
    await store.patch('cfg', [...ops]);
    value.deep = false; // the store copied the operations
    assert.deepEqual(store.get('cfg'), { a: 2, b: [2, { deep: true }] });
    assert.deepEqual(seen.at(-1)?.delta, {
      kind: 'ops',
      encoded: JSON.stringify([
        { op: 'replace', path: '/a', value: 2 },
        { op: 'add', path: '/b/-', value: { deep: true } },
        { op: 'remove', path: '/b/0' },
      ]),
    });
    for (const bad of [
      [{ op: 'replace', path: '/missing', value: 1 }],
      [
        { op: 'replace', path: '/a', value: 3 },
        { op: 'test', path: '/a', value: 4 },
      ],
      [{ op: 'add', path: '/__proto__/x', value: 1 }],
    ] as const) {
      assert.throws(
        () => store.patch('cfg', [...bad]),
        (e: unknown) => e instanceof DatabenchError && e.code === 'DATASTORE_PATCH',
      );
      assert.deepEqual(store.get('cfg'), { a: 2, b: [2, { deep: true }] });
    }
    assert.throws(
      () => store.patch('none', [{ op: 'add', path: '/a', value: 1 }]),
      (e: unknown) => e instanceof DatabenchError && e.code === 'DATASTORE_PATCH',
    );
    store.close();
  });

  test('a patch after a failed one, on a large value, starts from the stored value', async () => {
    const store = new Datastore<Record<string, unknown>>(domain());
    const big: Record<string, number> = {};
    for (let i = 0; i < 2000; i++) big[`k${i}`] = i;
    await store.set('big', big);
    await store.patch('big', [{ op: 'replace', path: '/k1', value: -1 }]);
    assert.throws(() =>
      store.patch('big', [
        { op: 'replace', path: '/k2', value: -2 },
        { op: 'remove', path: '/missing' },
      ]),
    );
    await store.patch('big', [{ op: 'replace', path: '/k3', value: -3 }]);
    assert.deepEqual(store.get('big'), { ...big, k1: -1, k3: -3 });
    store.close();
  });

  test('a small change of a large list or object carries a JSON Patch; small values, other kinds and large changes none', async () => {
    const store = new Datastore<Record<string, unknown>>(domain());
    const seen = changes(store);
    const list = Array.from({ length: 3000 }, (_, i) => i);
    await store.set('list', list);
    await store.set('list', [...list, 3000]);
    assert.deepEqual(seen.at(-1)?.delta, { kind: 'append', encoded: '3000' });
    await store.set('list', [...list, 3000, 3001, 'x,y']);
    assert.deepEqual(
      seen.at(-1)?.delta,
      { kind: 'append', encoded: '3001,"x,y"' },
      'a list set again with items added at its end goes as an append (no parse)',
    );
    await store.set('list', [...list, 3000, 3001, 'x,yz']);
    assert.deepEqual(seen.at(-1)?.delta, {
      kind: 'ops',
      encoded: '[{"op":"replace","path":"/3002","value":"x,yz"}]',
    });
    await store.set('list', [-1, ...list.slice(1)]);
    assert.deepEqual(seen.at(-1)?.delta, {
      kind: 'ops',
      encoded:
        '[{"op":"remove","path":"/3002"},{"op":"remove","path":"/3001"},{"op":"remove","path":"/3000"},{"op":"replace","path":"/0","value":-1}]',
    });
    // a change as large as the value
    await store.set(
      'list',
      list.map((x) => -x),
    );
    assert.equal(seen.at(-1)?.delta, undefined);
    await store.set('list', { now: 'an object', pad: 'x'.repeat(9000) });
    assert.equal(seen.at(-1)?.delta, undefined, 'a list that became an object goes whole');
    await store.set('small', { a: 1 });
    await store.set('small', { a: 2 });
    assert.equal(seen.at(-1)?.delta, undefined, 'a small value goes whole');
    await store.set('text', 'x'.repeat(9000));
    await store.set('text', 'y' + 'x'.repeat(8999));
    assert.equal(seen.at(-1)?.delta, undefined, 'a string goes whole');
    const proto = JSON.parse(`{"__proto__": {"a": 1}, "pad": "${'x'.repeat(9000)}"}`) as object;
    await store.set('proto', proto);
    await store.set('proto', JSON.parse(JSON.stringify(proto).replace('"a":1', '"a":2')) as object);
    assert.equal(seen.at(-1)?.delta, undefined, 'a change under __proto__ goes whole');
    store.close();
  });

  test("a value written already encoded (a kernel's write at the host) is diffed too", async () => {
    const backend = new MemoryBackend();
    const name = domain();
    const store = new Datastore<Record<string, unknown>>(name, { backend });
    const seen = changes(store);
    const list = Array.from({ length: 3000 }, (_, i) => i);
    await store._writeEncoded('list', JSON.stringify(list));
    await store._writeEncoded('list', JSON.stringify([...list, 1]));
    assert.equal(seen.at(-1)?.delta?.constructor, Object);
    store.close();
    backend.dispose();
  });
});

describe('Datastore: one-operation patches of a large value are encoded once a turn', () => {
  function bigObject(): Record<string, string> {
    const big: Record<string, string> = {};
    for (let i = 0; i < 1000; i++) big[`k${i}`] = String(i).padEnd(20, '.');
    return big;
  }

  test('reads, deltas, other writes and a failing patch all see the patched value', async () => {
    const store = new Datastore<Record<string, unknown>>(domain());
    const deltas: unknown[] = [];
    store.onEncodedChange((change) => void deltas.push(change.delta?.encoded));
    const big = bigObject();
    await store.set('big', big);
    await store.patch('big', [{ op: 'replace', path: '/k1', value: 'one' }]);
    await store.patch('big', [{ op: 'add', path: '/new', value: [1] }]);
    assert.deepEqual(deltas.slice(1), [
      '[{"op":"replace","path":"/k1","value":"one"}]',
      '[{"op":"add","path":"/new","value":[1]}]',
    ]);
    assert.throws(
      () => store.patch('big', [{ op: 'replace', path: '/missing', value: 1 }]),
      (e: unknown) => e instanceof DatabenchError && e.code === 'DATASTORE_PATCH',
    );
    const expected = { ...big, k1: 'one', new: [1] };
    assert.deepEqual(store.get('big'), expected, 'a read sees both patches, not the failed one');
    await store.patch('big', [{ op: 'remove', path: '/k2' }]);
    const withoutK2: Record<string, unknown> = { ...expected };
    delete withoutK2['k2'];
    assert.deepEqual(JSON.parse([...store.encodedEntries()][0]![1]), withoutK2);
    await store.patch('big', [{ op: 'replace', path: '/k3', value: 'three' }]);
    await store.set('big', { replaced: true });
    assert.deepEqual(store.get('big'), { replaced: true });
    store.close();
  });

  test('a change callback and a page of whole values get each version; the data a closed store leaves is encoded', async () => {
    const backend = new MemoryBackend();
    const name = domain();
    const store = new Datastore<Record<string, unknown>>(name, { backend });
    const seen: unknown[] = [];
    store.onChange((key, value) => void seen.push((value as Record<string, string>)['k1']));
    await store.set('big', bigObject());
    await store.patch('big', [{ op: 'replace', path: '/k1', value: 'a' }]);
    await store.patch('big', [{ op: 'replace', path: '/k1', value: 'b' }]);
    assert.deepEqual(seen, ['1'.padEnd(20, '.'), 'a', 'b']);
    await store.patch('big', [{ op: 'replace', path: '/k1', value: 'c' }]);
    store.close();
    const again = new Datastore<Record<string, Record<string, string>>>(name, { backend });
    assert.equal(again.get('big')?.['k1'], 'c');
    again.close();
    backend.dispose();
  });

  test('the data a store leaves when it closes right after a patch holds the patch', async () => {
    const backend = new MemoryBackend();
    const name = domain();
    const store = new Datastore<Record<string, unknown>>(name, { backend });
    await store.set('big', bigObject());
    await store.patch('big', [{ op: 'replace', path: '/k1', value: 'patched' }]);
    store.close();
    const again = new Datastore<Record<string, Record<string, string>>>(name, { backend });
    assert.equal(again.get('big')?.['k1'], 'patched');
    again.close();
    backend.dispose();
  });

  test('appends to a large list are joined to its text once a turn: reads, patches, sets and a close see them', async () => {
    const backend = new MemoryBackend();
    const name = domain();
    const store = new Datastore<Record<string, unknown>>(name, { backend });
    const deltas: unknown[] = [];
    store.onEncodedChange((change) => void deltas.push(change.delta?.encoded));
    const list = Array.from({ length: 3000 }, (_, i) => i);
    await store.set('xs', list);
    await store.append('xs', 'a');
    await store.extend('xs', ['b', { c: 1 }]);
    assert.deepEqual(deltas.slice(1), ['"a"', '"b",{"c":1}']);
    assert.deepEqual(store.get('xs'), [...list, 'a', 'b', { c: 1 }]);
    await store.append('xs', 'd');
    await store.patch('xs', [{ op: 'replace', path: '/0', value: 'zero' }]);
    await store.append('xs', 'e');
    assert.deepEqual(store.get('xs'), ['zero', ...list.slice(1), 'a', 'b', { c: 1 }, 'd', 'e']);
    await store.append('xs', 'f');
    store.close();
    const again = new Datastore<Record<string, unknown[]>>(name, { backend });
    assert.deepEqual(again.get('xs')?.slice(-2), ['e', 'f']);
    await again.append('xs', 'g');
    await again.set('xs', [1]);
    assert.deepEqual(again.get('xs'), [1]);
    again.close();
    backend.dispose();
  });
});
