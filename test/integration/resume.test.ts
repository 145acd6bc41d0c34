// A page's session across saves of its analysis, through a real server and
// real sockets: the page's id resumes on the new code (its `data` back as the
// snapshot, `resumed` true in `connected`), through the in-process, the
// worker and the Python kernel, save after save; `resume_on_reload: false`
// is told in the `__connect` reply, which also carries the frame limit.
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { reloadWaiter, TestClient, wsUrlOf } from '../helpers.ts';
import { assertPython, pythonSkip } from '../python.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const DIR = join(ROOT, 'test-artifacts', `resume-int-${process.pid}`);

const counterTs = (
  cls: string,
  version: number,
): string => `import { Analysis } from 'databench-ts';

export class ${cls} extends Analysis<{ clicks: number }> {
  override async on_connected() {
    await this.emit('connected', { resumed: this.resumed, version: ${version} });
    await this.data.init({ clicks: 0 });
  }

  async on_count() {
    await this.data.set('clicks', this.data.get('clicks', 0) + 1);
  }
}
`;

const counterPy = (version: number): string => `import databench


class CounterPy(databench.Analysis):
    def on_connected(self):
        self.emit('connected', {'resumed': self.resumed, 'version': ${version}})
        self.data.init({'clicks': 0})

    def on_count(self):
        self.data['clicks'] = self.data.get('clicks', 0) + 1
`;

const KERNELS = [
  { name: 'inproc', file: 'analysis.ts', source: (v: number) => counterTs('InProc', v) },
  { name: 'worker', file: 'analysis.ts', source: (v: number) => counterTs('Worker', v) },
  { name: 'py', file: 'analysis.py', source: counterPy, python: true },
];

describe('a session across saves', () => {
  let server: DatabenchServer;
  const logger = createMemoryLogger();
  const reloads = reloadWaiter(30_000);

  before(async () => {
    await rm(DIR, { recursive: true, force: true });
    await mkdir(DIR, { recursive: true });
    await writeFile(
      join(DIR, 'index.yaml'),
      'analyses:\n  - name: inproc\n  - name: worker\n    kernel: worker\n    threads: 1\n' +
        '  - name: py\n    kernel: py\n  - name: once\n    resume_on_reload: false\n',
    );
    for (const k of KERNELS) {
      await mkdir(join(DIR, k.name));
      await writeFile(join(DIR, k.name, k.file), k.source(1));
    }
    await mkdir(join(DIR, 'once'));
    await writeFile(join(DIR, 'once', 'analysis.ts'), counterTs('Once', 1));
    server = await createServer({
      port: 0,
      analyses: DIR,
      logger,
      watch: true,
      maxFrameBytes: 4096,
      onReload: reloads.onReload,
    });
  });

  after(async () => {
    await server?.close();
    await rm(DIR, { recursive: true, force: true });
  });

  /** Count `n` times on `client` and wait for the last change. */
  async function count(client: TestClient, n: number, upTo: number): Promise<void> {
    for (let i = 0; i < n; i++) client.send('count');
    await client.waitFor(
      (f) => f.signal === 'data' && (f.load as { clicks?: number }).clicks === upTo,
      `clicks ${upTo}`,
      10_000,
    );
  }

  for (const k of KERNELS) {
    test(
      `${k.name}: a page resumes its id on the new code after each save: data back, resumed in connected`,
      {
        skip: k.python ? pythonSkip : false,
      },
      async () => {
        if (k.python) assertPython();
        const url = wsUrlOf(server, k.name);
        const first = await TestClient.connect(url);
        assert.deepEqual((await first.client.next('connected')).load, {
          resumed: false,
          version: 1,
        });
        await count(first.client, 3, 3);
        let page = first.client;
        for (const version of [2, 3]) {
          const reloaded = reloads.next();
          await writeFile(join(DIR, k.name, k.file), k.source(version));
          await reloaded;
          assert.equal((await page.closed(10_000)).code, 1012, 'restarted by the save');
          // the page comes back with its id (as a reloaded page does, from its tab)
          const again = await TestClient.connect(url, { id: first.id });
          assert.equal(again.id, first.id, 'the same id');
          const snapshot = await again.client.next('data');
          assert.deepEqual(snapshot.load, { clicks: version + 1 }, 'its data, before connected');
          assert.deepEqual((await again.client.next('connected')).load, { resumed: true, version });
          assert.ok(
            again.client.frames.indexOf(snapshot) <
              again.client.frames.findIndex((f) => f.signal === 'connected'),
            'the snapshot comes before anything connected sends',
          );
          // the user refreshes: the new page takes the session over from the old one
          const refreshed = await TestClient.connect(url, { id: first.id });
          assert.equal((await again.client.closed()).code, 4001);
          assert.deepEqual((await refreshed.client.next('data')).load, { clicks: version + 1 });
          // data.init kept the existing key
          await count(refreshed.client, 1, version + 2);
          page = refreshed.client;
        }
        page.close();
      },
    );
  }

  test('the __connect reply carries max_frame_bytes, and resume_on_reload: false for an analysis that opts out', async () => {
    const plain = await TestClient.connect(wsUrlOf(server, 'inproc'));
    assert.equal(plain.reply['max_frame_bytes'], 4096);
    assert.equal('resume_on_reload' in plain.reply, false, 'nothing by default');
    plain.client.close();
    const once = await TestClient.connect(wsUrlOf(server, 'once'));
    assert.equal(once.reply['resume_on_reload'], false);
    // a lost connection still resumes (only the next load of the page starts anew)
    await count(once.client, 2, 2);
    once.client.close();
    await once.client.closed();
    const back = await TestClient.connect(wsUrlOf(server, 'once'), { id: once.id });
    assert.equal(back.id, once.id);
    assert.deepEqual((await back.client.next('data')).load, { clicks: 2 });
    back.client.close();
  });
});
