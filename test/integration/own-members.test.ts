// An analysis whose own methods or fields are named like the framework's
// wiring (send, dispose, cancel, reportError, ...) is served as any other,
// in the server's thread and in a worker thread: its actions run, its data
// reaches the page, its failures are reported, closing the page releases
// it, and the framework never calls those members.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient, until, wsUrlOf } from '../helpers.ts';

interface Report {
  data: Record<string, unknown>;
  calls: string[];
  disconnected: string[];
}

describe('own members named like the wiring', () => {
  let server: DatabenchServer;
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: FIXTURES + 'own-members',
      logger: createMemoryLogger(),
    });
  });
  after(() => server.close());

  for (const name of ['methods', 'fields', 'methods_worker', 'fields_worker']) {
    test(`${name}: actions run, data reaches the page, errors are reported, close releases`, async () => {
      const { client, id } = await TestClient.connect(wsUrlOf(server, name));
      client.send('set', { key: 'x', value: 1, __process_id: 1 });
      assert.deepEqual((await client.next('__process')).load, { id: 1, status: 'start' });
      assert.deepEqual((await client.next('data')).load, { x: 1 });
      assert.deepEqual((await client.next('__process')).load, { id: 1, status: 'end' });

      client.send('fail');
      assert.equal((await client.next('error')).load, 'action "fail" failed: Error: own failure');
      const panel = (await client.next('__error')).load as Record<string, unknown>;
      assert.equal(panel['action'], 'fail');
      assert.equal(panel['message'], 'Error: own failure');
      client.send('fail_in_timer');
      assert.equal((await client.next('error')).load, 'timer failed: Error: timer failure');

      if (name.startsWith('fields')) {
        client.send('fields');
        assert.deepEqual(
          (await client.next('fields')).load,
          ['mine', 1, null, false, 'mine', { mine: true }, 'mine', 2],
          'the fields are as the analysis set them',
        );
      }

      client.close();
      await until(() => server.sessions.size === 0, 'the session is released');
      // the framework's dispose ran: the data it released is gone, so a resume finds none
      const again = await TestClient.connect(wsUrlOf(server, name), { id });
      again.client.send('report');
      const report = (await again.client.next('report')).load as Report;
      assert.deepEqual(report.data, {});
      assert.ok(report.disconnected.includes(id), 'disconnected ran');
      assert.deepEqual(report.calls, [], 'the framework called none of the own members');
      again.client.close();
      await until(() => server.sessions.size === 0, 'the second session is released');
    });
  }
});
