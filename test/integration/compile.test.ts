// Analyses compiled as they load (src/loader/compile-analysis.ts), served by
// a real server over real sockets: in the server's thread and in worker
// threads, which import the compiled module as they start.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WorkerKernel } from '../../src/kernel/worker/worker-kernel.ts';
import { loadApp } from '../../src/app/app.ts';
import { compiledFolder } from '../../src/loader/compile-analysis.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient, until, wsUrlOf } from '../helpers.ts';

const DIR = join(FIXTURES, 'compile');
const ROOT = new URL('../../', import.meta.url).pathname;

describe('compiled analyses in a server', () => {
  let server: DatabenchServer;
  const logger = createMemoryLogger();

  before(async () => {
    server = await createServer({ port: 0, analyses: DIR, logger });
  });

  after(async () => {
    await server.close();
  });

  for (const [name, extra] of [
    ['helper', {}],
    ['threaded', { isMainThread: false }],
  ] as const) {
    test(`${name}: the helper module and the data file next to the source are found`, async () => {
      assert.equal(server.app.entries.get(name)?.error, undefined);
      const { client } = await TestClient.connect(wsUrlOf(server, name));
      const where = await client.next('where');
      assert.deepEqual(where.load, {
        greeting: `hello ${name === 'helper' ? 'world' : 'threads'} from util.ts`,
        filename: join(DIR, name, 'analysis.ts'),
        dirname: join(DIR, name),
        ...extra,
      });
      client.close();
    });

    test(`${name}: an error thrown in the helper is located at the helper's line`, async () => {
      const { client } = await TestClient.connect(wsUrlOf(server, name));
      client.send('boom');
      const error = await client.waitFor((f) => f.signal === '__error', 'a __error frame');
      assert.deepEqual(error.load, {
        action: 'boom',
        where: 'action "boom"',
        message: 'Error: helper failed',
        location: 'helper/util.ts:6:9',
      });
      client.close();
    });
  }

  test('the worker threads import the compiled module; closing the server removes it', async () => {
    const folder = compiledFolder();
    assert.ok(folder !== undefined && existsSync(folder), 'the worker kernel keeps its module');
    // the in-process analysis was removed once imported; the threads' module stays
    assert.deepEqual(
      readdirSync(folder).map((f) => f.replace(/^\d+-/, '')),
      ['analysis.mjs'],
    );
    await server.close();
    assert.equal(compiledFolder(), undefined);
    assert.equal(existsSync(folder), false, 'no temp folder is left');
  });
});

describe('a worker analysis replaced by a reload', () => {
  // inside the package, so that `import 'databench-ts'` resolves to this checkout
  const dir = join(ROOT, 'test-artifacts', `compile-reload-${process.pid}`);
  const source = (word: string): string =>
    `import { Analysis } from 'databench-ts';\nexport class Reloaded extends Analysis {\n  word = '${word}';\n}\n`;

  before(async () => {
    await mkdir(join(dir, 'reloaded'), { recursive: true });
    await writeFile(join(dir, 'index.yaml'), 'analyses:\n  - name: reloaded\n    kernel: worker\n');
    await writeFile(join(dir, 'reloaded', 'analysis.ts'), source('one'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('its compiled module goes once its last thread has ended; the new one stays', async () => {
    const logger = createMemoryLogger();
    const first = await loadApp({ dir, packaged: false, cliArgs: [], logger });
    const old = first.entries.get('reloaded')?.kernel;
    assert.ok(old instanceof WorkerKernel, first.entries.get('reloaded')?.error);
    const folder = compiledFolder();
    assert.ok(folder !== undefined);
    assert.equal(readdirSync(folder).length, 1);

    await writeFile(join(dir, 'reloaded', 'analysis.ts'), source('two'));
    const second = await loadApp({ dir, packaged: false, cliArgs: [], logger, previous: first });
    const next = second.entries.get('reloaded')?.kernel;
    assert.ok(next instanceof WorkerKernel && next !== old, second.entries.get('reloaded')?.error);
    assert.equal(readdirSync(folder).length, 2, 'both generations have a module');

    old.retire(); // as the server does with a replaced kernel
    await until(() => readdirSync(folder).length === 1, "the old generation's module is removed");
    assert.equal(old.threads, 0);
    await next.dispose();
    assert.equal(existsSync(folder), false);
  });
});
