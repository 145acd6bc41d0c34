import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withoutDetails } from './error-text.js';

test('withoutDetails keeps the message and drops stack frames, source lines and code frames', () => {
  assert.equal(
    withoutDetails('Error: boom\n    at f (/srv/a/analysis.ts:3:9)\n    at node:internal/x:1:1'),
    'Error: boom',
  );
  // the Python kernel's load error: file:line: message, then the line of source
  assert.equal(
    withoutDetails(
      '/srv/a/py/analysis.py:2: ZeroDivisionError: division by zero\n    x = 1 / 0',
      '/srv/a',
    ),
    'py/analysis.py:2: ZeroDivisionError: division by zero',
  );
  // YAML and Node print a code frame after a blank line
  assert.equal(
    withoutDetails('index.yaml: Nested mappings at line 1, column 6:\n\na: b: c\n     ^\n'),
    'index.yaml: Nested mappings at line 1, column 6:',
  );
  assert.equal(withoutDetails('x\n  ^^^\n~~~'), 'x');
});

test('withoutDetails shows absolute paths relative to the root, or only their last part', () => {
  assert.equal(
    withoutDetails('/srv/a/x/analysis.ts:4:25: ERROR: no', '/srv/a/'),
    'x/analysis.ts:4:25: ERROR: no',
  );
  assert.equal(withoutDetails("ENOENT: open '/etc/secret/x.csv'", '/srv'), "ENOENT: open 'x.csv'");
  assert.equal(withoutDetails('at file:///home/u/p/dep.js:1'), 'at dep.js:1');
  assert.equal(withoutDetails('(C:\\Users\\u\\a.ts:3)'), '(a.ts:3)');
  // a root that only starts the same way is not the root
  assert.equal(withoutDetails('/srv/ab/c.ts', '/srv/a'), 'c.ts');
  // not paths: URLs, relative paths, division
  for (const text of ['redis://host:6379/0 refused', 'see a/b', '50 / 2 and 1/2', './x.ts']) {
    assert.equal(withoutDetails(text), text);
  }
});
