import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { App } from '../src/app/app.ts';
import { projectTsconfig } from '../src/cli/project.ts';

/** A frame the server sent: `signal` and, when present, `load`. */
export interface Frame {
  signal: string;
  load?: unknown;
}

/**
 * A real WebSocket client for tests: records every frame and lets a test
 * await the first frame that matches, failing with a clear reason on timeout.
 */
export class TestClient {
  readonly frames: Frame[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private waiters: Array<{
    test: (f: Frame) => boolean;
    resolve: (f: Frame) => void;
    reject: (e: Error) => void;
  }> = [];
  private closeWaiters: Array<() => void> = [];
  private readonly cursors = new Map<string, number>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
    ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = String(reason);
      for (const w of this.closeWaiters) w();
      const waiting = this.waiters;
      this.waiters = [];
      for (const w of waiting)
        w.reject(new Error(`the socket closed (${code} ${String(reason)}) while waiting`));
    });
  }

  /** Open a socket (no `__connect` sent yet). */
  static open(url: string, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, options);
      const client = new TestClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)),
      );
    });
  }

  /** Open a socket and complete `__connect`; resolves with the reply's load. */
  static async connect(
    url: string,
    options: { id?: string | null; requestArgs?: string } = {},
  ): Promise<{ client: TestClient; id: string; reply: Record<string, string> }> {
    const client = await TestClient.open(url);
    client.sendJson({ __connect: options.id ?? null, __request_args: options.requestArgs ?? '' });
    const reply = (await client.waitFor((f) => f.signal === '__connect', 'the __connect reply'))
      .load as Record<string, string>;
    return { client, id: reply['analysis_id'] ?? '', reply };
  }

  sendJson(value: unknown): void {
    this.ws.send(JSON.stringify(value));
  }

  send(signal: string, load?: unknown): void {
    this.sendJson(load === undefined ? { signal } : { signal, load });
  }

  /** The first frame (already received or future) matching `test`. */
  waitFor(test: (f: Frame) => boolean, what: string, timeoutMs = 5000, from = 0): Promise<Frame> {
    const seen = this.frames.slice(from).find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.frames).slice(0, 2000)}`,
          ),
        );
      }, timeoutMs);
      if (this.ws.readyState === WebSocket.CLOSED) {
        clearTimeout(timer);
        reject(
          new Error(`the socket is closed (${this.closeCode ?? ''}) while waiting for ${what}`),
        );
        return;
      }
      this.waiters.push({
        test,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  /**
   * The next frame with `signal` that no earlier `next(signal)` returned,
   * whether it has arrived already or not.
   */
  async next(signal: string, timeoutMs = 5000): Promise<Frame> {
    const from = (this.cursors.get(signal) ?? -1) + 1;
    const frame = await this.waitFor(
      (f) => f.signal === signal,
      `a "${signal}" frame`,
      timeoutMs,
      from,
    );
    this.cursors.set(signal, this.frames.indexOf(frame, from));
    return frame;
  }

  /** Resolves when the socket has closed. */
  closed(timeoutMs = 5000): Promise<{ code: number | undefined; reason: string }> {
    if (this.ws.readyState === WebSocket.CLOSED) {
      return Promise.resolve({ code: this.closeCode, reason: this.closeReason });
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('timed out waiting for the socket to close')),
        timeoutMs,
      );
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve({ code: this.closeCode, reason: this.closeReason });
      });
    });
  }

  close(): void {
    this.ws.close();
  }
}

export const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;

/**
 * The stand-in for d3 that test/fixtures/v07 maps to `/static/d3.min.js`
 * through index.yaml's static map (node_modules folders are made by the
 * tests, not committed).
 */
export async function makeFakeD3(): Promise<void> {
  await writeFakeD3(join(FIXTURES, 'v07', 'node_modules', 'd3'));
}

/** The stand-in for d3 (`d3.min.js`, `window.d3.version` is `fixture-d3`) in `dir`. */
export async function writeFakeD3(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'd3.min.js'),
    "// a stand-in for d3, served through index.yaml's static map\nwindow.d3 = { version: 'fixture-d3' };\n",
  );
}

/**
 * Poll a condition the server reaches on its own (a thread exits, a session
 * is released: nothing to await), failing with `what` after `timeoutMs`.
 */
export async function until(check: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `promise`, or a failure naming `what` after `timeoutMs` (an event the server must cause). */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The WebSocket URL of analysis `name` on `server`. */
export function wsUrlOf(server: { url: string }, name: string): string {
  return `${server.url.replace('http', 'ws')}/${name}/ws`;
}

const ROOT = new URL('../', import.meta.url).pathname;

/** A `databench` command running in a child process, with what it printed so far. */
export interface CliRun {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

/**
 * Start the real CLI (from source, as `npm run dev` does) with `args`; the
 * environment's HOST, PORT and DATABENCH_DATASTORE are cleared unless `env`
 * sets them.
 */
export function databench(
  args: string[],
  {
    cwd = ROOT,
    env = {},
    bin = 'databench.js',
  }: { cwd?: string; env?: Record<string, string>; bin?: string } = {},
): CliRun {
  const child = spawn(
    process.execPath,
    [
      '--conditions=databench-source',
      '--import',
      import.meta.resolve('tsx'),
      join(ROOT, 'bin', bin),
      ...args,
    ],
    {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PORT: '',
        HOST: '',
        DATABENCH_DATASTORE: '',
        DATABENCH_TOKEN: '',
        ...env,
      },
    },
  );
  const run: CliRun = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
  child.stdout?.on('data', (d: Buffer) => (run.stdout += String(d)));
  child.stderr?.on('data', (d: Buffer) => (run.stderr += String(d)));
  return run;
}

/**
 * The first match of `pattern` in what the CLI printed on `stream` (already
 * or later); fails when it exits first or takes longer than `timeoutMs`.
 */
export function printed(
  run: CliRun,
  stream: 'stdout' | 'stderr',
  pattern: RegExp,
  timeoutMs = 30_000,
): Promise<RegExpExecArray> {
  const source = run.child[stream];
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      source?.off('data', look);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`databench printed no ${String(pattern)} on ${stream}: ${run.stderr}`));
    }, timeoutMs);
    // after the run's own listener (registered first): the text is already appended
    const look = (): void => {
      const m = pattern.exec(run[stream]);
      if (m) {
        done();
        resolve(m);
      }
    };
    source?.on('data', look);
    look();
    void run.exited.then((code) => {
      done();
      reject(new Error(`databench exited with ${code}: ${run.stderr}`));
    });
  });
}

/** The URL once the CLI printed it; fails when it exits first or takes too long. */
export async function serving(run: CliRun, timeoutMs = 30_000): Promise<string> {
  return (await printed(run, 'stdout', /serving at (http:\/\/\S+)/, timeoutMs))[1] ?? '';
}

/**
 * The server's reloads as Promises: pass `onReload` to createServer and
 * await `next()` before the save that should cause one.
 */
export function reloadWaiter(timeoutMs = 10_000): {
  onReload: (app: App) => void;
  next: () => Promise<App>;
} {
  let waiting: Array<(app: App) => void> = [];
  return {
    onReload: (app) => {
      const now = waiting;
      waiting = [];
      for (const w of now) w(app);
    },
    next: () =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no reload within ${timeoutMs / 1000} s`)),
          timeoutMs,
        );
        waiting.push((app) => {
          clearTimeout(timer);
          resolve(app);
        });
      }),
  };
}

/** An HTTP reply: status, headers and the body as text. */
export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request, as a browser or a script would send it. */
export function http(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpReply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += String(d)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`no answer to ${path} within 5 s`)));
    req.end(options.body);
  });
}

/**
 * Write `dir/tsconfig.json` as `databench new` writes it, plus what a folder
 * inside this checkout needs: the source condition (src/, no build) and
 * skipLibCheck (src/ pulls in vega's typings, DOM types; the published types
 * are checked without it in package.test.ts).
 */
export async function writeCheckoutTsconfig(dir: string): Promise<void> {
  const tsconfig = JSON.parse(projectTsconfig('')) as { compilerOptions: Record<string, unknown> };
  tsconfig.compilerOptions['customConditions'] = ['databench-source'];
  tsconfig.compilerOptions['allowImportingTsExtensions'] = true;
  tsconfig.compilerOptions['skipLibCheck'] = true;
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
}
