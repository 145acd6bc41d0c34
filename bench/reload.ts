// Time from saving an analysis to a new session running the new code, with
// the watcher on (issue 5). Usage: npm run bench:reload
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createServer } from '../src/server/create-server.ts';
import { createLogger } from '../src/server/logger.ts';
import { TestClient } from '../test/helpers.ts';

const DIR = join(new URL('../', import.meta.url).pathname, 'test-artifacts', 'bench-reload');
const source = (v: number): string =>
  `import { Analysis } from 'databench';\nexport class Hello extends Analysis {\n  on_which() { return this.emit('which', ${v}); }\n}\n`;

await mkdir(join(DIR, 'hello'), { recursive: true });
await writeFile(join(DIR, 'index.yaml'), 'analyses:\n  - name: hello\n');
await writeFile(join(DIR, 'hello', 'analysis.ts'), source(0));
const server = await createServer({
  port: 0,
  analyses: DIR,
  watch: true,
  logger: createLogger('error'),
});
const url = server.url.replace('http', 'ws') + '/hello/ws';
const times: number[] = [];
try {
  for (let v = 1; v <= 20; v++) {
    const t0 = performance.now();
    await writeFile(join(DIR, 'hello', 'analysis.ts'), source(v));
    for (;;) {
      let got: unknown;
      try {
        const { client } = await TestClient.connect(url);
        client.send('which');
        got = (await client.next('which', 1000)).load;
        client.close();
      } catch {
        // a page that connected during the reload was restarted (1012): try again
      }
      if (got === v) break;
      if (performance.now() - t0 > 10_000) throw new Error(`version ${v} not live after 10 s`);
      await new Promise((r) => setTimeout(r, 5));
    }
    times.push(performance.now() - t0);
  }
} finally {
  await server.close();
  await rm(DIR, { recursive: true, force: true });
}
times.sort((a, b) => a - b);
const at = (p: number): string => (times[Math.floor(p * (times.length - 1))] ?? NaN).toFixed(0);
console.log(
  `save → new session runs the new code (20 saves, 50 ms debounce): p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms`,
);
