// File uploads over real sockets (docs/reference/protocol.md, `__upload`):
// the limits per file and per page refuse before anything is held, a
// cancelled upload and one whose socket closed mid-way leave nothing on the
// server and never reach a handler, chunks stay within the frame limit, and
// a file arrives whole through the in-process, worker and Python kernels.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { Connection, type ConnectionOptions } from '../../src/client/connection.ts';
import { isDatabenchError } from '../../src/protocol/errors.ts';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import type { Session } from '../../src/server/session.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient, until, within, wsUrlOf, type Frame } from '../helpers.ts';

const MiB = 1 << 20;

/** A binary chunk: the upload's id (4 bytes, big-endian), then `bytes`. */
function chunk(id: number, bytes: Uint8Array): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(id);
  return Buffer.concat([header, bytes]);
}

function start(id: number, files: Array<{ name: string; size: number }>, action = 'load_csv') {
  return {
    signal: '__upload',
    load: {
      op: 'start',
      id,
      action,
      files: files.map((f) => ({ ...f, type: 'application/octet-stream' })),
      multiple: files.length > 1,
    },
  };
}

function uploadFrame(op: string, id: number): (f: Frame) => boolean {
  return (f) =>
    f.signal === '__upload' &&
    (f.load as { op?: string; id?: number } | undefined)?.op === op &&
    (f.load as { id?: number }).id === id;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('uploads over real sockets', () => {
  let server: DatabenchServer;
  const logger = createMemoryLogger();

  before(async () => {
    server = await createServer({
      port: 0,
      analyses: FIXTURES + 'upload',
      logger,
      maxUploadBytes: 4 * MiB,
      maxUploadPageBytes: 6 * MiB,
      // small frames: every chunk must stay within them
      maxFrameBytes: 64 * 1024,
    });
  });

  after(async () => {
    await server.close();
  });

  /** The server's session of the page with analysis id `id`. */
  function sessionOf(id: string): Session {
    const session = [...server.sessions].find((s) => s.id === id);
    assert.ok(session, 'the page has a session');
    return session;
  }

  let token = 0;
  /**
   * How many uploads the analysis class has received (its classData): the
   * last `class_data` frame once an action sent after everything has been answered.
   */
  async function received(client: TestClient): Promise<number> {
    const mark = `mark ${++token}`;
    client.send('column', mark);
    await client.waitFor(
      (f) => f.signal === 'data' && (f.load as { column?: string }).column === mark,
      'the answer to an action sent after everything else',
    );
    const last = client.frames.filter((f) => f.signal === 'class_data').at(-1)?.load as
      { received?: number } | undefined;
    return last?.received ?? 0;
  }

  test('a file larger than the per-file limit is refused at its start, before any byte is held', async () => {
    const { client, id } = await TestClient.connect(wsUrlOf(server, 'upload'));
    client.sendJson(start(7, [{ name: 'big.csv', size: 4 * MiB + 1 }]));
    const error = await client.waitFor(uploadFrame('error', 7), 'the refusal');
    assert.equal(
      (error.load as { message: string }).message,
      '"big.csv" is 4.2 MB; this server takes files of at most 4 MiB (4.2 MB): the server\'s --max-upload-mb raises it',
    );
    assert.equal(sessionOf(id).uploadBytes, 0);
    assert.equal(sessionOf(id).openUploads, 0);
    // its chunks, sent anyway, are dropped; the socket stays open
    client.ws.send(chunk(7, new Uint8Array(100)));
    client.send('column', 'still here');
    await client.waitFor(
      (f) => f.signal === 'data' && (f.load as { column?: string }).column === 'still here',
      'an action after the refused upload',
    );
    client.close();
  });

  test('uploads in flight together past the per-page limit: the next is refused until one ends', async () => {
    const { client, id } = await TestClient.connect(wsUrlOf(server, 'upload'));
    client.sendJson(start(1, [{ name: 'a.bin', size: 4 * MiB }]));
    await client.waitFor(uploadFrame('ready', 1), 'the first ready');
    client.sendJson(start(2, [{ name: 'b.bin', size: 3 * MiB }]));
    const error = await client.waitFor(uploadFrame('error', 2), 'the second refused');
    assert.equal(
      (error.load as { message: string }).message,
      '"b.bin" (3.1 MB) would take this page\'s uploads to 7.3 MB; a page may upload at most 6 MiB (6.3 MB) at once: wait for its other uploads to finish, or the server\'s --max-upload-mb raises it',
    );
    assert.equal(sessionOf(id).uploadBytes, 4 * MiB, 'only the first is held');
    // a small one still fits beside it
    client.sendJson(start(3, [{ name: 'c.bin', size: 2 * MiB }]));
    await client.waitFor(uploadFrame('ready', 3), 'a third that fits');
    assert.equal(sessionOf(id).uploadBytes, 6 * MiB);
    client.sendJson({ signal: '__upload', load: { op: 'cancel', id: 1 } });
    client.sendJson(start(4, [{ name: 'b.bin', size: 3 * MiB }]));
    await client.waitFor(uploadFrame('ready', 4), 'the second, once the first was cancelled');
    client.close();
  });

  test('a cancelled upload leaves nothing and never reaches its handler', async () => {
    const { client, id } = await TestClient.connect(wsUrlOf(server, 'upload'));
    const before = await received(client);
    client.sendJson(start(9, [{ name: 'half.bin', size: 200_000 }]));
    const ready = await client.waitFor(uploadFrame('ready', 9), 'ready');
    const chunkBytes = (ready.load as { chunk_bytes: number }).chunk_bytes;
    assert.ok(chunkBytes + 4 <= 64 * 1024, `a chunk's frame fits in maxFrameBytes (${chunkBytes})`);
    client.ws.send(chunk(9, randomBytes(chunkBytes)));
    await client.waitFor(
      (f) =>
        uploadFrame('progress', 9)(f) && (f.load as { received: number }).received === chunkBytes,
      'the first chunk acknowledged',
    );
    assert.equal(sessionOf(id).uploadBytes, 200_000);
    client.sendJson({ signal: '__upload', load: { op: 'cancel', id: 9 } });
    // the rest of its chunks, already on their way, are dropped without a word
    for (let sent = chunkBytes; sent < 200_000; sent += chunkBytes) {
      client.ws.send(chunk(9, randomBytes(Math.min(chunkBytes, 200_000 - sent))));
    }
    assert.equal(await received(client), before, 'no handler ran');
    assert.equal(sessionOf(id).uploadBytes, 0);
    assert.equal(sessionOf(id).openUploads, 0);
    assert.equal(
      client.frames.filter(
        (f) => f.signal === '__upload' && (f.load as { op: string }).op === 'done',
      ).length,
      0,
    );
    client.close();
  });

  test('a socket closed mid-upload: the server drops the upload, no handler runs', async () => {
    const watcher = await TestClient.connect(wsUrlOf(server, 'upload'));
    const before = await received(watcher.client);
    const { client, id } = await TestClient.connect(wsUrlOf(server, 'upload'));
    const session = sessionOf(id);
    client.sendJson(start(5, [{ name: 'lost.bin', size: 300_000 }]));
    await client.waitFor(uploadFrame('ready', 5), 'ready');
    client.ws.send(chunk(5, randomBytes(50_000)));
    await client.waitFor(uploadFrame('progress', 5), 'a chunk acknowledged');
    assert.equal(session.uploadBytes, 300_000);
    client.ws.terminate();
    await until(() => !server.sessions.has(session), 'the session has ended');
    assert.equal(session.uploadBytes, 0, 'its buffers are released');
    assert.equal(session.openUploads, 0);
    assert.equal(await received(watcher.client), before, 'no handler ran');
    watcher.client.close();
  });

  test('more bytes than announced fail the upload; a binary frame with no upload started still closes (1003)', async () => {
    const { client, id } = await TestClient.connect(wsUrlOf(server, 'upload'));
    client.sendJson(start(3, [{ name: 'short.bin', size: 10 }]));
    await client.waitFor(uploadFrame('ready', 3), 'ready');
    client.ws.send(chunk(3, new Uint8Array(11)));
    const error = await client.waitFor(uploadFrame('error', 3), 'the failure');
    assert.match((error.load as { message: string }).message, /more bytes than its files' sizes/);
    assert.equal(sessionOf(id).uploadBytes, 0);
    client.close();

    const other = await TestClient.connect(wsUrlOf(server, 'upload'));
    other.client.ws.send(Buffer.from([0, 0, 0, 1, 42]));
    assert.equal((await other.client.closed()).code, 1003);
  });

  test('a malformed __upload gets an error frame and the socket stays open', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'upload'));
    client.send('__upload', { op: 'start', id: 1, action: 'load_csv', files: [] });
    const error = await client.next('error');
    assert.equal(error.load, 'ProtocolError: "__upload" start needs "files": a non-empty list');
    client.send('__upload', {
      op: 'start',
      id: 1,
      action: '__connect',
      files: [{ name: 'x', size: 1 }],
    });
    assert.match(String((await client.next('error')).load), /needs "action"/);
    client.close();
  });

  for (const name of ['upload', 'upload_worker', 'upload_py']) {
    test(`${name}: Connection.upload sends a file in chunks within the frame limit; it arrives whole`, async () => {
      const d = new Connection(wsUrlOf(server, name), '', null, inNode);
      await within(new Promise((resolve) => d.connect(resolve)), 10_000, 'the connection');
      const bytes = randomBytes(1_500_000);
      const progress: number[] = [];
      const hash = d.once({ data: 'sha256' }, { timeoutMs: 15_000 });
      const ends: string[] = [];
      d.onProcess(77, (status) => ends.push(status));
      const upload = d.upload('load_csv', new File([bytes], 'data.bin'), {
        processId: 77,
        onProgress: (receivedBytes) => progress.push(receivedBytes),
      });
      assert.equal(upload.total, bytes.length);
      await within(upload.done, 15_000, 'the upload');
      assert.equal(await hash, sha256(bytes));
      assert.ok(progress.length > 10, `progress came chunk by chunk (${progress.length})`);
      assert.equal(progress.at(-1), bytes.length);
      assert.deepEqual(
        progress,
        [...progress].sort((a, b) => a - b),
        'progress only grows',
      );
      await until(() => ends.includes('end'), 'the action ran with its __process frames');
      assert.deepEqual(ends, ['start', 'end']);
      d.disconnect();
    });
  }

  test('Connection.upload: a refused file rejects with code UPLOAD and the reason; cancel rejects with CANCELLED', async () => {
    const d = new Connection(wsUrlOf(server, 'upload'), '', null, inNode);
    await within(new Promise((resolve) => d.connect(resolve)), 10_000, 'the connection');
    const refused = d.upload('load_csv', new File([new Uint8Array(5 * MiB)], 'big.bin'));
    await assert.rejects(
      refused.done,
      (error: unknown) =>
        isDatabenchError(error, 'UPLOAD') && /at most 4 MiB/.test((error as Error).message),
    );
    const cancelled = d.upload('load_csv', new File([new Uint8Array(3 * MiB)], 'c.bin'));
    cancelled.cancel();
    await assert.rejects(cancelled.done, (error: unknown) => isDatabenchError(error, 'CANCELLED'));
    const session = [...server.sessions].find((s) => s.id === d.analysisId);
    await until(() => session?.uploadBytes === 0, 'the server dropped the cancelled upload');
    d.disconnect();
  });

  test('Connection.upload: a lost connection fails the upload with code UPLOAD', async () => {
    const d = new Connection(wsUrlOf(server, 'upload'), '', null, {
      ...inNode,
      reconnectInitialDelayMs: 60_000,
      reconnectMaxDelayMs: 60_000,
    });
    await within(new Promise((resolve) => d.connect(resolve)), 10_000, 'the connection');
    const upload = d.upload('load_csv', new File([new Uint8Array(3 * MiB)], 'lost.bin'));
    const session = [...server.sessions].find((s) => s.id === d.analysisId);
    await until(() => (session?.uploadBytes ?? 0) > 0, 'the upload started');
    session?.ws.terminate();
    await assert.rejects(
      upload.done,
      (error: unknown) =>
        isDatabenchError(error, 'UPLOAD') && /connection was lost/.test((error as Error).message),
    );
    d.disconnect();
  });
});

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
/** The client in Node, on `ws` (what `databench-ts/client` sets up under Node). */
const inNode: ConnectionOptions = {
  WebSocket: WebSocket,
  console: quiet,
};
