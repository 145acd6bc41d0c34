import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import nunjucks from 'nunjucks';
import { evaluate, parsePy, PyError } from './pyexpr.ts';
import {
  addTornadoSupport,
  templateFlavor,
  TemplateSyntaxError,
  translateTornado,
} from './tornado.ts';

function py(src: string, context: Record<string, unknown> = {}): unknown {
  return evaluate(parsePy(src), { locals: undefined, context });
}

function render(source: string, context: Record<string, unknown> = {}): string {
  const env = new nunjucks.Environment(null, { autoescape: true });
  addTornadoSupport(env);
  return new nunjucks.Template(translateTornado(source, 'page.html'), env, 'page.html').render(
    context,
  );
}

describe('Python expressions of 0.7 templates', () => {
  test('literals, operators and truthiness behave as in Python', () => {
    assert.equal(py('1 + 2 * 3 ** 2'), 19);
    assert.equal(py('7 // 2'), 3);
    assert.equal(py('-7 % 3'), 2);
    assert.equal(py("'a' + 'b' * 2"), 'abb');
    assert.equal(py('not [] and {} == {}'), true);
    assert.equal(py("'x' if [] else 'y'"), 'y');
    assert.equal(py('1 < 2 < 3 and not 3 < 2'), true);
    assert.equal(py("'b' in 'abc' and 2 not in [1, 3] and 'k' in {'k': 1}"), true);
    assert.equal(py('None is None and x is not None', { x: 0 }), true);
    assert.equal(py('[1, 2] == [1, 2] and (1, 2) == [1, 2]'), true);
    assert.equal(py("0 or '' or 'last'"), 'last');
  });

  test('subscripts, slices, attributes and the methods templates used', () => {
    const ctx = { a: { name: 'pi', tags: ['x', 'y', 'z'] } };
    assert.equal(py("a['name']", ctx), 'pi');
    assert.equal(py('a.name', ctx), 'pi');
    assert.equal(py("a['tags'][-1]", ctx), 'z');
    assert.deepEqual(py("a['tags'][::-1]", ctx), ['z', 'y', 'x']);
    assert.equal(py("'hello'[1:3]"), 'el');
    assert.equal(py("a.get('missing', 'dflt')", ctx), 'dflt');
    assert.deepEqual(py('sorted(a.keys())', ctx), ['name', 'tags']);
    assert.equal(py("', '.join(t.upper() for t in a['tags'])", ctx), 'X, Y, Z');
    assert.equal(py("'  x '.strip().title()"), 'X');
    assert.equal(py("globals().get('title', 'Databench')", { title: 'T' }), 'T');
    assert.equal(py("globals().get('title', 'Databench')"), 'Databench');
  });

  test('comprehensions, builtins and string formatting', () => {
    const meta = [
      { name: 'a', show: true },
      { name: 'b', show: false },
    ];
    assert.deepEqual(py("[m['name'] for m in meta if m['show']]", { meta }), ['a']);
    assert.deepEqual(
      { ...(py('{k: v for k, v in d.items()}', { d: { x: 1 } }) as object) },
      { x: 1 },
    );
    assert.equal(
      Object.getPrototypeOf(py("{'__proto__': 1}")),
      null,
      'a dict never gets a prototype',
    );
    assert.deepEqual(py('list(enumerate(["a"], 1))'), [[1, 'a']]);
    assert.equal(py('len(range(3)) + sum([1, 2]) + max(1, 5) + min([4, 2])'), 3 + 3 + 5 + 2);
    assert.equal(py("'%s is %.2f (%d%%)' % ('pi', 3.14159, 99)"), 'pi is 3.14 (99%)');
    assert.equal(py("'%(n)s' % {'n': 'named'}"), 'named');
    assert.equal(py("'{0}-{1}-{x:>4}'.format('a', 'b', x=7)"), 'a-b-   7');
    assert.equal(py("'{:,.1f}'.format(1234.56)"), '1,234.6');
    assert.equal(py('str(None) + str(True) + str([1, "a"])'), "NoneTrue[1, 'a']");
    assert.equal(py("json_encode({'a': '</script>'})"), '{"a":"<\\/script>"}');
    assert.equal(py("escape('<&>')"), '&lt;&amp;&gt;');
  });

  test('errors are Python errors with their names', () => {
    const raises = (src: string, type: string, ctx = {}): void =>
      assert.throws(
        () => py(src, ctx),
        (e: unknown) => e instanceof PyError && e.name === type,
        `${src} raises ${type}`,
      );
    raises('nope', 'NameError');
    raises("{}['k']", 'KeyError');
    raises('[][0]', 'IndexError');
    raises('1 / 0', 'ZeroDivisionError');
    raises("'a' + 1", 'TypeError');
    raises('x.y', 'AttributeError', { x: {} });
    raises('a[', 'SyntaxError');
    raises('lambda: 1', 'SyntaxError');
  });

  test('only data is reachable: no prototypes, constructors or dunder names', () => {
    assert.throws(() => py('x.constructor', { x: {} }), /AttributeError/);
    assert.throws(() => py("x['__proto__']", { x: {} }), /KeyError/);
    assert.throws(() => py('x.__class__', { x: {} }), /AttributeError/);
    assert.throws(() => py("''.constructor"), /AttributeError/);
  });
});

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

  test('for … else, tuple targets, set with +=, autoescape None, apply, comments', () => {
    const out = render(
      [
        '{% set n = 1 %}{% set n += 2 %}{{ n }}',
        '{% for (i, (a, b)) in enumerate(pairs) %}[{{ i }}{{ a }}{{ b }}]{% else %}done{% end %}',
        '{# gone #}{% autoescape None %}{{ "<i>" }}',
        '{% apply squeeze %}a   b{% end %}',
        '{% comment ignored %}{{! literal }}',
      ].join('\n'),
      { pairs: [['x', 'y']] },
    );
    assert.equal(out, '3\n[0xy]done\n<i>\na b\n{{ literal }}');
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
    bad('\n{% whitespace none %}', 2, /takes all, single or oneline/);
  });
});
