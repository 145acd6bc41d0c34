import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readPythonSurface, type AnalysisSurface } from './analysis-surface.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** The surface of an analysis.py with `text`. */
async function surface(text: string): Promise<AnalysisSurface> {
  const dir = await mkdtemp(join(tmpdir(), 'databench-surface-'));
  dirs.push(dir);
  await writeFile(join(dir, 'analysis.py'), text);
  const result = await readPythonSurface(join(dir, 'analysis.py'));
  assert.ok(result.ok, result.ok ? '' : result.error);
  return result.surface;
}

const BUILT_IN = ['connect', 'args', 'connected', 'disconnected', 'log', 'warn', 'error'];

test('a Python analysis: on_x, @on (its own name, and x of on_x), @on_action literals', async () => {
  const s = await surface(
    [
      'import databench',
      '',
      'class Base(databench.Analysis):',
      '    def on_count(self): pass',
      '',
      'class Pi(Base):',
      '    @databench.on',
      '    async def run(self, n): pass',
      '',
      '    @databench.on',
      '    def on_stop(self): pass',
      '',
      "    @databench.on_action('go-fast')",
      '    # a comment between the decorator and the def',
      '    def faster(self): pass',
      '',
      '    def helper(self): pass',
    ].join('\n'),
  );
  assert.equal(s.className, 'Pi', 'the class no other derives from');
  assert.equal(s.wildcard, false);
  assert.deepEqual(
    [...s.actions].sort(),
    [...BUILT_IN, 'count', 'run', 'on_stop', 'stop', 'go-fast'].sort(),
  );
  assert.equal(s.dataKeys, undefined, 'data keys of Python analyses are not read');
});

test('a Python analysis whose handlers check cannot see takes any action (no false findings)', async () => {
  const cases: Array<[string, string]> = [
    ['a base class from another module', 'from helpers import Runs\n\nclass Pi(Runs):\n    pass\n'],
    [
      'a mixin beside Analysis',
      'import databench\nfrom mixins import Plots\n\nclass Pi(Plots, databench.Analysis):\n    pass\n',
    ],
    [
      'Analysis under another name',
      'from databench import Analysis as Base\n\nclass Pi(Base):\n    pass\n',
    ],
    [
      'an on_action name that is not a literal',
      'import databench\n\nNAME = "go"\n\nclass Pi(databench.Analysis):\n    @databench.on_action(NAME)\n    def go(self): pass\n',
    ],
    [
      "on_action('*')",
      "import databench\n\nclass Pi(databench.Analysis):\n    @databench.on_action('*')\n    def any(self, action, message): pass\n",
    ],
    [
      'handlers set with setattr',
      "import databench\n\nclass Pi(databench.Analysis):\n    pass\n\nsetattr(Pi, 'on_go', lambda self: None)\n",
    ],
  ];
  for (const [what, text] of cases) {
    assert.equal((await surface(text)).wildcard, true, what);
  }
  // an unrelated class with an outside base changes nothing
  const plain = await surface(
    'import databench\n\nclass Oops(Exception):\n    pass\n\nclass Pi(databench.Analysis):\n    def on_go(self): pass\n',
  );
  assert.equal(plain.wildcard, false);
  assert.equal(plain.className, 'Pi');
});
