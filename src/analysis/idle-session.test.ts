// What an idle page costs: an analysis made by the server holds no proxy,
// no Map of its own for an empty `data` and draws one id, and what it skips
// must still behave as before once the user's code asks for it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Analysis, Datastore, MemoryBackend, onAction } from 'databench-ts';
import type { Change } from '../datastore/change.js';
import { bareStore } from '../datastore/datastore.js';
import { EMPTY_DOMAIN } from '../datastore/backends/memory.js';
import { constructWithId, storesOf, type PageSink } from './analysis.js';
import { Meta } from './meta.js';

/** A sink that keeps what the analysis sends to its page. */
function recorder(): PageSink & { frames: Array<[string, unknown]> } {
  const frames: Array<[string, unknown]> = [];
  return {
    frames,
    emit(signal: string, message: unknown) {
      frames.push([signal, message]);
    },
    change(signal: 'data' | 'class_data', change: Change) {
      frames.push([signal, { [change.key]: change.decode() }]);
    },
  };
}

async function served<A extends Analysis>(cls: new () => A, backend = new MemoryBackend()) {
  const sink = recorder();
  const meta = new Meta(cls.name, cls, '/nowhere/analysis.ts');
  const id = crypto.randomUUID();
  const analysis = (await meta.createAnalysis({ id, sink, backend })) as A;
  return { analysis, sink, backend, id };
}

describe('an analysis the server makes', () => {
  class IdleOne extends Analysis {
    on_set(key: string, value: unknown) {
      return this.data.set(key, value);
    }
  }

  test('has bare stores until its code reads data or classData; then one proxy each, kept', async () => {
    const { analysis } = await served(IdleOne);
    const [data, classData] = storesOf(analysis);
    assert.equal(bareStore(data), data, 'data is not a proxy before it is read');
    assert.equal(bareStore(classData), classData);
    const view = analysis.data;
    assert.notEqual(view, data, 'reading data makes its item-access proxy');
    assert.equal(bareStore(view), data);
    assert.equal(analysis.data, view, 'the same proxy every time');
    analysis.dispose();
  });

  test('item access works on the proxy made late, and a bad assignment is reported', async () => {
    const { analysis, sink } = await served(IdleOne);
    (analysis.data as unknown as Record<string, unknown>)['k'] = 3;
    assert.equal(analysis.data.get('k'), 3);
    assert.deepEqual(sink.frames.at(-1), ['data', { k: 3 }]);
    assert.throws(() => {
      (analysis.data as unknown as Record<string, unknown>)['f'] = () => 1;
    }, /function/);
    analysis.dispose();
  });

  test('an initDatastores override that assigns a proxy store still reaches the page', async () => {
    class OwnStore extends Analysis {
      override initDatastores(): void {
        super.initDatastores();
        // a Datastore made by the user is a proxy from the start
        const made = this.data;
        this.data = new Datastore(this.id, { backend: made.backend });
        made.close();
      }
    }
    const { analysis, sink } = await served(OwnStore);
    assert.notEqual(
      bareStore(storesOf(analysis)[0]),
      storesOf(analysis)[0],
      'the store is a proxy',
    );
    await analysis.data.set('x', 1);
    assert.deepEqual(sink.frames.at(-1), ['data', { x: 1 }]);
    analysis.dispose();
  });

  test('its empty data shares one Map; the first write gives the domain its own, kept on close', async () => {
    const backend = new MemoryBackend();
    const { analysis, id } = await served(IdleOne, backend);
    assert.equal(backend.attach(id), EMPTY_DOMAIN, 'an empty domain has no Map of its own');
    await analysis.data.set('kept', 'yes');
    const own = backend.attach(id);
    assert.notEqual(own, EMPTY_DOMAIN);
    assert.equal(own.get('kept'), '"yes"');
    // the page leaves with retention (as the server closes it): the data stays to resume
    storesOf(analysis)[0]._closeWith(false, 60_000);
    storesOf(analysis)[1].close();
    assert.equal(backend.has(id), true);
    const resumed = await new Meta('IdleOne', IdleOne, '/nowhere/analysis.ts').createAnalysis({
      id,
      sink: recorder(),
      backend,
    });
    assert.equal(resumed.data.get('kept'), 'yes');
    resumed.dispose();
    backend.dispose();
  });

  test('the shared empty Map refuses writes', () => {
    assert.throws(
      () => (EMPTY_DOMAIN as Map<string, string>).set('k', 'v'),
      /materialize/,
      'a write to the sentinel would leak into every empty domain',
    );
  });
});

describe('constructWithId', () => {
  class Named extends Analysis {
    inner: Analysis | undefined;
  }
  class Outer extends Analysis {
    inner = new Named();
  }

  test('the instance takes the given id, others made in its constructor draw their own', () => {
    const outer = constructWithId(() => new Outer(), 'given-id');
    assert.equal(outer.id, 'given-id');
    assert.notEqual(outer.inner.id, 'given-id');
    assert.match(outer.inner.id, /^[0-9a-f-]{36}$/);
    assert.match(new Named().id, /^[0-9a-f-]{36}$/, 'the preset does not outlive the call');
  });

  test('a constructor that throws does not leave the id for the next instance', () => {
    class Throws extends Analysis {
      constructor() {
        throw new Error('no');
        super();
      }
    }
    assert.throws(() => constructWithId(() => new Throws(), 'lost-id'), /no/);
    assert.notEqual(new Named().id, 'lost-id');
  });
});

describe('lifecycle actions of a new session', () => {
  test('base handlers: cliArgs and requestArgs are set without the action machinery', async () => {
    class Plain extends Analysis {}
    const { analysis } = await served(Plain);
    await Meta.runLifecycle(analysis, 'connect');
    await Meta.runLifecycle(analysis, 'args', { cli_args: ['--x'], request_args: { a: ['1'] } });
    await Meta.runLifecycle(analysis, 'connected');
    assert.deepEqual(analysis.cliArgs, ['--x']);
    assert.deepEqual(analysis.requestArgs, { a: ['1'] });
    analysis.dispose();
  });

  test('overridden, decorated and * handlers still run, with their arguments', async () => {
    const seen: string[] = [];
    class Busy extends Analysis {
      override on_connected() {
        seen.push('connected');
      }
      override on_args(cli_args: string[] = [], request_args: Record<string, string[]> = {}) {
        super.on_args(cli_args, request_args);
        seen.push(`args ${cli_args.join(' ')}`);
      }
    }
    class Wild extends Analysis {
      @onAction('*')
      every(action: string) {
        seen.push(`* ${action}`);
      }
    }
    const { analysis: busy } = await served(Busy);
    await Meta.runLifecycle(busy, 'connect');
    await Meta.runLifecycle(busy, 'args', { cli_args: ['-v'], request_args: {} });
    await Meta.runLifecycle(busy, 'connected');
    const { analysis: wild } = await served(Wild);
    await Meta.runLifecycle(wild, 'connect');
    assert.deepEqual(seen, ['args -v', 'connected', '* connect']);
    busy.dispose();
    wild.dispose();
  });
});
