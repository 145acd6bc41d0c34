// `databench check`, the real command from source: what the fixtures' pages
// name that their analyses lack, line for line, and the exit codes.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { databench, FIXTURES, within, type CliRun } from '../helpers.ts';

/** The run once it has exited and its output has been read to the end. */
async function finished(run: CliRun, what: string): Promise<{ code: number | null }> {
  // 'close', not 'exit': stdout and stderr have been read to their ends
  const code = await within(
    new Promise<number | null>((resolve) => run.child.on('close', resolve)),
    120_000,
    what,
  );
  return { code };
}

const PAGE = 'test/fixtures/check/mistakes/index.html';
const PY_PAGE = 'test/fixtures/check/mistakes_py/index.html';
/** What a finding adds for a widget named by its id or name only. */
const WIRED = (by: string): string =>
  `; ui.wire sends its ${by} as an action (data-skipwire if the page's script handles it)`;

describe('databench check', () => {
  const temps: string[] = [];
  after(async () => {
    for (const t of temps) await rm(t, { recursive: true, force: true });
  });

  test('lists every name a page uses that its analysis lacks, with file:line:column and the nearest name; exit 1', async () => {
    const run = databench(['check', join(FIXTURES, 'check')]);
    const { code } = await finished(run, 'databench check on the mistakes');
    assert.deepEqual(run.stdout.split('\n'), [
      "test/fixtures/check/mistakes/chart.page.ts:5:1: databench.emit('counts'): no handler for 'counts' on Mistakes (did you mean 'count'?)",
      `${PAGE}:3:9: data-action="cuont": no handler for 'cuont' on Mistakes (did you mean 'count'?)`,
      `${PAGE}:4:9: id="rest": no handler for 'rest' on Mistakes (did you mean 'reset'?)${WIRED('id')}`,
      `${PAGE}:5:21: name="smaples": no handler for 'smaples' on Mistakes (did you mean 'samples'?)${WIRED('name')}`,
      `${PAGE}:6:11: data-process="runn": no handler for 'runn' on Mistakes`,
      `${PAGE}:7:7: data-signal="data:clikcs": no key 'clikcs' in the data of Mistakes (did you mean 'clicks'?)`,
      `${PAGE}:8:4: data-action="sample": no key 'sample' in the data of Mistakes (did you mean 'samples'?)`,
      `${PAGE}:9:24: data-options="data:columns": no key 'columns' in the data of Mistakes`,
      `${PAGE}:10:9: data-action="connect": 'connect' is run by the server only`,
      `${PAGE}:16:10: d.on({ data: 'sampels' }): no key 'sampels' in the data of Mistakes (did you mean 'samples'?)`,
      `${PAGE}:18:3: d.emit('rset'): no handler for 'rset' on Mistakes (did you mean 'reset'?)`,
      `${PY_PAGE}:6:9: data-action="go_fast": no handler for 'go_fast' on MistakesPy (did you mean 'go-fast'?)`,
      '(the data keys of Python analyses are not checked)',
      '',
    ]);
    assert.equal(
      run.stderr,
      'databench: check: 12 problems in 2 analyses: fix the names above (in the page, or add the handler or key to the analysis)\n',
    );
    assert.equal(code, 1, 'PAGE_NAMES exits 1');
  });

  test('a folder whose pages name only what their analyses have: no problems, exit 0', async () => {
    // run where index.yaml is, without naming the folder: found as `databench` finds it
    const run = databench(['check'], { cwd: join(FIXTURES, 'check_clean') });
    const { code } = await finished(run, 'databench check on the clean folder');
    assert.equal(run.stderr, '');
    assert.equal(
      run.stdout,
      [
        'databench check: 3 analyses, no problems',
        // its handlers come from a base class of another module: not checked, not reported
        'the actions of mixin_py are not checked: its analysis.py takes any action, or has a base class or handlers check cannot read',
        'the data keys of Python analyses are not checked',
      ]
        .map((line, i) => (i === 0 ? line : `(${line})`))
        .join('\n') + '\n',
    );
    assert.equal(code, 0);
  });

  test('follows the templates a page includes or extends, and names an include of a template that is nowhere', async () => {
    const dir = 'test/fixtures/check_include';
    const run = databench(['check', join(FIXTURES, 'check_include')]);
    const { code } = await finished(run, 'databench check on the included templates');
    assert.deepEqual(run.stdout.split('\n'), [
      // extended from the analyses folder (its own extends of analysis.html is databench's: not read)
      `${dir}/layout.html:3:7: data-signal="data:totl": no key 'totl' in the data of Tally`,
      // included by name from the analyses folder
      `${dir}/partials/controls.html:2:9: data-action="ad": no handler for 'ad' on Tally (did you mean 'add'?)`,
      `${dir}/tally/index.html:5:1: {% include "./parts/missing.html" %}: no template './parts/missing.html' beside this page`,
      // included beside the page (./), from a folder check does not read as pages
      `${dir}/tally/parts/display.html:2:7: data-signal="data:cuont": no key 'cuont' in the data of Tally (did you mean 'count'?)`,
      '',
    ]);
    assert.match(run.stderr, /4 problems in 1 analysis/);
    assert.equal(code, 1);
  });

  test('without an analyses folder it says where to run it; exit 2', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'databench-check-'));
    temps.push(empty);
    const run = databench(['check'], { cwd: empty });
    const { code } = await finished(run, 'databench check in an empty folder');
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^databench: no analyses folder here: .*databench check FOLDER/);
    assert.equal(code, 2);
  });
});
