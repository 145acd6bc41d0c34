// Incoming work is bounded: the frame limit and the nesting limit,
// against a real server and real sockets.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, TestClient } from '../helpers.ts';

const MiB = 2 ** 20;

/** An action frame of exactly `bytes` bytes whose load is one list of `count` 1s. */
function flatFrame(bytes: number): { text: string; count: number } {
  const head = '{"signal":"count","load":[[';
  const tail = '1]]}';
  const ones = Math.floor((bytes - head.length - tail.length) / 2);
  const text = head + '1,'.repeat(ones) + tail;
  return {
    text: text.length === bytes ? text : head + '1,'.repeat(ones) + ' ' + tail,
    count: ones + 1,
  };
}

describe('incoming frames', () => {
  let server: DatabenchServer;
  let big: DatabenchServer;
  let wsUrl: string;
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: FIXTURES + 'hardening',
      logger: createMemoryLogger(),
    });
    big = await createServer({
      port: 0,
      analyses: FIXTURES + 'hardening',
      logger: createMemoryLogger(),
      maxFrameBytes: 16 * MiB,
    });
    wsUrl = server.url.replace('http', 'ws') + '/echo/ws';
  });
  after(() => Promise.all([server.close(), big.close()]));

  test('the default limit is 1 MiB: a frame of 1 MiB is served, one byte more closes with 1009', async () => {
    const { client } = await TestClient.connect(wsUrl);
    const atLimit = flatFrame(MiB);
    assert.equal(Buffer.byteLength(atLimit.text), MiB);
    client.ws.send(atLimit.text);
    assert.equal((await client.next('count')).load, atLimit.count);
    const over = flatFrame(MiB + 1);
    assert.equal(Buffer.byteLength(over.text), MiB + 1);
    client.ws.send(over.text);
    assert.equal((await client.closed()).code, 1009);
  });

  test('maxFrameBytes raises the limit', async () => {
    const { client } = await TestClient.connect(big.url.replace('http', 'ws') + '/echo/ws');
    const frame = flatFrame(2 * MiB);
    client.ws.send(frame.text);
    assert.equal((await client.next('count')).load, frame.count);
    client.close();
  });

  test('a bad maxFrameBytes is refused with the option named', async () => {
    await assert.rejects(
      createServer({ port: 0, analyses: FIXTURES + 'hardening', maxFrameBytes: -1 }),
      /option maxFrameBytes must be a positive integer, got -1/,
    );
  });

  test('nesting deeper than 64 gets an error frame, and the socket keeps working', async () => {
    const { client } = await TestClient.connect(wsUrl);
    // the frame's object is depth 1, the load list 2: 62 more lists make 64
    client.sendJson({ signal: 'echo', load: [JSON.parse('['.repeat(62) + ']'.repeat(62))] });
    await client.next('echo');
    client.ws.send('{"signal":"echo","load":[' + '['.repeat(63) + ']'.repeat(63) + ']}');
    const error = await client.next('error');
    assert.match(String(error.load), /nest arrays and objects 64 deep at most/);
    // brackets inside strings are text, not nesting
    client.sendJson({ signal: 'echo', load: ['['.repeat(1000) + '\\"[{'] });
    assert.equal((await client.next('echo')).load, '['.repeat(1000) + '\\"[{');
    client.close();
  });

  test('the 15.6 MB frame of nested brackets is refused before it is parsed', async () => {
    const { client } = await TestClient.connect(big.url.replace('http', 'ws') + '/echo/ws');
    const other = await TestClient.connect(big.url.replace('http', 'ws') + '/echo/ws');
    client.ws.send('['.repeat(7.8e6) + ']'.repeat(7.8e6));
    const error = await client.next('error', 20_000);
    assert.match(String(error.load), /64 deep at most/);
    other.client.send('echo', ['still here']);
    assert.equal((await other.client.next('echo')).load, 'still here');
    client.close();
    other.client.close();
  });
});
