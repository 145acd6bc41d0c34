// A load error as the page's error panel shows it, from the text a loader or
// kernel gave: file, line, column and the code around the line.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadErrorLoad } from './load-error.ts';

describe('loadErrorLoad', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'databench-load-error-'));
    await mkdir(join(root, 'pi'));
    await writeFile(join(root, 'pi', 'analysis.py'), 'import databench\nx = (\ny = )\n');
  });
  after(() => rm(root, { recursive: true, force: true }));

  test("a Python kernel's load error: the file and line (no column) and the lines around it", () => {
    const text = `${join(root, 'pi', 'analysis.py')}:3: SyntaxError: invalid syntax\n    y = )`;
    const load = loadErrorLoad('pi', text, { root, details: true, stale: false });
    assert.equal(load.file, 'pi/analysis.py');
    assert.equal(load.line, 3);
    assert.equal(load.column, null);
    assert.equal(load.frame, '  1 | import databench\n  2 | x = (\n> 3 | y = )\n  4 |');
    assert.equal(load.message, 'pi/analysis.py:3: SyntaxError: invalid syntax\n    y = )');
  });

  test('without details: no file, line or code', () => {
    const text = `${join(root, 'pi', 'analysis.py')}:3: SyntaxError: invalid syntax`;
    const load = loadErrorLoad('pi', text, { root, details: false, stale: true });
    assert.deepEqual([load.file, load.line, load.column, load.frame], [null, null, null, null]);
  });
});
