// Production defaults and what a deployment's log says: `--workers N` and a
// bind other than loopback start without file watching, type check or error
// details (each can be turned on), and say so in one log line; a WebSocket
// refused for its origin is logged with that origin and the flag that
// allows it. Real CLI processes, a real redis-server for --workers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import {
  databench,
  FIXTURES,
  printed,
  serving,
  TestClient,
  wsUrlOf,
  type CliRun,
} from '../helpers.ts';
import { redisSkip, startRedis, type RedisServer } from '../redis.ts';

const HARDENING = FIXTURES + 'hardening';
const SCALE = FIXTURES + 'scale';

async function stop(run: CliRun): Promise<void> {
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGTERM');
  await run.exited;
}

/** A page's `__error` for a handler that throws: its `location` is the error details. */
async function failureLocation(url: string): Promise<unknown> {
  const { client } = await TestClient.connect(wsUrlOf({ url }, 'echo'));
  try {
    // `list.length` of null: a TypeError in echo/analysis.ts
    client.send('count', [null]);
    const frame = await client.next('__error', 10_000);
    return (frame.load as { location: unknown }).location;
  } finally {
    client.close();
  }
}

describe('production defaults', () => {
  test('a bind other than loopback: no watching, no type check, no error details; one log line says so and how to turn them on', async () => {
    const run = databench([
      '--host',
      '0.0.0.0',
      '--no-auth',
      '--port',
      '0',
      '--analyses',
      HARDENING,
    ]);
    try {
      const url = (await serving(run)).replace('0.0.0.0', '127.0.0.1');
      const [line] = await printed(run, 'stderr', /production defaults[^\n]*/);
      assert.equal(
        line,
        'production defaults (bound to 0.0.0.0): no file watching, no type check, no error details on pages; turn them on with --watch, --typecheck warn, --error-details',
      );
      assert.equal(await failureLocation(url), null, 'no file:line on the page');
    } finally {
      await stop(run);
    }
  });

  test('each can be turned on: --watch, --error-details (and the line names only what stays off)', async () => {
    const run = databench([
      '--host',
      '0.0.0.0',
      '--no-auth',
      '--port',
      '0',
      '--analyses',
      HARDENING,
      '--watch',
      '--error-details',
      '--typecheck',
      'off',
    ]);
    try {
      const url = (await serving(run)).replace('0.0.0.0', '127.0.0.1');
      const [line] = await printed(run, 'stderr', /production defaults[^\n]*/);
      assert.equal(
        line,
        'production defaults (bound to 0.0.0.0): no type check; turn them on with --typecheck warn',
      );
      assert.match(String(await failureLocation(url)), /^echo\/analysis\.ts:\d+:\d+$/);
    } finally {
      await stop(run);
    }
  });

  test('a loopback bind keeps the author defaults: no production line, error details on', async () => {
    const run = databench(['--port', '0', '--analyses', HARDENING, '--typecheck', 'off']);
    try {
      const url = await serving(run);
      assert.match(String(await failureLocation(url)), /^echo\/analysis\.ts:\d+:\d+$/);
      assert.doesNotMatch(run.stderr, /production defaults/);
    } finally {
      await stop(run);
    }
  });

  describe('--workers 2', { skip: redisSkip }, () => {
    let redis: RedisServer;
    before(async () => {
      redis = await startRedis();
    });
    after(() => redis?.stop());

    test('production defaults in every worker, on a loopback bind too', async () => {
      const run = databench([
        '--workers',
        '2',
        '--port',
        '0',
        '--analyses',
        SCALE,
        '--datastore',
        redis.url,
      ]);
      try {
        await serving(run);
        await printed(run, 'stderr', /(production defaults \(2 workers\)[^\n]*\n[^]*){2}/);
        assert.match(
          run.stderr,
          /production defaults \(2 workers\): no file watching, no type check, no error details on pages; turn them on with --watch, --typecheck warn, --error-details/,
        );
      } finally {
        await stop(run);
      }
      assert.equal(await run.exited, 0);
    });
  });
});

describe('a refused WebSocket origin', () => {
  let server: DatabenchServer;
  const logger = createMemoryLogger();
  before(async () => {
    server = await createServer({ port: 0, analyses: HARDENING, logger });
  });
  after(() => server.close());

  test('is logged with the origin and the flag that allows it', async () => {
    await assert.rejects(
      TestClient.open(wsUrlOf(server, 'echo'), { headers: { Origin: 'http://evil.example' } }),
      /upgrade refused with HTTP 403/,
    );
    const line = logger.lines.find(([, text]) => text.includes('http://evil.example'));
    assert.ok(line, 'a log line names the origin');
    assert.equal(line[0], 'warn');
    assert.match(
      line[1],
      /^WebSocket from origin "http:\/\/evil\.example" refused for \/echo\/ws: it is not this server's own \(Host 127\.0\.0\.1:\d+\); if pages there may use this server, start it with --allow-origin http:\/\/evil\.example \(allowOrigins\)$/,
    );
  });

  test('an origin with control characters is logged escaped, on one line', async () => {
    await assert.rejects(
      TestClient.open(wsUrlOf(server, 'echo'), {
        headers: { Origin: 'http://a.example\tFAKE' },
      }),
      /upgrade refused with HTTP 403/,
    );
    const line = logger.lines.find(([, text]) => text.includes('a.example'));
    assert.ok(line);
    assert.match(line[1], /origin "http:\/\/a\.example\\tFAKE"/);
  });
});
