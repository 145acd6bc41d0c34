// What an idle page costs: an analysis made by the server holds no proxy,
// no Map of its own for an empty `data` and draws one id, and what it skips
// must still behave as before once the user's code asks for it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Analysis, Datastore, MemoryBackend, onAction } from 'databench-ts';
import type { Change } from '../datastore/change.js';
import { bareStore } from '../datastore/datastore.js';
import { EMPTY_DOMAIN } from '../datastore/backends/memory.js';
import { internals } from './analysis.js';
import { AnalysisInstance, type PageSink } from './instance.js';

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

/** An analysis made as the server makes one (the kernel's session is such an instance). */
async function served<A extends Analysis>(
  cls: new () => A,
  backend = new MemoryBackend(),
  id: string = crypto.randomUUID(),
) {
  const sink = recorder();
  const instance = new AnalysisInstance<A>(sink);
  await instance.create(cls, { id, backend });
  return { analysis: instance.analysis!, instance, sink, backend, id };
}

const storesOf = (analysis: Analysis) => internals.stores(analysis);

describe('an analysis the server makes', () => {
  class IdleOne extends Analysis {
    on_set(key: string, value: unknown) {
      return this.data.set(key, value);
    }
  }

  test('has bare stores until its code reads data or classData; then one proxy each, kept', async () => {
    const { analysis, instance } = await served(IdleOne);
    const [data, classData] = storesOf(analysis);
    assert.equal(bareStore(data), data, 'data is not a proxy before it is read');
    assert.equal(bareStore(classData), classData);
    const view = analysis.data;
    assert.notEqual(view, data, 'reading data makes its item-access proxy');
    assert.equal(bareStore(view), data);
    assert.equal(analysis.data, view, 'the same proxy every time');
    instance.dispose();
  });

  test('item access works on the proxy made late, and a bad assignment is reported', async () => {
    const { analysis, instance, sink } = await served(IdleOne);
    (analysis.data as unknown as Record<string, unknown>)['k'] = 3;
    assert.equal(analysis.data.get('k'), 3);
    assert.deepEqual(sink.frames.at(-1), ['data', { k: 3 }]);
    assert.throws(() => {
      (analysis.data as unknown as Record<string, unknown>)['f'] = () => 1;
    }, /function/);
    instance.dispose();
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
    const { analysis, instance, sink } = await served(OwnStore);
    assert.notEqual(
      bareStore(storesOf(analysis)[0]),
      storesOf(analysis)[0],
      'the store is a proxy',
    );
    await analysis.data.set('x', 1);
    assert.deepEqual(sink.frames.at(-1), ['data', { x: 1 }]);
    instance.dispose();
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
    const resumed = await served(IdleOne, backend, id);
    assert.equal(resumed.analysis.data.get('kept'), 'yes');
    resumed.instance.dispose();
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

describe('construction with a given id', () => {
  class Named extends Analysis {
    inner: Analysis | undefined;
  }
  class Outer extends Analysis {
    inner = new Named();
  }

  test('the instance takes the given id, others made in its constructor draw their own', () => {
    const outer = internals.construct(() => new Outer(), 'given-id');
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
    assert.throws(() => internals.construct(() => new Throws(), 'lost-id'), /no/);
    assert.notEqual(new Named().id, 'lost-id');
  });
});

describe('lifecycle actions of a new session', () => {
  test('base handlers: cliArgs and requestArgs are set without the action machinery', async () => {
    class Plain extends Analysis {}
    const { analysis, instance, sink } = await served(Plain);
    assert.equal(instance.lifecycle(['--x'], { a: ['1'] }), undefined, 'nothing to wait for');
    assert.deepEqual(analysis.cliArgs, ['--x']);
    assert.deepEqual(analysis.requestArgs, { a: ['1'] });
    assert.deepEqual(sink.frames, []);
    instance.dispose();
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
    const busy = await served(Busy);
    await busy.instance.lifecycle(['-v'], {});
    assert.deepEqual(busy.analysis.cliArgs, ['-v']);
    const wild = await served(Wild);
    await wild.instance.lifecycle([], {});
    assert.deepEqual(seen, ['args -v', 'connected', '* connect', '* args', '* connected']);
    busy.instance.dispose();
    wild.instance.dispose();
  });
});
