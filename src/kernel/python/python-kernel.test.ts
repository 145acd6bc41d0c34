// Which interpreter a Python analysis gets when its entry names none: the
// user's (DATABENCH_PYTHON, the active virtualenv, python3 on PATH), Debian's
// /usr/bin/python3 only when there is no python3 on PATH.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resolvePython } from './python-kernel.ts';

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
