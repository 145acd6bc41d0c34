// docs/reference/cli.md stays complete: every flag, command and environment
// variable that `databench --help` prints is documented there, and every
// option row of the page is one the command has.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { databench, within } from '../helpers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** What `databench --help` prints (the real CLI, from source). */
async function usageText(): Promise<string> {
  const run = databench(['--help']);
  // 'close', not 'exit': the output has been read to its end
  const code = await within(
    new Promise<number | null>((resolve) => run.child.on('close', resolve)),
    30_000,
    'databench --help',
  );
  assert.equal(code, 0, `databench --help failed:\n${run.stderr}`);
  return run.stdout;
}

/** Whether `token` occurs in `text` as a whole word (`--python` is not found in `--python-path`). */
function mentions(text: string, token: string): boolean {
  const escaped = token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?<![\\w-])${escaped}(?![\\w-])`).test(text);
}

/** The flags, commands and environment variables a usage text names. */
function usageTerms(usage: string): string[] {
  const flags = usage.match(/(?<![\w-])--[a-z][a-z0-9-]*/g) ?? [];
  // `databench new NAME`, `databench test [FILE...]`: the word after the command name
  const commands = [...usage.matchAll(/^\s*(?:Usage:\s*)?databench ([a-z][a-z-]*)\b/gm)].map(
    (m) => `databench ${m[1] ?? ''}`,
  );
  const aliases = usage.match(/\b[a-z]+-databench\b/g) ?? [];
  const env = [...usage.matchAll(/\benv ([A-Z][A-Z0-9_]+)/g)].map((m) => m[1] ?? '');
  return [...new Set([...flags, ...commands, ...aliases, ...env])];
}

/** The terms of `usage` that `docs` does not mention. */
function undocumented(usage: string, docs: string): string[] {
  return usageTerms(usage).filter((term) => !mentions(docs, term));
}

test('every flag, command and environment variable of `databench --help` is in docs/reference/cli.md', async () => {
  const [usage, docs] = await Promise.all([
    usageText(),
    readFile(join(ROOT, 'docs/reference/cli.md'), 'utf8'),
  ]);
  const terms = usageTerms(usage);
  // the usage names its options: a parse that finds none would make this test pass vacuously
  assert.ok(terms.includes('--port') && terms.includes('databench new'), terms.join(' '));
  assert.ok(terms.length >= 20, `only ${terms.length} terms found in the usage:\n${usage}`);
  assert.deepEqual(
    undocumented(usage, docs),
    [],
    'add these to docs/reference/cli.md (the synopsis, the commands or the options table)',
  );
});

test('the completeness check reports a flag, a command and a variable the docs lack', () => {
  const usage = [
    'Usage: databench [options]',
    '       databench frobnicate NAME   a new command',
    '  --port PORT           port (env PORT; default 5000)',
    '  --brand-new FLAG      not documented yet (env DATABENCH_NEW)',
  ].join('\n');
  const docs = '`databench` serves; `--port PORT` (env `PORT`) and `--brand-newer`.';
  assert.deepEqual(undocumented(usage, docs), [
    '--brand-new',
    'databench frobnicate',
    'DATABENCH_NEW',
  ]);
});

test('every option row of docs/reference/cli.md is an option of `databench --help`', async () => {
  const [usage, docs] = await Promise.all([
    usageText(),
    readFile(join(ROOT, 'docs/reference/cli.md'), 'utf8'),
  ]);
  const rows = [...docs.matchAll(/^\| `(--[a-z][a-z0-9-]*)/gm)].map((m) => m[1] ?? '');
  assert.ok(rows.length >= 15, `the options table has ${rows.length} rows`);
  assert.deepEqual(
    rows.filter((flag) => !mentions(usage, flag)),
    [],
    'docs/reference/cli.md documents options the command does not have',
  );
});

/** The key names in the first column of the table under `heading` of docs/reference/index-yaml.md. */
function tableKeys(page: string, heading: string): Set<string> {
  const start = page.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `docs/reference/index-yaml.md has no "## ${heading}" section`);
  const end = page.indexOf('\n## ', start + 1);
  const section = page.slice(start, end < 0 ? undefined : end);
  return new Set([...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]!));
}

test('docs/reference/index-yaml.md documents every key the loader reads, and no other', async () => {
  const { ANALYSES_KEYS, ENTRY_KEYS, OIDC_KEYS } = await import('../../src/app/config.ts');
  const page = await readFile(join(ROOT, 'docs', 'reference', 'index-yaml.md'), 'utf8');
  for (const [heading, keys] of [
    ['Folder keys', ANALYSES_KEYS],
    ['Analysis keys', ENTRY_KEYS],
    ['OpenID Connect keys', OIDC_KEYS],
  ] as const) {
    const documented = tableKeys(page, heading);
    const missing = keys.filter((k) => !documented.has(k));
    assert.deepEqual(missing, [], `${heading}: read by src/app/config.ts, not documented`);
    const extra = [...documented].filter((k) => !(keys as readonly string[]).includes(k));
    assert.deepEqual(extra, [], `${heading}: documented, but the loader reads no such key`);
  }
});
