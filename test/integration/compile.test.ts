// Analyses compiled as they load (src/server/compile-analysis.ts), served by
// a real server over real sockets: in the server's thread and in worker
// threads, which import the compiled module as they start.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compiledFolder } from '../../src/server/compile-analysis.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/server/logger.ts';
import { FIXTURES, TestClient, wsUrlOf } from '../helpers.ts';

const DIR = join(FIXTURES, 'compile');

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
