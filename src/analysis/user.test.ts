import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Analysis, Datastore, MemoryBackend } from 'databench-ts';
import { AnalysisTest } from 'databench-ts/testing';
import type { Change } from '../datastore/change.js';
import { internals } from './analysis.js';
import { AnalysisInstance, type PageSink } from './instance.js';
import { MAX_TAKEOVER_BYTES } from '../datastore/backends/redis.js';
import {
  escapeUserId,
  isSessionDomain,
  MAX_USER_ID_BYTES,
  sessionDataDomain,
  userDataDomain,
} from './user.js';

/** The same vectors as python/databench/tests/test_user_data.py: both kernels name a user's stores alike. */
const ESCAPED: Array<[string, string]> = [
  ['alice', 'alice'],
  ['alice@example.com', 'alice%40example.com'],
  ['a:b/c@d', 'a%3Ab%2Fc%40d'],
  ['a b~_.-', 'a%20b~_.-'],
  ['Zo\u00eb', 'Zo%C3%AB'],
  ['\u{1F600}', '%F0%9F%98%80'],
  ['\ud800x', '%uD800x'],
  ['%41', '%2541'],
];

const ID = '6f1c2a0e-4b7d-4c7e-9a53-0c1d2e3f4a5b';

class Prefs extends Analysis<Record<string, unknown>, Record<string, unknown>, { theme: string }> {
  on_set_pref(theme: string) {
    return this.userData.set('theme', theme);
  }
}

/** The `user_data` loads a test's page got. */
function userDataOf(t: AnalysisTest<Prefs>): unknown[] {
  return t.emittedMessages.filter(([signal]) => signal === 'user_data').map(([, load]) => load);
}

describe('the domains of a user', () => {
  test('a user id is escaped so that it cannot end its part of a domain or name another', () => {
    for (const [id, escaped] of ESCAPED) assert.equal(escapeUserId(id), escaped, id);
    for (const [id] of ESCAPED) assert.doesNotMatch(escapeUserId(id), /[:@/]/);
  });

  test("the longest ids the login accepts keep a session's domain within Redis's takeover messages", () => {
    const longest = [
      'a'.repeat(MAX_USER_ID_BYTES), // kept as it is
      ','.repeat(MAX_USER_ID_BYTES), // 3 characters a byte
      '\u540d'.repeat(MAX_USER_ID_BYTES / 4), // 3 bytes, 9 characters a code point (…)
      '\u{1F600}'.repeat(MAX_USER_ID_BYTES / 4), // 4 bytes, 12 characters
      '\ud800'.repeat(Math.floor(MAX_USER_ID_BYTES / 3)), // a lone surrogate counts 3 bytes, 6 characters
    ];
    for (const id of longest) {
      assert.ok(Buffer.byteLength(id, 'utf8') <= MAX_USER_ID_BYTES);
      // `origin token domain`, as the Redis backend publishes it
      const message = `${'0'.repeat(16)} ${'0'.repeat(16)} ${sessionDataDomain(ID, { id })}`;
      assert.ok(Buffer.byteLength(message, 'latin1') <= MAX_TAKEOVER_BYTES, id.slice(0, 8));
    }
  });

  test("a session's data is bound to its user; userData is the user's, or the session's own", () => {
    assert.equal(sessionDataDomain(ID, undefined), ID);
    assert.equal(sessionDataDomain(ID, { id: 'a@b' }), `${ID}@a%40b`);
    assert.equal(userDataDomain({ id: 'a:b' }, 'prefs', ID), 'user:a%3Ab:prefs');
    assert.equal(userDataDomain(undefined, 'prefs', ID), `${ID}/user`);
    assert.ok(isSessionDomain(ID) && isSessionDomain(`${ID}@a`) && isSessionDomain(`${ID}/user`));
    assert.ok(!isSessionDomain('user:a:prefs') && !isSessionDomain('Prefs@prefs'));
  });
});

describe('userData in AnalysisTest', () => {
  test("two instances of one user share it, another user's does not see it", async () => {
    const alice = new AnalysisTest(Prefs, { user: { id: 'alice-unit' } });
    const again = new AnalysisTest(Prefs, { user: { id: 'alice-unit' } });
    const bob = new AnalysisTest(Prefs, { user: { id: 'bob-unit' } });
    try {
      await Promise.all([alice.ready, again.ready, bob.ready]);
      await alice.trigger('set_pref', 'dark');
      assert.deepEqual(userDataOf(alice), [{ theme: 'dark' }]);
      assert.deepEqual(userDataOf(again), [{ theme: 'dark' }]);
      assert.deepEqual(userDataOf(bob), []);
      // a later instance of the user starts with it
      assert.equal(again.analysisInstance.userData.get('theme'), 'dark');
    } finally {
      await Promise.all([alice.close(), again.close(), bob.close()]);
    }
  });

  test("without a user it is the instance's own, made on first use", async () => {
    const one = new AnalysisTest(Prefs);
    const two = new AnalysisTest(Prefs);
    try {
      await Promise.all([one.ready, two.ready]);
      await one.trigger('set_pref', 'light');
      assert.deepEqual(userDataOf(one), [{ theme: 'light' }]);
      assert.equal(two.analysisInstance.userData.get('theme'), undefined);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });
});

describe('userData touched before the stores exist', () => {
  /** A page that records the frames it gets. */
  function sink(frames: Array<[string, unknown]>): PageSink {
    return {
      emit(signal, message) {
        frames.push([signal, message]);
      },
      change(signal, change: Change) {
        frames.push([signal, { [change.key]: change.decode() }]);
      },
    };
  }
  /** The backend and domain a store was opened on. */
  function where(store: object): { backend: unknown; name: string } {
    return (store as { state: { backend: unknown; name: string } }).state;
  }

  test('read in a constructor or a field initialiser: a clear error, no store of the wrong kind', () => {
    class InConstructor extends Analysis {
      constructor() {
        super();
        void this.userData;
      }
    }
    class InField extends Analysis {
      theme = this.userData.get('theme');
    }
    class DataInConstructor extends Analysis {
      constructor() {
        super();
        void this.data;
      }
    }
    for (const [cls, name] of [
      [InConstructor, 'userData'],
      [InField, 'userData'],
      [DataInConstructor, 'data'],
    ] as const) {
      const backend = new MemoryBackend();
      const instance = new AnalysisInstance(sink([]));
      assert.throws(
        () => instance.create(cls, { id: ID, backend, user: { id: 'alice-ctor' } }),
        new RegExp(`this\\.${name} was read before the session opened the stores.*initDatastores`),
        cls.name,
      );
      backend.dispose();
    }
  });

  test('an initDatastores override that opens data on its own backend with dataDomain keeps it bound to the user', () => {
    const own = new MemoryBackend();
    class OwnBackend extends Analysis {
      override initDatastores(): void {
        super.initDatastores();
        this.data = new Datastore(this.dataDomain, { backend: own });
      }
    }
    for (const user of [{ id: 'alice@example.com' }, undefined]) {
      const backend = new MemoryBackend();
      const instance = new AnalysisInstance(sink([]));
      assert.equal(instance.create(OwnBackend, { id: ID, backend, user }), undefined);
      const analysis = instance.analysis!;
      const [data] = internals.stores(analysis);
      assert.equal(where(data).backend, own);
      assert.equal(where(data).name, sessionDataDomain(ID, user));
      assert.equal(analysis.dataDomain, user ? `${ID}@alice%40example.com` : ID);
      instance.dispose();
      backend.dispose();
    }
    own.dispose();
  });

  test('read in an initDatastores override, before or after super: the stores are the ones the session gives', async () => {
    class Before extends Analysis {
      override initDatastores(): void {
        void this.userData;
        super.initDatastores();
      }
    }
    class After extends Analysis {
      override initDatastores(): void {
        super.initDatastores();
        void this.userData;
      }
    }
    for (const cls of [Before, After]) {
      const backend = new MemoryBackend();
      const frames: Array<[string, unknown]> = [];
      const instance = new AnalysisInstance(sink(frames));
      const options = {
        id: ID,
        backend,
        classDomain: 'Prefs@prefs',
        user: { id: 'alice-init' },
        userDomain: 'user:alice-init:prefs',
      };
      assert.equal(instance.create(cls, options), undefined);
      const analysis = instance.analysis!;
      const [data, classData] = internals.stores(analysis);
      assert.equal(where(data).backend, backend, `${cls.name}: data on the given backend`);
      assert.equal(where(classData).backend, backend, `${cls.name}: classData on it`);
      assert.equal(where(classData).name, 'Prefs@prefs', `${cls.name}: classData's domain`);
      const userData = internals.userData(analysis)!;
      assert.equal(where(userData).backend, backend, `${cls.name}: userData on it`);
      assert.equal(where(userData).name, 'user:alice-init:prefs');
      assert.equal(instance.storeOptions, undefined, 'no options left set');
      await analysis.userData.set('theme', 'dark');
      assert.deepEqual(
        frames.filter(([signal]) => signal === 'user_data'),
        [['user_data', { theme: 'dark' }]],
        `${cls.name}: one frame per change`,
      );
      instance.dispose();
      backend.dispose();
    }
  });
});
