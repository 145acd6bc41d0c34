import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import nunjucks from 'nunjucks';
import { RenderBudget } from '../render-budget.ts';
import { parseTarget } from './pyexpr.ts';
import {
  addTornadoSupport,
  splitFor,
  splitSet,
  templateFlavor,
  TemplateSyntaxError,
  translateTornado,
} from './tornado.ts';

function parses(target: string): boolean {
  try {
    parseTarget(target);
    return true;
  } catch {
    return false;
  }
}

function render(source: string, context: Record<string, unknown> = {}): string {
  const env = new nunjucks.Environment(null, { autoescape: true });
  addTornadoSupport(env);
  return new nunjucks.Template(translateTornado(source, 'page.html'), env, 'page.html').render(
    context,
  );
}

// The expected pages below are what Tornado 6.2 renders from the same source
// (checked with /usr/bin/python3 and tornado.template while writing them).
describe('Tornado templates translated to Nunjucks', () => {
  test('the flavour is told per file; mixing the two is an error', () => {
    assert.equal(templateFlavor('{% block a %}x{% end %}', 'f'), 'tornado');
    assert.equal(templateFlavor('{% raw readme %}', 'f'), 'tornado');
    assert.equal(templateFlavor('{% block a %}x{% endblock %}', 'f'), 'nunjucks');
    assert.equal(templateFlavor('{% extends "analysis.html" %}{{ title }}', 'f'), 'nunjucks');
    assert.throws(
      () => templateFlavor('{% if a %}{% end %}\n{% endif %}', 'f.html'),
      (e: unknown) => e instanceof TemplateSyntaxError && e.line === 2,
    );
  });

  test('for … else, tuple targets, set, autoescape None, apply, comments', () => {
    const out = render(
      [
        '{% set n = [1, 3] %}{% set a, b = n %}{{ n[-1] }}{{ a }}{{ b }}',
        '{% for (i, (a, b)) in pairs %}[{{ i }}{{ a }}{{ b }}]{% else %}done{% end %}',
        '{# gone #}{% autoescape None %}{{ "<i>" }}',
        '{% apply squeeze %}a   b{% end %}',
        '{% comment ignored %}{{! literal }}',
      ].join('\n'),
      { pairs: [[0, ['x', 'y']]] },
    );
    assert.equal(out, '313\n[0xy]done\n<i>\na b\n{{ literal }}');
  });

  test('whitespace: .html and .js files collapse runs as Tornado does, and lines still count', () => {
    const source = 'a  \t b\n\n\n   c{% whitespace oneline %} d \n\n e{% whitespace all %}  f\n\n';
    const translated = translateTornado(source, 'f.html');
    assert.equal(translated.split('\n').length, source.split('\n').length);
    assert.equal(render(source), 'a b\nc d e  f\n\n');
    const env = new nunjucks.Environment(null, { autoescape: true });
    addTornadoSupport(env);
    const txt = translateTornado('a  b\n\n{% if 1 %}x{% end %}', 'notes.txt');
    assert.equal(new nunjucks.Template(txt, env).render({}), 'a  b\n\nx', 'other names keep it');
    assert.equal(render('<pre>\n  a  b\n</pre>{{ 1 }}  \n  x'), '<pre>\n  a  b\n</pre>1\nx');
  });

  test('{% autoescape None %} holds for the whole file, wherever it stands', () => {
    assert.equal(render('{{ x }}{% autoescape None %}{{ x }}', { x: '<b>' }), '<b><b>');
    assert.equal(
      render('{{ x }}', { x: `<a href="x">'\\</a>` }),
      '&lt;a href=&quot;x&quot;&gt;&#39;\\&lt;/a&gt;',
    );
  });

  test("a block's name may be any word (databench 0.4 had d-container-class)", () => {
    assert.match(
      translateTornado('{% block d-container-class %}x{% end %}', 'f.html'),
      /\{% block __tb_d_2d_container_2d_class %\}x\{% endblock %\}/,
    );
    assert.equal(
      render('<div class="{% block d-container-class %}d{% end %}">'),
      '<div class="d">',
    );
  });

  test('text with #}, {{{ x }}} and a lone { renders as Tornado renders it', () => {
    assert.equal(render('a #} b {{{ x }}} {', { x: 'X' }), 'a #} b {X} {');
  });

  test('line numbers stay those of the original file', () => {
    const source = '{# one\ntwo #}\n{% if x and\n  y %}\n{{ nope }}\n{% end %}';
    const translated = translateTornado(source, 'f.html');
    assert.equal(translated.split('\n').length, source.split('\n').length);
    assert.throws(
      () => render(source, { x: 1, y: 1 }),
      // Nunjucks counts lines from 0: line 5 of the file is its "Line 4"
      /\[Line 4, Column \d+\][\s\S]*NameError: name 'nope' is not defined/,
    );
  });

  test('bad templates are syntax errors with file and line', () => {
    const bad = (source: string, line: number, message: RegExp): void =>
      assert.throws(
        () => translateTornado(source, 'f.html'),
        (e: unknown) =>
          e instanceof TemplateSyntaxError && e.line === line && message.test(e.message),
        source,
      );
    bad('a\n{% end %}', 2, /without an open/);
    bad('{% if x %}\n', 1, /has no \{% end %\}/);
    bad('\n\n{{ a[ }}', 3, /expression: unexpected token/);
    bad('{% while x %}{% end %}', 1, /not supported/);
    bad('{% frobnicate %}', 1, /unknown template tag/);
    bad('{{ a', 1, /missing \}\}/);
    bad('{% else %}', 1, /outside/);
    bad('{% block %}{% end %}', 1, /needs a name/);
    bad('{% set n = 1 %}\n{% set n += 1 %}', 2, /\{% set n \+= … %\} computes/);
    bad('{{ a + b }}', 1, /expression: the operator \+ is not supported/);
    bad('\n{% whitespace none %}', 2, /takes all, single or oneline/);
  });

  test('{% for %} and {% set %} split as the patterns Tornado-style parsing used did, in linear time', () => {
    // what the translation matched before: same parts on every input
    const FOR = /^([\s\S]+?)\s+in\s+([\s\S]+)$/;
    const SET = /^([\s\S]+?)\s*(\*\*|\/\/|<<|>>|[-+*/%|&^@])?=(?!=)\s*([\s\S]+)$/;
    const pieces = [
      'x',
      'k, v',
      ' ',
      '  ',
      'in',
      'index',
      ' in ',
      '=',
      '==',
      '+',
      '**',
      '<<',
      'a',
      '\t',
      '(',
      ')',
    ];
    let seed = 7;
    const pick = (): string => pieces[(seed = (seed * 48271) % 2147483647) % pieces.length] ?? '';
    for (let n = 0; n < 3000; n++) {
      let text = '';
      for (let k = 0; k < 1 + (n % 7); k++) text += pick();
      const suffix = text.trim();
      const f = FOR.exec(suffix);
      const got = splitFor(suffix);
      if (f && f[1]?.trim() && f[2]?.trim()) {
        assert.deepEqual(got, [f[1].trim(), f[2].trim()], JSON.stringify(suffix));
      }
      if (!f) assert.equal(got, undefined, JSON.stringify(suffix));
      // where either finds a target that parses, both find the same parts (where
      // neither does, both end in a syntax error)
      const m = SET.exec(suffix);
      const old = m
        ? { target: (m[1] ?? '').trim(), op: m[2], value: (m[3] ?? '').trim() }
        : undefined;
      const set = splitSet(suffix);
      if ((old && parses(old.target)) || (set && parses(set.target))) {
        assert.deepEqual(set, old, JSON.stringify(suffix));
      }
    }
    const spaces = ' '.repeat(200_000);
    assert.equal(splitFor('x' + spaces + 'y'), undefined);
    assert.equal(splitSet('x' + spaces + 'y'), undefined);
    assert.deepEqual(splitFor('x' + spaces + 'in' + spaces + 'y'), ['x', 'y']);
  });

  test('a run of whitespace without a newline is kept whole, one with one becomes it', () => {
    const run = '\u00a0\r'.repeat(100_000);
    assert.equal(render('{{ 1 }}a' + run + 'b'), '1a' + run + 'b');
    assert.equal(render('{{ 1 }}a\u00a0 \n\r\u00a0b'), '1a\nb');
  });

  test("a render counts its loops' items and its output against the budget", () => {
    const env = new nunjucks.Environment(null, { autoescape: true });
    let budget: RenderBudget | undefined;
    addTornadoSupport(env, () => budget);
    const page = (source: string, context: Record<string, unknown>, steps: number): string => {
      budget = new RenderBudget({ steps, chars: 1000, timeMs: Infinity });
      try {
        return new nunjucks.Template(translateTornado(source, 'p.html'), env, 'p.html').render(
          context,
        );
      } finally {
        budget = undefined;
      }
    };
    const xs = Array.from({ length: 10 }, (_, i) => i);
    const loops = '{% for a in xs %}{% for b in xs %}.{% end %}{% end %}';
    // 110 items of loops, at 20 steps each, and 11 evaluations of `xs`
    assert.equal(page(loops, { xs }, 2211), '.'.repeat(100));
    assert.throws(
      () => page(loops, { xs }, 2150),
      /TemplateBudgetError: the page took more than 2150 steps/,
    );
    assert.throws(
      () => page('{% for a in xs %}{{ s }}{% end %}', { xs, s: 'x'.repeat(101) }, 1e6),
      /TemplateBudgetError: the page built more than 1000 characters/,
    );
  });
});
