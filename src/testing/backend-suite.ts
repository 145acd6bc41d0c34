import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { DatastoreBackend } from '../datastore/backend.js';
import { Datastore } from '../datastore/datastore.js';

/** Options of {@link testBackend}. */
export interface TestBackendOptions {
  /**
   * The backend's storage outlives one instance and is shared between
   * instances (Redis): run the suites of two "processes" on one storage.
   * Default: false (the memory backend: each instance is its own storage).
   */
  shared?: boolean;
  /** Timeout of each wait for a change, in ms. Default: 5000. */
  timeoutMs?: number;
}

/** Waits until `check()` holds, failing with `what` after `ms`. Polls each turn of the event loop. */
async function until(check: () => boolean, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A backend with a `sync()` (Redis): resolves when its writes and the changes before now are in. */
async function sync(backend: DatastoreBackend): Promise<void> {
  const b = backend as DatastoreBackend & { sync?: () => Promise<void> };
  if (typeof b.sync === 'function') await b.sync();
}

/**
 * The conformance suite of the {@link DatastoreBackend} contract, run against
 * every backend (like unstorage's driver tests): register it in a test file
 * with a factory for fresh instances. Every test uses its own domains.
 *
 * @example
 * import { testBackend } from 'databench-ts/testing';
 * testBackend('memory', () => new MemoryBackend());
 */
export function testBackend(
  name: string,
  makeBackend: () => DatastoreBackend | Promise<DatastoreBackend>,
  options: TestBackendOptions = {},
): void {
  const ms = options.timeoutMs ?? 5000;
  const made: DatastoreBackend[] = [];
  const make = async (): Promise<DatastoreBackend> => {
    const backend = await makeBackend();
    made.push(backend);
    return backend;
  };
  const domain = (): string => `conformance-${randomUUID()}`;

  void describe(`backend conformance: ${name}`, () => {
    after(async () => {
      for (const backend of made) await backend.dispose();
    });

    void test('a new domain is empty; writes read back at once; deletes remove the key', async () => {
      const backend = await make();
      const store = new Datastore(domain(), { backend });
      await store.ready;
      assert.equal(store.size, 0);
      await store.set('a', { x: [1, 2] });
      assert.deepEqual(store.get('a'), { x: [1, 2] });
      await store.delete('a');
      assert.equal(store.has('a'), false);
      store.close();
    });

    void test('a domain closed without release keeps its data for the next opening', async () => {
      const backend = await make();
      const name = domain();
      const a = new Datastore(name, { backend });
      await a.ready;
      await a.update({ k: 1, s: 'two', n: null });
      await sync(backend);
      a.close();
      const b = new Datastore(name, { backend });
      await b.ready;
      assert.deepEqual(b.toObject(), { k: 1, s: 'two', n: null });
      b.close();
    });

    void test('a domain closed with releaseStorage is gone', async () => {
      const backend = await make();
      const name = domain();
      const a = new Datastore(name, { backend, releaseStorage: true });
      await a.ready;
      await a.set('k', 1);
      a.close();
      await sync(backend);
      const b = new Datastore(name, { backend });
      await b.ready;
      assert.equal(b.size, 0);
      b.close();
    });

    void test('releaseAfterMs: kept for a reopening within the time, gone after it', async () => {
      const backend = await make();
      const name = domain();
      const a = new Datastore(name, { backend, releaseAfterMs: 300 });
      await a.ready;
      await a.set('k', 'kept');
      a.close();
      const b = new Datastore(name, { backend, releaseAfterMs: 300 });
      await b.ready;
      assert.equal(b.get('k'), 'kept', 'gone before its time');
      b.close();
      await sync(backend);
      // opening the domain would keep it: look once, after the time has passed
      await new Promise((resolve) => setTimeout(resolve, 300 + 200));
      if (backend.has) {
        assert.equal(await backend.has(name), false, 'has() after releaseAfterMs has passed');
      }
      const c = new Datastore(name, { backend });
      await c.ready;
      assert.equal(c.size, 0, 'the domain was not released after releaseAfterMs');
      c.close();
    });

    void test('every store on a domain gets each change once', async () => {
      const backend = await make();
      const name = domain();
      const a = new Datastore(name, { backend });
      const b = new Datastore(name, { backend });
      await Promise.all([a.ready, b.ready]);
      const seenA: unknown[] = [];
      const seenB: unknown[] = [];
      a.onChange((_k, v) => void seenA.push(v));
      b.onChange((_k, v) => void seenB.push(v));
      for (let i = 0; i < 5; i++) await a.set('k', i);
      await sync(backend);
      assert.deepEqual(seenA, [0, 1, 2, 3, 4]);
      assert.deepEqual(seenB, [0, 1, 2, 3, 4]);
      a.close();
      b.close();
    });

    void test('has(): not for a domain never opened nor after a release; for an open one (even empty) and a retained one with data', async (t) => {
      const backend = await make();
      if (backend.has === undefined) {
        t.skip('the backend has no has(): every well-formed id resumes');
        return;
      }
      const name = domain();
      assert.equal(await backend.has(name), false, 'a domain never opened');
      const a = new Datastore(name, { backend, releaseAfterMs: 60_000 });
      await a.ready;
      assert.equal(await backend.has(name), true, 'an open domain with nothing in it');
      await a.set('k', 1);
      a.close();
      await sync(backend);
      assert.equal(await backend.has(name), true, 'a detached domain with data, within its time');
      const b = new Datastore(name, { backend, releaseStorage: true });
      await b.ready;
      b.close();
      await sync(backend);
      assert.equal(await backend.has(name), false, 'a released domain');
    });

    void test('dispose resolves', async () => {
      const backend = await makeBackend();
      const store = new Datastore(domain(), { backend });
      await store.ready;
      await store.set('k', 1);
      store.close();
      await backend.dispose();
    });

    if (!options.shared) return;

    void test('two instances on one storage: a change on one reaches the other, once', async () => {
      const [p, q] = [await make(), await make()];
      const name = domain();
      const a = new Datastore(name, { backend: p });
      const b = new Datastore(name, { backend: q });
      await Promise.all([a.ready, b.ready]);
      const seenA: unknown[] = [];
      const seenB: unknown[] = [];
      a.onChange((_k, v) => void seenA.push(v));
      b.onChange((_k, v) => void seenB.push(v));
      await a.set('k', 'from a');
      await until(() => b.get('k') === 'from a', 'the change on the other instance', ms);
      await b.delete('k');
      await until(() => !a.has('k'), 'the delete on the first instance', ms);
      await Promise.all([sync(p), sync(q)]);
      assert.deepEqual(seenA, ['from a', null], 'the writer applied its own change twice');
      assert.deepEqual(seenB, ['from a', null]);
      a.close();
      b.close();
    });

    void test('two instances on one storage: a domain opened later gets the snapshot', async () => {
      const [p, q] = [await make(), await make()];
      const name = domain();
      const a = new Datastore(name, { backend: p, releaseAfterMs: 60_000 });
      await a.ready;
      await a.update({ x: 1, y: [2] });
      await sync(p);
      a.close();
      const b = new Datastore(name, { backend: q, releaseAfterMs: 60_000 });
      await b.ready;
      assert.deepEqual(b.toObject(), { x: 1, y: [2] });
      b.close();
    });

    void test('two instances on one storage: has() on one sees a domain open on the other, even empty', async (t) => {
      const [p, q] = [await make(), await make()];
      if (q.has === undefined) {
        t.skip('the backend has no has()');
        return;
      }
      const name = domain();
      assert.equal(await q.has(name), false);
      const a = new Datastore(name, { backend: p, releaseAfterMs: 60_000 });
      await a.ready;
      assert.equal(await q.has(name), true, 'a domain open on the other instance');
      a.close();
    });

    void test('two instances on one storage: takeOver on one resolves once the other has ended its session', async (t) => {
      const [p, q] = [await make(), await make()];
      if (p.takeOver === undefined || q.onTakeOver === undefined) {
        t.skip('the backend has no takeOver()');
        return;
      }
      const name = domain();
      let called!: (domain: string) => void;
      const asked = new Promise<string>((resolve) => (called = resolve));
      let end!: () => void;
      const ended = new Promise<void>((resolve) => (end = resolve));
      const stop = q.onTakeOver((d) => {
        called(d);
        return d === name ? ended : undefined;
      });
      let done = false;
      const taking = p.takeOver(name).then(() => void (done = true));
      assert.equal(await asked, name, 'the other instance was not asked');
      assert.equal(done, false, 'takeOver resolved before the other session ended');
      end();
      await taking;
      stop();
      // no listener: answers at once
      await q.takeOver?.(domain());
    });

    void test('two instances writing one key at once converge (2 × 1000 interleaved writes)', async () => {
      const [p, q] = [await make(), await make()];
      const name = domain();
      const a = new Datastore(name, { backend: p });
      const b = new Datastore(name, { backend: q });
      await Promise.all([a.ready, b.ready]);
      const writer = async (store: Datastore, tag: string): Promise<void> => {
        for (let i = 0; i < 1000; i++) {
          await store.set('k', `${tag}${i}`);
          if (i % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      };
      await Promise.all([writer(a, 'a'), writer(b, 'b')]);
      await Promise.all([sync(p), sync(q)]);
      await Promise.all([sync(p), sync(q)]);
      const fresh = new Datastore(name, { backend: await make() });
      await fresh.ready;
      const stored = fresh.get('k');
      assert.ok(stored === 'a999' || stored === 'b999', `storage holds ${String(stored)}`);
      assert.equal(a.get('k'), stored, 'the first instance disagrees with the storage');
      assert.equal(b.get('k'), stored, 'the second instance disagrees with the storage');
      a.close();
      b.close();
      fresh.close();
    });
  });
}
