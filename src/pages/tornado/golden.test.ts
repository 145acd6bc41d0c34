// Golden pages: the Tornado templates in test/fixtures/tornado (modelled on
// databench 0.4 and 0.7's base.html, analysis.html, index.html and the
// analyses' pages) rendered through the translation and Nunjucks, as
// src/pages/pages.ts renders them, and compared byte for byte with what
// Tornado 6.2 rendered from the same files and variables
// (test/fixtures/tornado/render-with-tornado.py wrote expected/).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import nunjucks from 'nunjucks';
import { addTornadoSupport, templateFlavor, translateTornado } from './tornado.ts';

const FIXTURES = join(import.meta.dirname, '../../../test/fixtures/tornado');

interface Case {
  name: string;
  dir: string;
  template: string;
  context: Record<string, unknown>;
}

/** The loader pages.ts uses: a Tornado file is translated as it loads. */
class TranslatingLoader extends nunjucks.FileSystemLoader {
  override getSource(name: string): nunjucks.LoaderSource {
    const source = super.getSource(name);
    if (templateFlavor(source.src, source.path) === 'tornado') {
      source.src = translateTornado(source.src, source.path);
    }
    return source;
  }
}

function render(c: Case): string {
  const env = new nunjucks.Environment(new TranslatingLoader([join(FIXTURES, c.dir)]), {
    autoescape: true,
    throwOnUndefined: false,
  });
  addTornadoSupport(env);
  return env.render(c.template, c.context);
}

const cases = JSON.parse(readFileSync(join(FIXTURES, 'cases.json'), 'utf8')) as Case[];

describe('Tornado templates render as Tornado rendered them', () => {
  for (const c of cases) {
    test(`${c.name}: ${c.dir}/${c.template}`, () => {
      const expected = readFileSync(join(FIXTURES, 'expected', `${c.name}.html`), 'utf8');
      assert.equal(render(c), expected);
    });
  }

  test('every fixture template is read as Tornado, and every case has its golden file', () => {
    assert.ok(cases.length >= 6);
    for (const c of cases) {
      const path = join(FIXTURES, c.dir, c.template);
      assert.equal(templateFlavor(readFileSync(path, 'utf8'), path), 'tornado', path);
    }
  });
});
