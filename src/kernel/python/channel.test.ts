// The readers of a kernel process's output, fed in chunks cut anywhere: a
// batch's line and bytes, bounds that end the channel, stdout lines kept to
// a bound.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChannelReader, TextLineReader } from './channel.ts';

type Message = { line: string; n: number };

function channel(maxLine = 1000, maxBytes = 1000) {
  const got: Array<[string, string]> = [];
  const errors: string[] = [];
  const reader = new ChannelReader<Message>(
    maxLine,
    maxBytes,
    (line) => {
      const n = Number(/"n":(\d+)/.exec(line)?.[1] ?? 0);
      if (line.startsWith('bad')) throw new Error(`not a message: ${line}`);
      return [{ line, n }, n];
    },
    (message, bytes) => got.push([message.line, bytes.toString()]),
    (message) => errors.push(message),
  );
  return { reader, got, errors };
}

/** `text` in chunks of `size` bytes. */
function chunks(text: string, size: number): Buffer[] {
  const bytes = Buffer.from(text);
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

describe('ChannelReader', () => {
  const stream = '{"t":"ready"}\n{"t":"batch","n":5}\nhélo{"t":"batch","n":0}\n\n{"t":"x"}\n';

  test('lines, and a batch line with the bytes after it, whatever the chunks', () => {
    for (const size of [1, 2, 3, 7, 64]) {
      const { reader, got, errors } = channel();
      for (const chunk of chunks(stream, size)) reader.push(chunk);
      reader.end();
      assert.deepEqual(errors, []);
      assert.deepEqual(got, [
        ['{"t":"ready"}', ''],
        ['{"t":"batch","n":5}', 'hélo'],
        ['{"t":"batch","n":0}', ''],
        ['{"t":"x"}', ''],
      ]);
    }
  });

  test('a line past its bound, a count past its bound, a line it cannot parse: one error, then nothing', () => {
    const long = channel(10);
    long.reader.push(Buffer.from('{"t":"ready"}\n'));
    long.reader.push(Buffer.from('{"t":"read'));
    long.reader.push(Buffer.from('y"}\n{"t":"x"}\n'));
    assert.deepEqual(long.errors, ['it sent a line of more than 10 bytes']);
    assert.deepEqual(long.got, []);

    const big = channel(1000, 4);
    big.reader.push(Buffer.from('{"t":"batch","n":5}\nhello{"t":"x"}\n'));
    assert.deepEqual(big.errors, ['it sent a batch of 5 bytes (at most 4)']);
    assert.deepEqual(big.got, []);

    const bad = channel();
    bad.reader.push(Buffer.from('bad line\n{"t":"x"}\n'));
    assert.deepEqual(bad.errors, ['not a message: bad line']);
    assert.deepEqual(bad.got, []);
  });

  test('a batch cut short by the end of the stream is an error', () => {
    const { reader, errors } = channel();
    reader.push(Buffer.from('{"t":"batch","n":5}\nhel'));
    reader.end();
    assert.deepEqual(errors, ['it sent a batch cut short (3 of 5 bytes)']);
  });
});

describe('TextLineReader', () => {
  test('lines whatever the chunks; a long line kept to its bound, the rest counted', () => {
    for (const size of [1, 5, 100]) {
      const got: Array<[string, number]> = [];
      const reader = new TextLineReader(8, (text, skipped) => got.push([text, skipped]));
      for (const chunk of chunks('short\r\n0123456789abc\n\nlast', size)) reader.push(chunk);
      reader.end();
      assert.deepEqual(got, [
        ['short', 0],
        ['01234567', 5],
        ['', 0],
        ['last', 0],
      ]);
    }
  });

  test('a character cut at the bound is left out', () => {
    const got: string[] = [];
    const reader = new TextLineReader(4, (text) => got.push(text));
    reader.push(Buffer.from('abcé and more\n'));
    assert.deepEqual(got, ['abc']);
  });
});
