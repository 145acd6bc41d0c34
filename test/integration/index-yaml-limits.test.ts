// index.yaml's per-analysis limits against a real server: `memory_mb` of a
// worker analysis is the heap limit of its threads (the analysis reads it in
// its own thread) and bounds the Buffers a thread holds outside its heap
// (past it the thread is ended, logged, and its page reconnects), and keys
// databench does not read are warned about, each with the known key it is
// nearest to.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { TestClient, wsUrlOf } from '../helpers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('index.yaml: memory_mb and unknown keys', () => {
  let dir: string;
  let server: DatabenchServer;
  const logger = createMemoryLogger();
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'databench-limits-'));
    await mkdir(join(dir, 'node_modules'));
    await symlink(ROOT, join(dir, 'node_modules', 'databench-ts'), 'dir');
    await mkdir(join(dir, 'lim'));
    await writeFile(
      join(dir, 'index.yaml'),
      'titel: Limits\nanalyses:\n  - name: lim\n    kernel: worker\n    threads: 1\n    memory_mb: 48\n    thred: 1\n',
    );
    await writeFile(
      join(dir, 'lim', 'analysis.ts'),
      [
        "import { getHeapStatistics } from 'node:v8';",
        "import { Analysis } from 'databench-ts';",
        'export class Lim extends Analysis<{ heapLimitMb: number; hogged: number }> {',
        '  override async on_connected() {',
        "    await this.data.set('heapLimitMb', getHeapStatistics().heap_size_limit / 2 ** 20);",
        '  }',
        '  /** Buffers of 8 MiB kept, one every 20 ms, up to 320 MiB (far past the limit). */',
        '  async on_hog() {',
        '    const kept: Buffer[] = [];',
        '    for (let i = 0; i < 40; i++) {',
        '      kept.push(Buffer.alloc(8 * 2 ** 20, 1));',
        '      await new Promise((resolve) => setTimeout(resolve, 20));',
        '    }',
        "    await this.data.set('hogged', kept.length);",
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    server = await createServer({ port: 0, analyses: dir, logger });
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("memory_mb is the heap limit of the analysis's worker threads", async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'lim'));
    try {
      const frame = await client.waitFor(
        (f) => f.signal === 'data' && 'heapLimitMb' in (f.load as object),
        'the heap limit the thread reports',
        15_000,
      );
      const limit = (frame.load as { heapLimitMb: number }).heapLimitMb;
      // the old generation's 48 MiB and the young generation's few: not Node's ~4 GB
      assert.ok(limit >= 48 && limit < 128, `heap limit ${limit} MiB`);
    } finally {
      client.ws.close();
    }
  });

  test('a thread holding more Buffers than memory_mb is ended with a log line; its page reconnects to a new one', async () => {
    const { client } = await TestClient.connect(wsUrlOf(server, 'lim'));
    client.send('hog');
    assert.match(String((await client.next('error', 15_000)).load), /outside its heap/);
    assert.equal((await client.closed()).code, 1011);
    assert.equal(
      client.frames.filter((f) => f.signal === 'data' && 'hogged' in (f.load as object)).length,
      0,
    );
    const line = logger.lines.find(([level, m]) => level === 'error' && /outside its heap/.test(m));
    assert.match(
      line?.[1] ?? '',
      /\[lim\] .*stopped: .*held \d+ MiB outside its heap \(Buffers\), past its limit of 48 MiB/,
    );
    const next = await TestClient.connect(wsUrlOf(server, 'lim'));
    try {
      await next.client.waitFor(
        (f) => f.signal === 'data' && 'heapLimitMb' in (f.load as object),
        'a new thread serves the page',
        15_000,
      );
    } finally {
      next.client.ws.close();
    }
  });

  test('unknown keys are warned about, with the key they may be a typo of', () => {
    const warnings = logger.lines.filter(([level]) => level === 'warn').map(([, m]) => m);
    assert.ok(
      warnings.includes(
        'index.yaml: analysis "lim": unknown key "thred" is ignored (did you mean "threads"?)',
      ),
      warnings.join('\n'),
    );
    assert.ok(
      warnings.includes('index.yaml: unknown key "titel" is ignored (did you mean "title"?)'),
      warnings.join('\n'),
    );
  });
});
