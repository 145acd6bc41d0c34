// The Python expression evaluator of Tornado page templates, on its own:
// tokenizer, parser, evaluator and the errors each raises. Expected values are
// what CPython 3.11 gives for `str(eval(src))`, and for the helpers what
// tornado.escape 6.2 gives (checked with /usr/bin/python3 while these tests
// were written; the suite itself does not run Python).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RenderBudget, TemplateBudgetError } from '../render-budget.ts';
import { evaluate, iterate, parsePy, parseTarget, PyError, str, truthy } from './pyexpr.ts';

function py(src: string, context: Record<string, unknown> = {}): unknown {
  return evaluate(parsePy(src), { locals: undefined, context });
}

/** `str()` of the value, as `{{ src }}` prints it. */
function out(src: string, context: Record<string, unknown> = {}): string {
  return str(py(src, context));
}

/** Each `[source, what Python prints]` pair, one assertion each. */
function table(rows: Array<[string, string]>, context: Record<string, unknown> = {}): void {
  for (const [src, expected] of rows) assert.equal(out(src, context), expected, src);
}

function raises(src: string, type: string, message: RegExp, context = {}): void {
  assert.throws(
    () => py(src, context),
    (e: unknown) => e instanceof PyError && e.name === type && message.test(e.message),
    `${src} raises ${type} matching ${message}`,
  );
}

function syntax(src: string, message: RegExp): void {
  assert.throws(
    () => parsePy(src),
    (e: unknown) => e instanceof PyError && e.name === 'SyntaxError' && message.test(e.message),
    `${JSON.stringify(src)}: ${message}`,
  );
}

// The page's variables as databench 0.7 gave them to index.html.
const meta_infos = [
  { name: 'dummypi', title: 'Dummy π', thumbnail: 'thumbnail.png', show_in_index: true },
  { name: 'private', title: 'Private', thumbnail: null, show_in_index: false },
  { name: 'plain', title: 'Plain', thumbnail: null, show_in_index: true },
];

describe('every expression of databench 0.4–0.7 templates', () => {
  // all the Python that databench's own templates, test analyses, packaged
  // analyses and the example gallery held, from 0.4.0 to 0.7.2
  test('names and subscripts with a string', () => {
    const a = meta_infos[0];
    table(
      [
        ['title', 'T'],
        ['databench_version', '0.7.2'],
        ["a['name']", 'dummypi'],
        ["a['thumbnail']", 'thumbnail.png'],
      ],
      { title: 'T', databench_version: '0.7.2', a },
    );
  });

  test("globals().get('title', 'Databench')", () => {
    assert.equal(out("globals().get('title', 'Databench')", { title: 'T' }), 'T');
    assert.equal(out("globals().get('title', 'Databench')"), 'Databench');
    assert.equal(out("globals().get('description', '')", { description: null }), 'None');
    assert.equal(out("globals().get('favicon_url', '')"), '');
  });

  test('footer_html is None', () => {
    assert.equal(py('footer_html is None', { footer_html: null }), true);
    assert.equal(py('footer_html is None', { footer_html: '' }), false);
  });

  test("[aa for aa in meta_infos if aa['show_in_index']]", () => {
    const shown = py("[aa for aa in meta_infos if aa['show_in_index']]", { meta_infos });
    assert.deepEqual(shown, [meta_infos[0], meta_infos[2]], 'the same objects, filtered');
  });

  test('a string literal: {% raw "{{pi}}" %}', () => {
    assert.equal(py('"{{pi}}"'), '{{pi}}');
  });
});

describe('tokenizer and parser', () => {
  test('string literals: both quotes, escapes, prefixes, triple quotes, adjacent literals', () => {
    table([
      [`'a' "b"`, 'ab'],
      [`"it's"`, "it's"],
      [`'\\x41\\u00e9\\t|'`, 'Aé\t|'],
      [`'a\\'b'`, "a'b"],
      [`'\\d'`, '\\d'],
      [`'\\a\\b\\f\\v\\0'`, '\x07\b\f\v\0'],
      [`r'\\n'`, '\\n'],
      [`r'\\''`, "\\'"],
      [`u'x'`, 'x'],
      [`'''tri'ple'''`, "tri'ple"],
      [`"""a"b"""`, 'a"b'],
    ]);
  });

  test('number literals: integers and decimals, negative ones for indexes', () => {
    table([
      ['42', '42'],
      ['1.5', '1.5'],
      ['-1', '-1'],
      ['[1, 2, 3][-1]', '3'],
    ]);
  });

  test('precedence: not over comparisons, and over or, conditional expressions last', () => {
    table([
      ['not 1 == 2', 'True'],
      ['1 or 0 and 0', '1'],
      ['(1 or 0) and 0', '0'],
      ["'a' if 0 else 'b' if 0 else 'c'", 'c'],
      ["'a' if 1 or 0 else 'b'", 'a'],
    ]);
  });

  test('tuples and lists: (x,), (), trailing commas; loop targets nest', () => {
    table([
      ['(1, 2)', '[1, 2]'],
      ['(1,)', '[1]'],
      ['()', '[]'],
      ['[1, 2,]', '[1, 2]'],
      ['[[1], []]', '[[1], []]'],
    ]);
    assert.equal(parseTarget('x'), 'x');
    assert.deepEqual(parseTarget('k, v'), ['k', 'v']);
    assert.deepEqual(parseTarget('(i, (a, b))'), ['i', ['a', 'b']]);
    assert.deepEqual(parseTarget('(a, b), c'), [['a', 'b'], 'c']);
  });

  test('a parse is cached by its text: the same tree comes back', () => {
    assert.equal(parsePy("a['b']"), parsePy("a['b']"));
  });

  test('syntax errors name the column and the text there', () => {
    syntax('a[', /^unexpected token at the end \(column 3\) of "a\["$/);
    syntax(')', /^unexpected token at "\)" \(column 1\) of "\)"$/);
    syntax('(1, 2', /^expected "\)" at the end \(column 6\)/);
    syntax("'abc", /^unterminated string starting at column 1 of "'abc"$/);
    syntax("'\\x4'", /^truncated \\x escape at column 2/);
    syntax('a @ b', /^unexpected character "@" at column 3 of "a @ b"$/);
    syntax('1 if 2', /^expected "else" at the end \(column 7\)/);
    syntax('lambda: 1', /^lambda is not supported at "lambda: 1" \(column 1\)/);
    syntax('a b', /^unexpected text at "b" \(column 3\)/);
    syntax('[x for in y]', /^expected a loop variable at "in y\]" \(column 8\)/);
    syntax('[x for x y]', /^expected "in" at "y\]" \(column 10\)/);
    syntax('a[]', /^unexpected token at "\]" \(column 3\)/);
    syntax('x.', /^expected an attribute name at the end \(column 3\)/);
    syntax('x.1', /^expected an attribute name at "1" \(column 3\)/);
    syntax('f(a b)', /^expected "\)" at "b\)" \(column 5\)/);
    syntax('', /^empty expression$/);
    syntax('   ', /^empty expression$/);
    assert.throws(() => parseTarget('a +'), /unexpected text at "\+" \(column 3\)/);
    assert.throws(() => parseTarget('1'), /expected a loop variable at "1" \(column 1\)/);
  });

  test('the Python that computes is refused, with what to do', () => {
    const computes = /read and test the page’s data; compute values in the analysis/;
    for (const src of ["a + 'x'", '1 - 2', '2 * 3', '7 // 2', "'%s' % a", '2 ** 3', 'a | b'])
      syntax(src, /^the operator \S+ is not supported/);
    syntax('-a', /^the operator - is not supported .* at "-a" \(column 1\)/);
    syntax('~1', /^the operator ~ is not supported/);
    syntax("'hello'[1:3]", /^slices are not supported .* at ":3\]" \(column 10\)/);
    syntax('x[:1]', /^slices are not supported/);
    syntax("{'a': 1}", /^dict and set displays are not supported/);
    syntax('f(x=1)', /^keyword arguments are not supported at "x=1\)" \(column 3\)/);
    syntax("', '.join(x for x in y)", /^a comprehension here is not supported/);
    syntax('(x for x in y)', /^generator expressions are not supported/);
    syntax('[x for a in b for x in a]', /^a comprehension takes one "for" here/);
    syntax("b'x'", /^bytes literals are not supported at column 1/);
    syntax('0x1F', /^unexpected text at "x1F"/);
    syntax('x = 1', /^the operator = is not supported/);
    assert.throws(() => parsePy('a + 1'), computes);
  });
});

describe('Python semantics where JavaScript differs', () => {
  test('truthiness: empty list, dict and string are false; NaN, [0] and " " are not', () => {
    table([
      ['not []', 'True'],
      ['not ()', 'True'],
      ["not ''", 'True'],
      ['not 0', 'True'],
      ['not 0.0', 'True'],
      ['not None', 'True'],
      ['not [0]', 'False'],
      ['not [[]]', 'False'],
      ["not ' '", 'False'],
      ["not 'False'", 'False'],
    ]);
    assert.equal(py('not d', { d: {} }), true);
    assert.equal(py('not d', { d: { a: 0 } }), false);
    assert.equal(truthy(undefined), false);
    assert.equal(truthy(Number.NaN), true, "Python's float('nan') is true");
  });

  test('and/or return an operand, not a boolean', () => {
    table([
      ["0 or '' or [] or 'last'", 'last'],
      ["1 and 'x'", 'x'],
      ['[] and 1', '[]'],
      ['None or 0', '0'],
      ["'' or None", 'None'],
    ]);
  });

  test('and/or and conditional expressions evaluate only what they need', () => {
    table([
      ['1 or nope', '1'],
      ['0 and nope', '0'],
      ["'y' if 1 else nope", 'y'],
    ]);
    raises('0 or nope', 'NameError', /nope/);
  });

  test('comparisons chain, compare by value, and order lists element by element', () => {
    table([
      ['1 < 2 < 3', 'True'],
      ['1 < 3 < 2', 'False'],
      ['3 > 2 == 2', 'True'],
      ['1 == 1.0', 'True'],
      ['True == 1', 'True'],
      ['False == 0 == -0', 'True'],
      ["'a' < 'b' <= 'b'", 'True'],
      ["'B' < 'a'", 'True'],
      ['[1, 2] < [1, 3]', 'True'],
      ['[1, 2] < [1, 2, 0]', 'True'],
      ["[1, 'a'] != [1, 'a']", 'False'],
      ['None == None', 'True'],
      ["None == ''", 'False'],
      ["0 == ''", 'False'],
      ["'1' == 1", 'False'],
    ]);
    assert.equal(py('a == b', { a: { x: [1] }, b: { x: [1] } }), true, 'dicts by value');
    assert.equal(py('a != b', { a: { x: 1 }, b: { y: 1 } }), true);
  });

  test('a chain stops at the first false comparison', () => {
    assert.equal(py('2 < 1 < nope'), false);
  });

  test('in: substring, list member by value, dict key', () => {
    table([
      ["'b' in 'abc'", 'True'],
      ["'' in 'abc'", 'True'],
      ["'ac' in 'abc'", 'False'],
      ['2 not in [1, 3]', 'True'],
      ['[1] in [[1], 2]', 'True'],
      ['1 in [True]', 'True'],
      ["'x' not in ('x', 'y')", 'False'],
    ]);
    assert.equal(py("'k' in d", { d: { k: 0 } }), true);
    assert.equal(py('0 in d', { d: { k: 0 } }), false, 'the value is not a key');
    assert.equal(py("'toString' in d", { d: {} }), false, 'nor a prototype name');
  });

  test('is None: null and undefined are both None; 0, False and empty are not', () => {
    table([
      ['None is None', 'True'],
      ['None is not None', 'False'],
      ['0 is None', 'False'],
      ['False is None', 'False'],
      ["'' is not None", 'True'],
    ]);
    assert.equal(py('x is None', { x: null }), true);
    assert.equal(py('x[0] is None', { x: [undefined] }), true);
    assert.equal(py('x is not None', { x: 0 }), true);
    assert.equal(py('not x is None', { x: 1 }), true);
  });

  test('indexes: negative ones count from the end', () => {
    table([
      ["'hello'[1]", 'e'],
      ["'hello'[-1]", 'o'],
      ["'π!'[0]", 'π'],
      ["'😀!'[1]", '!'],
      ["'😀!'[-2]", '😀'],
      ["'ab'[True]", 'b'],
    ]);
    table(
      [
        ["a['tags'][-1]", 'z'],
        ["a['tags'][0]", 'x'],
        ["a['n']['m']", 'deep'],
      ],
      { a: { tags: ['x', 'y', 'z'], n: { m: 'deep' } } },
    );
  });

  test('str() of values as Python prints them: lists show repr of their items', () => {
    table([
      ['None', 'None'],
      ['True', 'True'],
      ['1.5', '1.5'],
      ["[1, 'a', None, True, ['x']]", "[1, 'a', None, True, ['x']]"],
      [`["it's", 'a"b\\'c', '\\\\', 'a\\rb']`, `["it's", 'a"b\\'c', '\\\\', 'a\\rb']`],
    ]);
    assert.equal(out('d', { d: { k: "it's" } }), `{'k': "it's"}`);
    assert.equal(out('x', { x: Number.NaN }), 'nan');
    assert.equal(out('x', { x: -Infinity }), '-inf');
  });

  test('comprehensions: one for, any ifs, tuple targets; a string iterates by character', () => {
    table(
      [
        ["[aa['name'] for aa in meta_infos if aa['show_in_index']]", "['dummypi', 'plain']"],
        ["[a['name'] for a in meta_infos if a['show_in_index'] if a['thumbnail']]", "['dummypi']"],
        ["[a['title'] for a in meta_infos if not a['thumbnail']]", "['Private', 'Plain']"],
        ['[k for k, v in d.items() if v]', "['b']"],
        ['[[v, k] for (k, v) in d.items()]', "[[0, 'a'], [2, 'b']]"],
        ['[c for c in "ab"]', "['a', 'b']"],
        ['[k for k in d]', "['a', 'b']"],
        ['[[x for x in y] for y in [[1], [2, 3]]]', '[[1], [2, 3]]'],
      ],
      { meta_infos, d: { a: 0, b: 2 } },
    );
  });

  test('a comprehension variable shadows the page variable inside, and does not leak', () => {
    assert.equal(out('[[x for x in [2]], x]', { x: 1 }), '[[2], 1]');
  });

  test('where JavaScript values cannot be Python ones: tuples are lists, 3.0 is 3', () => {
    // Python prints (0, 'a'), False, 3.0 and dict_keys(['a']): here there are
    // no tuples, one number type and no dict views
    table([
      ["[(0, 'a')]", "[[0, 'a']]"],
      ['(1, 2) == [1, 2]', 'True'],
      ['3.0', '3'],
    ]);
    assert.equal(out('d.keys()', { d: { a: 1 } }), "['a']");
  });
});

describe("dict methods, globals() and Tornado's helpers", () => {
  test('get, keys, values, items', () => {
    table(
      [
        ["d.get('a')", '1'],
        ["d.get('z')", 'None'],
        ["d.get('z', 2)", '2'],
        ['d.get(1)', 'None'],
        ['[k for k in d.keys()]', "['a', 'b']"],
        ['[v for v in d.values()]', '[1, None]'],
        ['[[k, v] for k, v in d.items()]', "[['a', 1], ['b', None]]"],
      ],
      { d: { a: 1, b: null } },
    );
  });

  test('globals() is the page’s variables', () => {
    assert.equal(out("globals()['x']", { x: 'v' }), 'v');
    assert.equal(py("'x' in globals()", { x: 'v' }), true);
    // Tornado's globals() also held its helpers; nothing used that
    assert.equal(py("'escape' in globals()"), false, 'only the variables the page was given');
  });

  test('escape, xhtml_escape, url_escape, json_encode, squeeze as tornado.escape', () => {
    table([
      [`escape('<a href="x">&\\'\\\\</a>')`, '&lt;a href=&quot;x&quot;&gt;&amp;&#39;\\&lt;/a&gt;'],
      ["xhtml_escape('<>')", '&lt;&gt;'],
      [`url_escape("a b/c?d=e&f!'()*~._-é")`, 'a+b%2Fc%3Fd%3De%26f%21%27%28%29%2A~._-%C3%A9'],
      [
        `url_escape("a b/c?d=e&f!'()*~._-é", False)`,
        'a%20b/c%3Fd%3De%26f%21%27%28%29%2A~._-%C3%A9',
      ],
      ["squeeze('\\x01 a \\n\\t\\x1f b  ')", 'a b'],
    ]);
    assert.equal(
      out('json_encode(x)', { x: { a: [1, null, true, 'é</script>"\\\n'], b: {} } }),
      '{"a": [1, null, true, "\\u00e9<\\/script>\\"\\\\\\n"], "b": {}}',
    );
  });

  test('helpers check what they are given', () => {
    raises('escape(None)', 'TypeError', /^escape\(\) expects a str, got 'NoneType'$/);
    raises('squeeze(1)', 'TypeError', /expects a str, got 'int'/);
    raises('url_escape()', 'TypeError', /^url_escape\(\) takes 1 to 2 arguments \(0 given\)$/);
    raises("escape('a', 'b')", 'TypeError', /^escape\(\) takes 1 argument \(2 given\)$/);
    raises('d.get()', 'TypeError', /get\(\) takes 1 to 2 arguments/, { d: {} });
    raises('d.keys(1)', 'TypeError', /keys\(\) takes 0 arguments \(1 given\)/, { d: {} });
    raises('json_encode(f)', 'TypeError', /not JSON serializable/, { f: () => 1 });
  });
});

describe('runtime errors carry the Python exception name', () => {
  test('lookups', () => {
    raises('nope', 'NameError', /^name 'nope' is not defined$/);
    raises('x', 'NameError', /^name 'x' is not defined$/, { x: undefined });
    raises("d['k']", 'KeyError', /^'k'$/, { d: {} });
    raises('d[1]', 'KeyError', /^1$/, { d: { '1': 'a' } });
    raises('[][0]', 'IndexError', /^list index out of range$/);
    raises("'abc'[-4]", 'IndexError', /^string index out of range$/);
    raises("'abc'['x']", 'TypeError', /^string indices must be integers, not 'str'$/);
    raises('[1][1.5]', 'TypeError', /^list indices must be integers, not 'float'$/);
    raises('None[0]', 'TypeError', /^'NoneType' object is not subscriptable$/);
    raises('x.y', 'AttributeError', /^'dict' object has no attribute 'y' \(page templates/, {
      x: {},
    });
    raises('5()', 'TypeError', /^'int' object is not callable$/);
    raises('x()', 'TypeError', /^'function' object is not callable$/, { x: () => 1 });
  });

  test("Python's builtins and methods are missing, and the error says why", () => {
    raises('len(x)', 'NameError', /^name 'len' is not defined: Python's builtins are not/, {
      x: [],
    });
    raises("''.upper()", 'AttributeError', /^'str' object has no attribute 'upper' \(page/);
    raises('[].count(1)', 'AttributeError', /'list' object has no attribute 'count'/);
  });

  test('comparisons', () => {
    raises("1 < 'a'", 'TypeError', /^'<' not supported between instances of 'int' and 'str'$/);
    raises('None < 1', 'TypeError', /'NoneType' and 'int'/);
    raises("1 in 'abc'", 'TypeError', /^'in <string>' requires string as left operand, not int$/);
    raises("'a' in 5", 'TypeError', /^argument of type 'int' is not iterable$/);
  });

  test('iteration and unpacking', () => {
    raises('[x for x in 5]', 'TypeError', /^'int' object is not iterable$/);
    raises('[x for x in None]', 'TypeError', /^'NoneType' object is not iterable$/);
    raises(
      '[a for a, b in [[1, 2, 3]]]',
      'ValueError',
      /^too many values to unpack \(expected 2\)$/,
    );
    raises(
      '[a for a, b, c in [[1, 2]]]',
      'ValueError',
      /^not enough values to unpack \(expected 3, got 2\)$/,
    );
    assert.deepEqual(iterate({ a: 1, b: 2 }), ['a', 'b'], 'a dict iterates over its keys');
    assert.throws(() => iterate(new Set([1])), /'object' object is not iterable/);
  });
});

describe('only data is reachable', () => {
  test('no prototypes, constructors, dunder names or functions of the page', () => {
    raises('x.constructor', 'AttributeError', /no attribute 'constructor'/, { x: {} });
    raises('x.__class__', 'AttributeError', /no attribute '__class__'/, { x: {} });
    raises("x['__proto__']", 'KeyError', /__proto__/, { x: {} });
    raises("x['constructor']", 'KeyError', /constructor/, { x: {} });
    raises("''.constructor", 'AttributeError', /no attribute 'constructor'/);
    raises('[].map', 'AttributeError', /no attribute 'map'/);
    raises("x['length']", 'TypeError', /indices must be integers/, { x: [] });
    raises('x.name', 'AttributeError', /no attribute 'name'/, { x: { name: 'a dict key' } });
    raises('constructor', 'NameError', /not defined/);
    raises('hasOwnProperty', 'NameError', /not defined/);
    raises("d['k']", 'TypeError', /'object' object is not subscriptable/, {
      d: Object.create({ k: 'inherited' }) as object,
    });
    raises("d.get('k')", 'AttributeError', /'object' object has no attribute 'get'/, {
      d: new (class {
        k = 1;
      })(),
    });
  });

  test('a variable holding a function or an instance prints as its kind and is never called', () => {
    let called = false;
    const f = (): void => {
      called = true;
    };
    assert.equal(out('f', { f }), '<function>');
    assert.equal(out('o', { o: new Date(0) }), '<object>');
    raises('f()', 'TypeError', /not callable/, { f });
    assert.equal(called, false);
  });
});

describe('the render budget', () => {
  const run = (
    src: string,
    context: Record<string, unknown>,
    steps: number,
    chars = 1e9,
  ): unknown =>
    evaluate(parsePy(src), {
      locals: undefined,
      context,
      budget: new RenderBudget({ steps, chars, timeMs: Infinity }),
    });
  const xs = Array.from({ length: 100 }, (_, i) => i);

  test('a comprehension counts its nodes and items: nested ones run out, whatever they build', () => {
    // [x for x in xs]: the node, the name, 100 items, and the name of each
    assert.equal((run('[x for x in xs]', { xs }, 202) as unknown[]).length, 100);
    assert.throws(() => run('[x for x in xs]', { xs }, 150), TemplateBudgetError);
    assert.throws(
      () => run('[1 for a in xs if [1 for b in xs if [1 for c in xs if False]]]', { xs }, 100_000),
      /took more than 100000 steps/,
    );
  });

  test('iterating and indexing a string, "in", ==, .keys() count their items', () => {
    const s = 'x'.repeat(1000);
    assert.throws(() => run('[c for c in s]', { s }, 500), TemplateBudgetError);
    assert.throws(() => run('s[999]', { s }, 500), TemplateBudgetError);
    assert.throws(() => run("'y' in s", { s }, 500), TemplateBudgetError);
    const big = Array.from({ length: 1000 }, () => 0);
    assert.throws(() => run('a == b', { a: big, b: [...big] }, 500), TemplateBudgetError);
    const d = Object.fromEntries(big.map((_, i) => [`k${i}`, i]));
    assert.throws(() => run('d.keys()', { d }, 500), TemplateBudgetError);
    assert.deepEqual(run('d.keys()', { d }, 2000), Object.keys(d));
  });

  test('printing a list counts the characters it builds', () => {
    const s = 'x'.repeat(1000);
    const b = new RenderBudget({ steps: 1e9, chars: 50_000, timeMs: Infinity });
    const list = run('[s for a in xs]', { s, xs }, 1e9);
    assert.throws(() => str(list, b), /built more than 50000 characters/);
    assert.equal(
      str(['a', 'b'], new RenderBudget({ steps: 10, chars: 10, timeMs: 1 })),
      "['a', 'b']",
    );
  });
});
