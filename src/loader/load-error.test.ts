import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { entryLoadError } from './load-error.js';

test("an entry's load error is made once (its source file read once), per details", () => {
  const root = mkdtempSync(join(tmpdir(), 'databench-load-error-'));
  try {
    const file = join(root, 'analysis.ts');
    writeFileSync(file, 'const a = 1;\nthrow new Error("boom");\n');
    const entry = { name: 'a', error: `Error: boom\n    at ${file}:2:7`, stale: false };
    const first = entryLoadError(entry, root, true);
    assert.equal(first?.file, 'analysis.ts');
    assert.equal(first?.line, 2);
    assert.match(first?.frame ?? '', /throw new Error/);
    // the file changes under it: a page request must not read it again (a reload makes a new entry)
    writeFileSync(file, 'changed\n');
    assert.equal(entryLoadError(entry, root, true), first);
    const plain = entryLoadError(entry, root, false);
    assert.equal(plain?.file, null, 'without details: no file, no frame');
    assert.equal(entryLoadError({ ...entry, error: undefined }, root, true), undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
