import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { test } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname;

test('the API reference builds with every exported name documented (npm run docs)', async () => {
  // typedoc.json treats a missing doc comment as an error; --emit none checks without writing docs/
  const child = spawn(
    process.execPath,
    [new URL('../../node_modules/typedoc/bin/typedoc', import.meta.url).pathname, '--emit', 'none'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += String(d)));
  child.stderr.on('data', (d: Buffer) => (out += String(d)));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, out);
  assert.doesNotMatch(out, /warning/, out);
});

/** The markdown files written by hand (docs/api is generated and checked by typedoc). */
async function markdownFiles(): Promise<string[]> {
  const files = ['README.md', 'CONTRIBUTING.md'];
  const walk = async (dir: string): Promise<void> => {
    for (const item of await readdir(join(ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}/${item.name}`;
      if (item.isDirectory()) {
        if (path !== 'docs/api') await walk(path);
      } else if (item.name.endsWith('.md')) {
        files.push(path);
      }
    }
  };
  await walk('docs');
  return files.sort();
}

/** The text outside fenced code blocks and inline code spans. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/**
 * The anchors GitHub gives the headings of `markdown`: the heading's text
 * (without code, emphasis and link marks) in lower case, without
 * punctuation, spaces as `-`; a repeated anchor gets `-1`, `-2`, ….
 */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const text = markdown.replace(/^```[\s\S]*?^```/gm, '');
  for (const m of text.matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const plain = (m[1] ?? '')
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/[`*]/g, '')
      .toLowerCase();
    const base = plain.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

test('every link between the markdown files resolves, anchors included', async () => {
  const files = await markdownFiles();
  assert.ok(files.includes('docs/reference/protocol.md') && files.length >= 10, files.join(' '));
  const texts = new Map<string, string>();
  const read = async (path: string): Promise<string> => {
    let text = texts.get(path);
    if (text === undefined) {
      text = await readFile(join(ROOT, path), 'utf8');
      texts.set(path, text);
    }
    return text;
  };
  const broken: string[] = [];
  let checked = 0;
  for (const file of files) {
    for (const m of prose(await read(file)).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const href = m[1] ?? '';
      if (/^[a-z][a-z0-9+.-]*:/i.test(href)) continue; // https:, mailto:
      checked++;
      const [path = '', anchor] = href.split('#');
      const target = path === '' ? file : normalize(join(dirname(file), path));
      if (target.startsWith('..')) {
        broken.push(`${file}: ${href} leads out of the repository`);
        continue;
      }
      const found = await stat(join(ROOT, target)).catch(() => undefined);
      if (!found) {
        broken.push(`${file}: ${href} (no ${target})`);
      } else if (anchor !== undefined && target.endsWith('.md')) {
        if (!anchors(await read(target)).has(anchor)) {
          broken.push(`${file}: ${href} (no heading #${anchor} in ${target})`);
        }
      }
    }
  }
  assert.ok(checked >= 50, `only ${checked} links found`);
  assert.deepEqual(broken, []);
});

test('the anchors are the ones GitHub makes', () => {
  const headings = [
    '# A tour',
    "## This project's additions",
    '### `__cancel` (client → server)',
    '## Long actions: progress, cancel and concurrency',
    '## Notes',
    '## Notes',
  ].join('\n');
  assert.deepEqual(
    [...anchors(headings)],
    [
      'a-tour',
      'this-projects-additions',
      '__cancel-client--server',
      'long-actions-progress-cancel-and-concurrency',
      'notes',
      'notes-1',
    ],
  );
});
