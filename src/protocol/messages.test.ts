import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DatabenchError,
  PROTOCOL,
  ProtocolError,
  encodeValue,
  frameFromEncoded,
  keyFrameFromEncoded,
  latestActionFrame,
  parseClientMessage,
  parseQs,
  parseServerMessage,
} from 'databench-ts/protocol';

describe('parseClientMessage', () => {
  test('__upload start and cancel (our addition)', () => {
    assert.deepEqual(
      parseClientMessage(
        JSON.stringify({
          signal: '__upload',
          load: {
            op: 'start',
            id: 4_000_000_000,
            action: 'load_csv',
            files: [{ name: 'a.csv', type: 'text/csv', size: 12 }],
            __process_id: 9,
          },
        }),
      ),
      {
        kind: 'upload-start',
        id: 4_000_000_000,
        action: 'load_csv',
        files: [{ name: 'a.csv', type: 'text/csv', size: 12 }],
        multiple: false,
        processId: 9,
      },
    );
    assert.deepEqual(parseClientMessage('{"signal":"__upload","load":{"op":"cancel","id":3}}'), {
      kind: 'upload-cancel',
      id: 3,
    });
    // a file without a type: ''; several files need multiple
    const many = parseClientMessage(
      '{"signal":"__upload","load":{"op":"start","id":1,"action":"x","multiple":true,"files":[{"name":"a","size":0},{"name":"b","size":1}]}}',
    );
    assert.equal(many.kind === 'upload-start' && many.files[0]?.type, '');
    for (const [load, message] of [
      [{ op: 'start', id: -1, action: 'x', files: [{ name: 'a', size: 1 }] }, /"id"/],
      [{ op: 'start', id: 2 ** 32, action: 'x', files: [{ name: 'a', size: 1 }] }, /"id"/],
      [{ op: 'start', id: 1, action: '', files: [{ name: 'a', size: 1 }] }, /"action"/],
      [{ op: 'start', id: 1, action: '__cancel', files: [{ name: 'a', size: 1 }] }, /"action"/],
      [{ op: 'start', id: 1, action: 'x', files: [] }, /non-empty list/],
      [{ op: 'start', id: 1, action: 'x', files: [{ name: 'a', size: -1 }] }, /files\[0\]/],
      [{ op: 'start', id: 1, action: 'x', files: [{ name: 'a', size: 1.5 }] }, /files\[0\]/],
      [
        {
          op: 'start',
          id: 1,
          action: 'x',
          files: [
            { name: 'a', size: 1 },
            { name: 'b', size: 1 },
          ],
        },
        /multiple/,
      ],
      [
        { op: 'start', id: 1, action: 'x', files: [{ name: 'a', size: 1 }], __process_id: {} },
        /__process_id/,
      ],
      [{ op: 'pause', id: 1 }, /unknown op "pause"/],
      ['start', /needs a load/],
    ] as const) {
      assert.throws(
        () => parseClientMessage(JSON.stringify({ signal: '__upload', load })),
        (error: unknown) => error instanceof ProtocolError && message.test(error.message),
      );
    }
  });

  test('an action whose name starts with "__" and is not reserved is an ordinary action', () => {
    assert.deepEqual(parseClientMessage('{"signal":"__mine","load":1}'), {
      kind: 'action',
      signal: '__mine',
      hasLoad: true,
      load: 1,
      concurrency: undefined,
    });
  });

  test('a connect frame for a new instance', () => {
    assert.deepEqual(parseClientMessage('{"__connect": null, "__request_args": "?a=1&b=2"}'), {
      kind: 'connect',
      analysisId: null,
      requestArgs: '?a=1&b=2',
      deltas: false,
    });
  });

  test('a connect frame that announces deltas (any truthy "__deltas"); a 0.7 client does not', () => {
    assert.equal(parseClientMessage('{"__connect": null, "__deltas": 1}').kind, 'connect');
    const deltas = (text: string): unknown =>
      (parseClientMessage(text) as { deltas?: unknown }).deltas;
    assert.equal(deltas('{"__connect": null, "__deltas": 1}'), true);
    assert.equal(deltas('{"__connect": null, "__deltas": 0}'), false);
    assert.equal(deltas('{"__connect": null}'), false);
  });

  test('a connect frame resuming an id, with absent or null request args', () => {
    assert.deepEqual(parseClientMessage('{"__connect": "abc-123"}'), {
      kind: 'connect',
      analysisId: 'abc-123',
      requestArgs: '',
      deltas: false,
    });
    assert.deepEqual(parseClientMessage('{"__connect": null, "__request_args": null}'), {
      kind: 'connect',
      analysisId: null,
      requestArgs: '',
      deltas: false,
    });
  });

  test('a connect frame with a bad id or bad request args is a ProtocolError', () => {
    assert.throws(() => parseClientMessage('{"__connect": 5}'), ProtocolError);
    assert.throws(() => parseClientMessage('{"__connect": {}}'), ProtocolError);
    assert.throws(
      () => parseClientMessage('{"__connect": null, "__request_args": ["a"]}'),
      ProtocolError,
    );
  });

  test('a connect frame with "__share" opens a share link, whatever id it names (our addition)', () => {
    assert.deepEqual(parseClientMessage('{"__connect": "abc", "__share": "s1", "__deltas": 1}'), {
      kind: 'connect',
      analysisId: null,
      requestArgs: '',
      deltas: true,
      share: 's1',
    });
    // absent or null: the page's own session
    assert.equal(
      (parseClientMessage('{"__connect": null, "__share": null}') as { share?: string }).share,
      undefined,
    );
    assert.throws(
      () => parseClientMessage('{"__connect": null, "__share": 5}'),
      /"__share" must be/,
    );
    assert.throws(
      () => parseClientMessage(JSON.stringify({ __connect: null, __share: 'x'.repeat(65) })),
      /at most 64 characters/,
    );
  });

  test('__share create and revoke (our addition); anything else is a ProtocolError', () => {
    assert.deepEqual(parseClientMessage('{"signal": "__share", "load": {"op": "create"}}'), {
      kind: 'share-create',
      expiresMs: undefined,
    });
    assert.deepEqual(
      parseClientMessage('{"signal": "__share", "load": {"op": "create", "expires_ms": 500}}'),
      { kind: 'share-create', expiresMs: 500 },
    );
    assert.deepEqual(
      parseClientMessage('{"signal": "__share", "load": {"op": "revoke", "share": "abc"}}'),
      { kind: 'share-revoke', share: 'abc' },
    );
    for (const load of [
      undefined,
      {},
      { op: 'open' },
      { op: 'create', expires_ms: -1 },
      { op: 'create', expires_ms: 'soon' },
      { op: 'revoke' },
      { op: 'revoke', share: '' },
      { op: 'revoke', share: 'x'.repeat(65) },
    ]) {
      assert.throws(
        () => parseClientMessage(JSON.stringify({ signal: '__share', load })),
        ProtocolError,
        JSON.stringify(load),
      );
    }
  });

  test('an action with a load', () => {
    assert.deepEqual(parseClientMessage('{"signal": "run", "load": {"my_param": "helloworld"}}'), {
      kind: 'action',
      signal: 'run',
      hasLoad: true,
      load: { my_param: 'helloworld' },
      concurrency: undefined,
    });
  });

  test('an action whose load is null or a scalar still has a load', () => {
    for (const [text, load] of [
      ['null', null],
      ['0', 0],
      ['"text"', 'text'],
      ['false', false],
      ['[1,2]', [1, 2]],
    ] as const) {
      const message = parseClientMessage(`{"signal": "x", "load": ${text}}`);
      assert.equal(message.kind, 'action');
      assert.ok(message.kind === 'action' && message.hasLoad, `hasLoad for ${text}`);
      assert.deepEqual(message.kind === 'action' && message.load, load);
    }
  });

  test('an action without a load', () => {
    assert.deepEqual(parseClientMessage('{"signal": "test_action"}'), {
      kind: 'action',
      signal: 'test_action',
      hasLoad: false,
      load: undefined,
      concurrency: undefined,
    });
  });

  test('an action frame may ask to run as a latest call; any other value is ignored', () => {
    const asked = parseClientMessage('{"signal": "samples", "load": 5, "concurrency": "latest"}');
    assert.equal(asked.kind === 'action' && asked.concurrency, 'latest');
    for (const value of ['"parallel"', '"queue"', '1', 'null', '{"latest": true}']) {
      const m = parseClientMessage(`{"signal": "samples", "load": 5, "concurrency": ${value}}`);
      assert.equal(m.kind === 'action' && m.concurrency, undefined, value);
    }
    assert.equal(
      latestActionFrame('samples', '5'),
      '{"signal":"samples","load":5,"concurrency":"latest"}',
    );
    assert.equal(latestActionFrame('go'), '{"signal":"go","concurrency":"latest"}');
  });

  test('an action without a string signal is a ProtocolError', () => {
    for (const text of ['{}', '{"signal": 5}', '{"signal": ""}', '{"load": 1}']) {
      assert.throws(() => parseClientMessage(text), ProtocolError, text);
    }
  });

  test('malformed JSON is a ProtocolError with the parse error as cause', () => {
    for (const text of ['', '{', '{"signal": "x",}', "{'signal': 'x'}", 'NaN', 'undefined']) {
      assert.throws(
        () => parseClientMessage(text),
        (error: unknown) => {
          assert.ok(error instanceof ProtocolError, `${JSON.stringify(text)}: not a ProtocolError`);
          assert.ok(error instanceof DatabenchError);
          assert.equal(error.code, 'PROTOCOL');
          assert.ok(error.cause instanceof SyntaxError);
          assert.match(error.message, /malformed JSON/);
          return true;
        },
      );
    }
  });

  test('frames that are not objects are ProtocolErrors', () => {
    for (const text of ['null', '[]', '[{"signal": "x"}]', '5', '"run"', 'true']) {
      assert.throws(
        () => parseClientMessage(text),
        (error: unknown) =>
          error instanceof ProtocolError && /must be a JSON object/.test(error.message),
        text,
      );
    }
  });
});

describe('parseServerMessage', () => {
  test('with and without load', () => {
    assert.deepEqual(parseServerMessage('{"signal": "data", "load": {"a": 1}}'), {
      signal: 'data',
      hasLoad: true,
      load: { a: 1 },
    });
    assert.deepEqual(parseServerMessage('{"signal": "test_action_ack"}'), {
      signal: 'test_action_ack',
      hasLoad: false,
      load: undefined,
    });
  });

  test('bad frames are ProtocolErrors', () => {
    for (const text of ['null', '[]', '{"load": 1}', '{"signal": 1}', '{']) {
      assert.throws(() => parseServerMessage(text), ProtocolError, text);
    }
  });
});

describe('parseQs (like Python’s urllib.parse.parse_qs)', () => {
  test('every value is a list, repeated keys collect', () => {
    assert.deepEqual({ ...parseQs('?a=1&b=2&a=3') }, { a: ['1', '3'], b: ['2'] });
    assert.deepEqual({ ...parseQs('a=1') }, { a: ['1'] });
  });

  test('empty input and a bare "?" give no keys', () => {
    assert.deepEqual({ ...parseQs('') }, {});
    assert.deepEqual({ ...parseQs('?') }, {});
  });

  test('keys with empty values and fields without "=" are left out', () => {
    assert.deepEqual({ ...parseQs('a=1&a=2&b=') }, { a: ['1', '2'] });
    assert.deepEqual({ ...parseQs('flag&c=3&&d=') }, { c: ['3'] });
  });

  test('"+" is a space, in keys and values', () => {
    assert.deepEqual({ ...parseQs('a+b=c+d') }, { 'a b': ['c d'] });
  });

  test('percent escapes are decoded, %2B is a literal plus, UTF-8 is decoded', () => {
    assert.deepEqual(
      { ...parseQs('x=%2B%20y&k=%26%3D&e=%C3%A9t%C3%A9&%C3%BC=1') },
      { x: ['+ y'], k: ['&='], e: ['été'], ü: ['1'] },
    );
  });

  test('a value of only "=" signs and an empty key are kept as Python keeps them', () => {
    assert.deepEqual({ ...parseQs('=v&k==') }, { '': ['v'], k: ['='] });
  });

  test('a malformed escape is left as it is, and the rest is still decoded', () => {
    // parse_qs('a=%zz%20b') == {'a': ['%zz b']}; parse_qs('b=100%') == {'b': ['100%']}
    assert.deepEqual({ ...parseQs('a=%zz%20b&b=100%') }, { a: ['%zz b'], b: ['100%'] });
    // parse_qs('c=%e9%20x&d=%C3%A9%') == {'c': ['\ufffd x'], 'd': ['é%']}
    assert.deepEqual({ ...parseQs('c=%e9%20x&d=%C3%A9%') }, { c: ['\ufffd x'], d: ['é%'] });
  });

  test('the result has no inherited keys', () => {
    const parsed = parseQs('a=1');
    assert.equal('toString' in parsed, false);
    assert.deepEqual(
      { ...parseQs('__proto__=x&constructor=y') },
      {
        ['__proto__']: ['x'],
        constructor: ['y'],
      },
    );
  });
});

describe('frames', () => {
  test('frameFromEncoded with a load', () => {
    const frame = frameFromEncoded('data', encodeValue({ pi: { estimate: 3.14 } }));
    assert.equal(frame, '{"signal":"data","load":{"pi":{"estimate":3.14}}}');
    assert.deepEqual(JSON.parse(frame), { signal: 'data', load: { pi: { estimate: 3.14 } } });
  });

  test('frameFromEncoded without a load has no load key', () => {
    const frame = frameFromEncoded('test_action_ack');
    assert.equal(frame, '{"signal":"test_action_ack"}');
    assert.equal('load' in JSON.parse(frame), false);
  });

  test('frameFromEncoded with loads that are falsy but present', () => {
    assert.deepEqual(JSON.parse(frameFromEncoded('x', encodeValue(null))), {
      signal: 'x',
      load: null,
    });
    assert.deepEqual(JSON.parse(frameFromEncoded('x', encodeValue(0))), { signal: 'x', load: 0 });
    assert.deepEqual(JSON.parse(frameFromEncoded('x', encodeValue(''))), { signal: 'x', load: '' });
  });

  test('a signal that needs escaping stays valid JSON', () => {
    const signal = 'quote " backslash \\ newline \n';
    assert.deepEqual(JSON.parse(frameFromEncoded(signal, '1')), { signal, load: 1 });
  });

  test('a frame round-trips through parseServerMessage', () => {
    assert.deepEqual(parseServerMessage(frameFromEncoded('mpl', encodeValue('data:x'))), {
      signal: 'mpl',
      hasLoad: true,
      load: 'data:x',
    });
    assert.deepEqual(parseServerMessage(frameFromEncoded('ack')), {
      signal: 'ack',
      hasLoad: false,
      load: undefined,
    });
  });

  test('keyFrameFromEncoded makes a one-key data frame', () => {
    const frame = keyFrameFromEncoded('class_data', 'light "x"', encodeValue(['red', NaN]));
    assert.deepEqual(JSON.parse(frame), {
      signal: 'class_data',
      load: { 'light "x"': ['red', 'NaN'] },
    });
  });

  test('non-finite numbers encode to strings a browser’s JSON.parse accepts', () => {
    const frame = frameFromEncoded('data', encodeValue({ a: NaN, b: Infinity, c: -Infinity }));
    const parsed = JSON.parse(frame) as { load: unknown };
    assert.deepEqual(parsed.load, { a: 'NaN', b: 'Infinity', c: '-Infinity' });
  });

  test('PROTOCOL constants match docs/reference/protocol.md', () => {
    assert.equal(PROTOCOL.pingIntervalMs, 15_000);
    assert.equal(PROTOCOL.connectSignal, '__connect');
    assert.equal(PROTOCOL.processSignal, '__process');
    assert.equal(PROTOCOL.processIdKey, '__process_id');
  });
});

describe('the nesting limit of client frames', () => {
  const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

  test('up to PROTOCOL.maxClientJsonDepth is parsed, one more is a ProtocolError', () => {
    assert.equal(PROTOCOL.maxClientJsonDepth, 64);
    // the frame's own object is level 1
    const ok = parseClientMessage(`{"signal":"a","load":${nested(63)}}`);
    assert.equal(ok.kind, 'action');
    assert.throws(
      () => parseClientMessage(`{"signal":"a","load":${nested(64)}}`),
      (e: unknown) => e instanceof ProtocolError && /64 deep at most/.test(e.message),
    );
    assert.throws(() => parseClientMessage(`{"signal":"a","load":${nested(3)}}`, { maxDepth: 3 }));
  });

  test('brackets inside strings do not count, escaped quotes do not end a string', () => {
    const text = JSON.stringify({ signal: 'a', load: ['['.repeat(100) + '\\"{{' + '"'] });
    assert.equal(parseClientMessage(text).kind, 'action');
    const objects = `{"signal":"a","load":${'{"k":'.repeat(63)}1${'}'.repeat(63)}}`;
    assert.equal(parseClientMessage(objects).kind, 'action');
    assert.throws(() =>
      parseClientMessage(`{"signal":"a","load":${'{"k":'.repeat(64)}1${'}'.repeat(64)}}`),
    );
  });

  test('the 15.6 MB frame of nested brackets is refused without a parse', () => {
    assert.throws(() => parseClientMessage(nested(7.8e6)), ProtocolError);
  });

  test('malformed JSON: the text V8 quotes from the frame is escaped', () => {
    assert.throws(
      () => parseClientMessage('{"signal": "a",\nINFO forged line'),
      (e: unknown) => e instanceof ProtocolError && !e.message.includes('\n'),
    );
  });
});
