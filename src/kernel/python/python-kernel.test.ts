// Which interpreter a Python analysis gets when its entry names none: the
// user's (DATABENCH_PYTHON, the active virtualenv, python3 on PATH), Debian's
// /usr/bin/python3 only when there is no python3 on PATH.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ProtocolError } from '../../protocol/errors.ts';
import { batchOf, resolvePython } from './python-kernel.ts';

describe('resolvePython', () => {
  let dir: string;
  let venv: string;
  let pathDir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'databench-resolve-python-'));
    venv = join(dir, 'venv');
    pathDir = join(dir, 'bin');
    await mkdir(join(venv, 'bin'), { recursive: true });
    await mkdir(pathDir);
    for (const file of [join(venv, 'bin', 'python'), join(pathDir, 'python3')]) {
      await writeFile(file, '#!/bin/sh\n');
      await chmod(file, 0o755);
    }
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('the entry’s python: wins, then DATABENCH_PYTHON', () => {
    const env = { DATABENCH_PYTHON: '/opt/py', VIRTUAL_ENV: venv, PATH: pathDir };
    assert.equal(resolvePython('/usr/bin/python3.11', env), '/usr/bin/python3.11');
    assert.equal(resolvePython(undefined, env), '/opt/py');
    assert.equal(resolvePython('', env), '/opt/py');
  });

  test('the active virtualenv’s python before python3 on PATH', () => {
    assert.equal(
      resolvePython(undefined, { DATABENCH_PYTHON: '', VIRTUAL_ENV: venv, PATH: pathDir }),
      join(venv, 'bin', 'python'),
    );
  });

  test('a VIRTUAL_ENV without bin/python is passed over', () => {
    assert.equal(
      resolvePython(undefined, { VIRTUAL_ENV: join(dir, 'gone'), PATH: pathDir }),
      'python3',
    );
  });

  test('python3 on PATH before Debian’s /usr/bin/python3', () => {
    assert.equal(resolvePython(undefined, { PATH: pathDir }), 'python3');
  });

  test('/usr/bin/python3 only when PATH has no python3', () => {
    assert.equal(
      resolvePython(undefined, { PATH: join(dir, 'empty') }),
      existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3',
    );
  });
});

describe('batchOf', () => {
  test('a frame for several pages (sids) is one frame op per page, each a view of the same bytes, in order', () => {
    const bytes = Buffer.from('{"signal":"x"}{"signal":"class_data","load":{"k":1}}');
    const ops = [
      { t: 'frame', sid: 1, coalesce: null, at: [0, 14] },
      { t: 'frame', sids: [1, 2, 3], coalesce: 'class_data\0k', at: [14, bytes.length] },
      { t: 'frame', sids: [4, 5], coalesce: 'class_data\0k', at: [14, bytes.length], domain: 'C' },
      { t: 'done', sid: 1 },
    ];
    const batch = batchOf(ops, bytes);
    assert.deepEqual(
      batch.ops.map((op) => [op.t, 'sid' in op ? op.sid : undefined]),
      [
        ['frame', 1],
        ['frame', 1],
        ['frame', 2],
        ['frame', 3],
        ['frame', 4],
        ['frame', 5],
        ['done', 1],
      ],
    );
    for (const op of batch.ops.slice(1, 6)) {
      assert.ok(op.t === 'frame');
      assert.equal(
        bytes.toString('utf8', op.start, op.end),
        '{"signal":"class_data","load":{"k":1}}',
      );
      assert.equal(op.coalesce, 'class_data\0k');
      assert.equal(op.domain, op.sid >= 4 ? 'C' : undefined);
      assert.equal('sids' in op, false);
    }
  });

  test('a frame op with several places (a stream to one page) is one frame op per place, in order', () => {
    const bytes = Buffer.from('{"a":1}{"a":2}{"a":3}');
    const batch = batchOf(
      [
        { t: 'frame', sid: 7, coalesce: 'data\0a', at: [0, 7, 7, 14, 14, 21] },
        { t: 'done', sid: 7 },
      ],
      bytes,
    );
    assert.deepEqual(
      batch.ops.map((op) =>
        op.t === 'frame' ? [op.sid, bytes.toString('utf8', op.start, op.end), op.coalesce] : op.t,
      ),
      [[7, '{"a":1}', 'data\0a'], [7, '{"a":2}', 'data\0a'], [7, '{"a":3}', 'data\0a'], 'done'],
    );
  });

  test('places out of the batch, or an odd count of them, break the protocol', () => {
    const bytes = Buffer.from('{}');
    for (const at of [
      [0, 3],
      [0, 2, 1],
      [2, 1],
      [0, 2, 0, 3],
    ]) {
      assert.throws(
        () => batchOf([{ t: 'frame', sid: 1, coalesce: null, at }], bytes),
        ProtocolError,
        JSON.stringify(at),
      );
    }
    assert.throws(
      () => batchOf([{ t: 'write', domain: 'd', key: 'k', seq: 1, at: [0, 1, 1, 2] }], bytes),
      ProtocolError,
    );
  });

  test('a batch without sids keeps its ops array', () => {
    const ops = [{ t: 'frame', sid: 1, coalesce: null, at: [0, 2] }];
    assert.equal(batchOf(ops, Buffer.from('{}')).ops, ops);
  });

  test('sids that are not session numbers break the protocol', () => {
    assert.throws(
      () => batchOf([{ t: 'frame', sids: ['1'], coalesce: null, at: [0, 2] }], Buffer.from('{}')),
      ProtocolError,
    );
  });
});
