// Time from saving an analysis to a new session running the new code, with
// the watcher on. Usage: npm run bench:reload
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createServer } from '../src/server/create-server.ts';
import { createLogger } from '../src/util/logger.ts';
import { projectTsconfig } from '../src/cli/project.ts';
import { prepareTypeCheck } from '../src/cli/typecheck.ts';
import { TestClient } from '../test/helpers.ts';

const DIR = join(new URL('../', import.meta.url).pathname, 'test-artifacts', 'bench-reload');
const source = (v: number): string =>
  `import { Analysis } from 'databench-ts';\nexport class Hello extends Analysis {\n  on_which() { return this.emit('which', ${v}); }\n}\n`;

/** Save 20 versions; resolves to the sorted times from a save to a session running it. */
async function measure(typecheck: boolean): Promise<number[]> {
  await mkdir(join(DIR, 'hello'), { recursive: true });
  await writeFile(join(DIR, 'index.yaml'), 'analyses:\n  - name: hello\n');
  // the project's own tsconfig, as `databench new` writes it (not the checkout's)
  await writeFile(join(DIR, 'tsconfig.json'), projectTsconfig('**/*.ts'));
  await writeFile(join(DIR, 'hello', 'analysis.ts'), source(0));
  const logger = createLogger('error');
  const reporter = typecheck
    ? await prepareTypeCheck({
        mode: 'warn',
        explicit: true,
        dir: DIR,
        packaged: false,
        cwd: DIR,
        logger,
      })
    : undefined;
  const server = await createServer({
    port: 0,
    analyses: DIR,
    watch: true,
    logger,
    onReload: (app) => reporter?.reloaded(app),
  });
  reporter?.attach(server);
  // the first check is done before timing (each check is a fresh process: none is faster)
  await reporter?.idle();
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
      // the next save comes after this one's check, as a person's saves do
      await reporter?.idle();
    }
  } finally {
    await server.close();
    await reporter?.close();
    await rm(DIR, { recursive: true, force: true });
  }
  return times.sort((a, b) => a - b);
}

const at = (times: number[], p: number): string =>
  (times[Math.floor(p * (times.length - 1))] ?? NaN).toFixed(0);
for (const typecheck of [false, true]) {
  const times = await measure(typecheck);
  console.log(
    `save → new session runs the new code (20 saves, 50 ms debounce, --typecheck=${typecheck ? 'warn' : 'off'}): ` +
      `p50 ${at(times, 0.5)} ms, p90 ${at(times, 0.9)} ms, max ${at(times, 1)} ms`,
  );
}
