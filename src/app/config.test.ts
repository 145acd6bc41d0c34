import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  ANALYSES_KEYS,
  ENTRY_KEYS,
  nearestKey,
  normalizeIndexConfig,
  parseIndexYaml,
  readIndexYaml,
  staticPattern,
  unknownKeyWarning,
} from './config.ts';

/** The messages of the errors collected for `parsed`. */
function errorsOf(parsed: unknown): string[] {
  return normalizeIndexConfig(parsed).errors.map((e) => e.message);
}

describe('index.yaml: folder-level keys', () => {
  test('allow: one name or a list, at the top and per analysis; a bad rule allows nobody', () => {
    const config = normalizeIndexConfig({
      allow: 'group:analysts',
      analyses: [
        { name: 'a', allow: ['alice@example.com', 'group:admins'] },
        { name: 'b' },
        { name: 'c', allow: 42 },
        { name: 'd', allow: [] },
      ],
    });
    assert.deepEqual(config.analyses.allow, ['group:analysts']);
    assert.deepEqual(
      config.entries?.map((e) => e.allow),
      [['alice@example.com', 'group:admins'], undefined, [], []],
    );
    assert.equal(config.errors.length, 1);
    assert.match(
      config.errors[0]?.message ?? '',
      /analysis "c": allow must be .* nobody may open it/,
    );
  });

  test('no index.yaml: every default, no list, no error', () => {
    const config = normalizeIndexConfig(undefined);
    assert.deepEqual(config, {
      analyses: {
        title: 'databench',
        description: '',
        author: '',
        version: '',
        static: [],
        build: undefined,
        watch: [],
        datastore: undefined,
        allow: undefined,
        oidc: undefined,
        secret: undefined,
        authErrors: [],
        unknownKeys: [],
      },
      entries: undefined,
      errors: [],
      readable: true,
    });
  });

  test('every key read', () => {
    const config = normalizeIndexConfig({
      title: 'Demos',
      description: 'Some analyses',
      author: 'Sven',
      version: 1.5,
      static: { '^/assets/(.*)$': 'assets', 'static/(d3\\.js)': 'node_modules/d3/' },
      build: 'npm run build',
      watch: 'shared/*.ts',
      datastore: 'redis://127.0.0.1:6379/0',
      analyses: ['hello'],
    });
    assert.deepEqual(config.errors, []);
    const a = config.analyses;
    assert.equal(a.title, 'Demos');
    assert.equal(a.description, 'Some analyses');
    assert.equal(a.author, 'Sven');
    assert.equal(a.version, '1.5', 'a YAML number is taken as its digits');
    assert.deepEqual(
      a.static.map(([pattern, folder]) => [pattern.source, folder]),
      [
        ['^\\/assets\\/(.*)$', 'assets'],
        ['^\\/static\\/(d3\\.js)$', 'node_modules/d3/'],
      ],
    );
    assert.equal(a.build, 'npm run build');
    assert.deepEqual(a.watch, ['shared/*.ts']);
    assert.equal(a.datastore, 'redis://127.0.0.1:6379/0');
    assert.deepEqual(
      config.entries?.map((e) => e.name),
      ['hello'],
    );
    // a list of static maps and of globs
    const lists = normalizeIndexConfig({
      static: [{ 'a/(.*)': 'a' }, { 'b/(.*)': 'b' }],
      watch: ['x', 'y'],
    });
    assert.equal(lists.analyses.static.length, 2);
    assert.deepEqual(lists.analyses.watch, ['x', 'y']);
  });

  test('a key with a value of the wrong type: an error naming key and value, and the default', () => {
    const config = normalizeIndexConfig({
      title: ['a'],
      description: { x: 1 },
      author: true,
      build: 3,
      watch: 7,
      datastore: 6379,
    });
    assert.deepEqual(
      config.errors.map((e) => [e.name, e.message]),
      [
        ['index.yaml', 'index.yaml: title must be a string, got ["a"]'],
        ['index.yaml', 'index.yaml: description must be a string, got {"x":1}'],
        ['index.yaml', 'index.yaml: author must be a string, got true'],
        ['index.yaml', 'index.yaml: build must be a string, got 3'],
        ['index.yaml', 'index.yaml: watch must be a glob or a list of globs, got 7'],
        ['index.yaml', 'index.yaml: datastore must be a string, got 6379'],
      ],
    );
    assert.equal(config.analyses.title, 'databench');
    assert.equal(config.analyses.description, '');
    assert.equal(config.analyses.build, undefined);
    assert.deepEqual(config.analyses.watch, []);
    assert.equal(config.analyses.datastore, undefined);
    assert.equal(config.readable, true);
  });

  test('static: a bad regex, a folder that is not a path, a value that is not a mapping', () => {
    assert.deepEqual(errorsOf({ static: { '^/(x': 'x' } }), [
      'static: bad regex ^/(x: Invalid regular expression: /^/(x/: Unterminated group',
    ]);
    assert.deepEqual(errorsOf({ static: { '^/a/(.*)$': 5 } }), [
      'index.yaml: static ^/a/(.*)$ must map to a folder, got 5',
    ]);
    assert.match(errorsOf({ static: 'assets' })[0] ?? '', /static must be a mapping/);
    // the good ones of a map are kept
    const config = normalizeIndexConfig({ static: { '^/(x': 'x', '^/y/(.*)$': 'y' } });
    assert.equal(config.analyses.static.length, 1);
  });

  test('watch: strings of a list with other values are kept, and the rest is an error', () => {
    const config = normalizeIndexConfig({ watch: ['a', 1, 'b'] });
    assert.deepEqual(config.analyses.watch, ['a', 'b']);
    assert.equal(config.errors.length, 1);
  });

  test('unknown top-level keys are collected, not errors', () => {
    const config = normalizeIndexConfig({ title: 'x', titel: 'typo', tornado: {} });
    assert.deepEqual(config.analyses.unknownKeys, ['titel', 'tornado']);
    assert.deepEqual(config.errors, []);
  });

  test('not a mapping, or not YAML: an error, nothing read', () => {
    const list = normalizeIndexConfig(['a']);
    assert.deepEqual(
      list.errors.map((e) => e.message),
      ['index.yaml must be a mapping'],
    );
    assert.equal(list.readable, false);
    const broken = parseIndexYaml('title: [unclosed\n');
    assert.equal(broken.readable, false);
    assert.match(broken.errors[0]?.message ?? '', /^index\.yaml: /);
    // an empty file is no settings
    assert.deepEqual(parseIndexYaml('').errors, []);
    assert.equal(parseIndexYaml('').readable, true);
  });
});

describe('index.yaml: analysis entries', () => {
  test('a name alone, or a mapping with every key', () => {
    const config = normalizeIndexConfig({
      analyses: [
        'hello',
        {
          name: 'pi',
          title: 'Pi',
          description: 'Monte Carlo',
          show_in_index: false,
          kernel: 'worker',
          threads: 2,
          memory_mb: 256,
          watch: ['data/*.csv'],
          build: 'make',
          resume_on_reload: false,
        },
        {
          name: 'py',
          kernel: 'py',
          processes: 3,
          python: '/usr/bin/python3',
          load_timeout: 2.5,
        },
      ],
    });
    assert.deepEqual(config.errors, []);
    assert.deepEqual(config.entries, [
      {
        name: 'hello',
        title: 'hello',
        description: '',
        showInIndex: true,
        kernel: undefined,
        threads: undefined,
        memoryMb: undefined,
        processes: undefined,
        python: undefined,
        loadTimeoutMs: undefined,
        watch: [],
        build: undefined,
        resumeOnReload: true,
        allow: undefined,
        unknownKeys: [],
        error: undefined,
      },
      {
        name: 'pi',
        title: 'Pi',
        description: 'Monte Carlo',
        showInIndex: false,
        kernel: 'worker',
        threads: 2,
        memoryMb: 256,
        processes: undefined,
        python: undefined,
        loadTimeoutMs: undefined,
        watch: ['data/*.csv'],
        build: 'make',
        resumeOnReload: false,
        allow: undefined,
        unknownKeys: [],
        error: undefined,
      },
      {
        name: 'py',
        title: 'py',
        description: '',
        showInIndex: true,
        kernel: 'py',
        threads: undefined,
        memoryMb: undefined,
        processes: 3,
        python: '/usr/bin/python3',
        loadTimeoutMs: 2500,
        watch: [],
        build: undefined,
        resumeOnReload: true,
        allow: undefined,
        unknownKeys: [],
        error: undefined,
      },
    ]);
  });

  test('a name that is not an identifier, or is reserved, or is missing: an error, no entry', () => {
    const config = normalizeIndexConfig({
      analyses: ['my-analysis', { name: 'static' }, { title: 'no name' }, 42, 'ok'],
    });
    assert.deepEqual(
      config.entries?.map((e) => e.name),
      ['ok'],
    );
    assert.deepEqual(
      config.errors.map((e) => e.name),
      ['my-analysis', 'static', 'analyses[2]', 'analyses[3]'],
    );
    assert.equal(
      config.errors[0]?.message,
      'index.yaml: analyses[0] needs a "name" that is an identifier (letters, digits, _) and not reserved; got "my-analysis"',
    );
  });

  test('a name listed twice: an error, the first one kept', () => {
    const config = normalizeIndexConfig({ analyses: [{ name: 'a', title: 'first' }, 'a'] });
    assert.deepEqual(
      config.entries?.map((e) => e.title),
      ['first'],
    );
    assert.deepEqual(config.errors, [
      { name: 'a', message: 'index.yaml: analysis "a" is listed twice' },
    ]);
  });

  test('threads, processes, python, load_timeout it cannot use: the entry carries the error (it fails to load)', () => {
    const entries = normalizeIndexConfig({
      analyses: [
        { name: 'a', threads: 0 },
        { name: 'b', threads: 1.5 },
        { name: 'c', processes: 'many' },
        { name: 'd', python: '' },
        { name: 'e', python: 3 },
        { name: 'f', load_timeout: 0 },
        { name: 'g', load_timeout: '30s' },
      ],
    }).entries;
    assert.deepEqual(
      entries?.map((e) => e.error),
      [
        'index.yaml: analysis "a": threads must be a whole number of at least 1, got 0',
        'index.yaml: analysis "b": threads must be a whole number of at least 1, got 1.5',
        'index.yaml: analysis "c": processes must be a whole number of at least 1, got "many"',
        'index.yaml: analysis "d": python must be the path or name of an interpreter, got ""',
        'index.yaml: analysis "e": python must be the path or name of an interpreter, got 3',
        'index.yaml: analysis "f": load_timeout must be a number of seconds above 0, got 0',
        'index.yaml: analysis "g": load_timeout must be a number of seconds above 0, got "30s"',
      ],
    );
    assert.deepEqual(
      entries?.map((e) => [e.threads, e.processes, e.python, e.loadTimeoutMs]),
      [
        [undefined, undefined, undefined, undefined],
        [undefined, undefined, undefined, undefined],
        [undefined, undefined, undefined, undefined],
        [undefined, undefined, undefined, undefined],
        [undefined, undefined, undefined, undefined],
        [undefined, undefined, undefined, undefined],
        [undefined, undefined, undefined, undefined],
      ],
    );
  });

  test('other keys of the wrong type: an error naming the analysis, and the default', () => {
    const config = normalizeIndexConfig({
      analyses: [
        {
          name: 'a',
          title: ['x'],
          description: {},
          show_in_index: 'no',
          kernel: 1,
          watch: { x: 1 },
          build: false,
        },
      ],
    });
    assert.deepEqual(
      config.errors.map((e) => [e.name, e.message]),
      [
        ['a', 'index.yaml: analysis "a": title must be a string, got ["x"]'],
        ['a', 'index.yaml: analysis "a": description must be a string, got {}'],
        ['a', 'index.yaml: analysis "a": show_in_index must be true or false, got "no"'],
        ['a', 'index.yaml: analysis "a": kernel must be a string, got 1'],
        ['a', 'index.yaml: analysis "a": watch must be a glob or a list of globs, got {"x":1}'],
        ['a', 'index.yaml: analysis "a": build must be a string, got false'],
      ],
    );
    const entry = config.entries?.[0];
    assert.equal(entry?.title, 'a');
    assert.equal(entry?.showInIndex, true);
    assert.equal(entry?.kernel, undefined);
    assert.equal(entry?.error, undefined, 'it still loads');
  });

  test('unknown keys of an entry are collected, each with the known key it may be a typo of', () => {
    const config = normalizeIndexConfig({ analyses: [{ name: 'a', thread: 2, memory_mb: 64 }] });
    assert.deepEqual(config.entries?.[0]?.unknownKeys, ['thread']);
    assert.equal(config.entries?.[0]?.memoryMb, 64);
    assert.deepEqual(config.errors, []);
    assert.equal(nearestKey('thread', ENTRY_KEYS), 'threads');
    assert.equal(nearestKey('memory_md', ENTRY_KEYS), 'memory_mb');
    assert.equal(nearestKey('Kernel', ENTRY_KEYS), 'kernel');
    assert.equal(nearestKey('colour', ENTRY_KEYS), undefined);
    assert.equal(
      unknownKeyWarning('index.yaml: analysis "a"', 'thread', ENTRY_KEYS),
      'index.yaml: analysis "a": unknown key "thread" is ignored (did you mean "threads"?)',
    );
    assert.equal(
      unknownKeyWarning('index.yaml', 'colour', ANALYSES_KEYS),
      'index.yaml: unknown key "colour" is ignored',
    );
  });

  test('memory_mb is a whole number of at least 16', () => {
    const config = normalizeIndexConfig({
      analyses: [
        { name: 'a', memory_mb: 8 },
        { name: 'b', memory_mb: '64' },
      ],
    });
    assert.deepEqual(
      config.entries?.map((e) => [e.memoryMb, e.error]),
      [
        [
          undefined,
          'index.yaml: analysis "a": memory_mb must be a whole number of at least 16, got 8',
        ],
        [
          undefined,
          'index.yaml: analysis "b": memory_mb must be a whole number of at least 16, got "64"',
        ],
      ],
    );
  });

  test('analyses that is not a list: an error, and every folder is served', () => {
    const config = normalizeIndexConfig({ analyses: { hello: {} } });
    assert.equal(config.entries, undefined);
    assert.match(config.errors[0]?.message ?? '', /analyses must be a list/);
  });
});

test('the key lists are exactly the keys read', () => {
  assert.equal(new Set(ANALYSES_KEYS).size, ANALYSES_KEYS.length);
  assert.equal(new Set(ENTRY_KEYS).size, ENTRY_KEYS.length);
  // a mapping that records every key looked up
  const recording = (read: Set<string>, values: Record<string, unknown>): object =>
    new Proxy(
      {},
      {
        get: (_target, key) => {
          if (typeof key === 'string') read.add(key);
          return typeof key === 'string' ? values[key] : undefined;
        },
      },
    );
  const topRead = new Set<string>();
  const entryRead = new Set<string>();
  const entry = recording(entryRead, { name: 'a' });
  normalizeIndexConfig(recording(topRead, { analyses: [entry] }));
  assert.deepEqual([...topRead].sort(), [...ANALYSES_KEYS].sort());
  assert.deepEqual([...entryRead].sort(), [...ENTRY_KEYS].sort());
  // and none of them is reported as unknown
  const top = Object.fromEntries(ANALYSES_KEYS.map((k) => [k, undefined]));
  assert.deepEqual(normalizeIndexConfig(top).analyses.unknownKeys, []);
  const item = Object.fromEntries(ENTRY_KEYS.map((k) => [k, k === 'name' ? 'a' : undefined]));
  assert.deepEqual(normalizeIndexConfig({ analyses: [item] }).entries?.[0]?.unknownKeys, []);
});

test('staticPattern: ^… as written; otherwise anchored after the leading / as 0.7 did', () => {
  assert.ok(staticPattern('^/assets/(.*)$').test('/assets/x.js'));
  assert.ok(staticPattern('static/(.*)').test('/static/a/b.css'));
  assert.ok(!staticPattern('static/(.*)').test('/x/static/a.css'));
  assert.equal(staticPattern('/node_modules/(x\\.txt)').source, '^\\/node_modules\\/(x\\.txt)$');
});

test('readIndexYaml: the text and its config; a folder without one has the defaults', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'databench-config-'));
  try {
    const none = await readIndexYaml(dir);
    assert.equal(none.text, undefined);
    assert.equal(none.config.analyses.title, 'databench');
    await writeFile(join(dir, 'index.yaml'), 'title: Mine\nanalyses:\n  - hello\n');
    const some = await readIndexYaml(dir);
    assert.equal(some.text, 'title: Mine\nanalyses:\n  - hello\n');
    assert.equal(some.config.analyses.title, 'Mine');
    assert.deepEqual(
      some.config.entries?.map((e) => e.name),
      ['hello'],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

describe('index.yaml: the OpenID login (oidc, secret)', () => {
  test('every key read and normalised; secrets as { env: NAME } or the value', () => {
    const config = normalizeIndexConfig({
      oidc: {
        issuer: 'https://id.example.com/realms/team',
        client_id: 12345,
        client_secret: { env: 'TEAM_OIDC_SECRET' },
        public_url: 'https://databench.example.com',
        scope: 'openid email',
        groups_claim: 'roles',
        session_max_age: 3600,
      },
      secret: 'a-secret-written-in-the-file-itself',
    });
    assert.deepEqual(config.errors, []);
    assert.deepEqual(config.analyses.oidc, {
      issuer: 'https://id.example.com/realms/team',
      clientId: '12345',
      clientSecret: { env: 'TEAM_OIDC_SECRET' },
      publicUrl: 'https://databench.example.com',
      scope: 'openid email',
      groupsClaim: 'roles',
      sessionMaxAgeMs: 3_600_000,
    });
    assert.deepEqual(config.analyses.secret, { value: 'a-secret-written-in-the-file-itself' });
    assert.deepEqual(config.analyses.authErrors, []);
    const none = normalizeIndexConfig({ title: 'x' }).analyses;
    assert.equal(none.oidc, undefined);
    assert.equal(none.secret, undefined);
  });

  test('a bad value is an error naming index.yaml and the key, kept apart as an auth error', () => {
    const config = normalizeIndexConfig({
      oidc: {
        issuer: 'id.example.com',
        client_id: ['x'],
        client_secret: 42,
        public_url: 'ftp://x',
        scope: 'email profile',
        groups_claim: '',
        session_max_age: 0,
        client_secert: 'typo',
      },
      secret: { env: 'not a name' },
    });
    const messages = config.analyses.authErrors;
    assert.deepEqual(
      config.errors.map((e) => e.message),
      messages,
    );
    assert.ok(config.errors.every((e) => e.name === 'index.yaml'));
    const expected = [
      /^index\.yaml: oidc has an unknown key "client_secert" \(did you mean "client_secret"\?\)$/,
      /^index\.yaml: oidc\.issuer must be an http\(s\) URL \(the provider's issuer\), got "id\.example\.com"$/,
      /^index\.yaml: oidc\.client_id must be a string .*got \["x"\]$/,
      /^index\.yaml: oidc\.client_secret must be \{ env: NAME \} .*got a number$/,
      /^index\.yaml: oidc\.public_url must be an http\(s\) URL .*got "ftp:\/\/x"$/,
      /^index\.yaml: oidc\.scope must be .* includes openid, got "email profile"$/,
      /^index\.yaml: oidc\.groups_claim must be the name of a claim, got ""$/,
      /^index\.yaml: oidc\.session_max_age must be a number of seconds of at least 1, got 0$/,
      /^index\.yaml: secret must be \{ env: NAME \} .*got \{"env":"not a name"\}$/,
    ];
    assert.equal(messages.length, expected.length, messages.join('\n'));
    for (const [i, pattern] of expected.entries()) assert.match(messages[i] ?? '', pattern);
    assert.match(
      normalizeIndexConfig({ oidc: 'https://id.example.com' }).analyses.authErrors[0] ?? '',
      /^index\.yaml: oidc must be a mapping/,
    );
  });

  test('a secret that cannot be read is never part of the message', () => {
    const messages = normalizeIndexConfig({
      secret: 1234567890123456,
      oidc: { issuer: 'https://id.example.com', client_secret: { value: 'hunter2-hunter2' } },
    }).analyses.authErrors;
    assert.equal(messages.length, 2, messages.join('\n'));
    for (const m of messages) {
      assert.ok(!m.includes('1234567890') && !m.includes('hunter2'), m);
    }
  });
});
