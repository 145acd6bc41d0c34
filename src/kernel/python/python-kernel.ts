import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ProtocolError } from '../../protocol/errors.js';
import type { ExtraRoute } from '../../analysis/routes.js';
import { KernelPool, RemoteMember, type PoolOptions } from '../pool.js';
import type { HostMessage, KernelMessage, KernelOp, ReadyMessage } from '../messages.js';
import {
  parseHttpResponse,
  parsePyRoutes,
  PyRoutes,
  type HttpRequestMessage,
  type HttpResponseMessage,
  type PyRoute,
} from './py-routes.js';

/** The Python package `databench` shipped in this npm package (put on the kernel's PYTHONPATH). */
export const PYTHON_PACKAGE_DIR = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'python',
);

/** How long an ended kernel process may take to exit on its own before its process group is killed. */
const EXIT_GRACE_MS = 1000;
const EMPTY = new Uint8Array(0);

/** Whether an executable `name` is on `PATH`. */
function onPath(name: string, path: string | undefined): boolean {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this one
    }
  }
  return false;
}

/**
 * The interpreter of a Python analysis, the user's: `python:` of its
 * index.yaml entry, else `DATABENCH_PYTHON`, else the active virtualenv's
 * (`$VIRTUAL_ENV/bin/python`), else `python3` on PATH; Debian's
 * `/usr/bin/python3` only when there is no `python3` on PATH.
 *
 * @example resolvePython(entry.python) // 'python3'
 */
export function resolvePython(
  configured?: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  if (configured !== undefined && configured !== '') return configured;
  const fromEnv = env['DATABENCH_PYTHON'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const venv = env['VIRTUAL_ENV'];
  if (venv !== undefined && venv !== '') {
    const python =
      process.platform === 'win32'
        ? join(venv, 'Scripts', 'python.exe')
        : join(venv, 'bin', 'python');
    if (existsSync(python)) return python;
  }
  if (onPath(process.platform === 'win32' ? 'python3.exe' : 'python3', env['PATH'])) {
    return 'python3';
  }
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/** Options of {@link PythonKernel.create}. */
export interface PythonKernelOptions extends PoolOptions {
  /** The interpreter (`python:` in index.yaml). Default: {@link resolvePython}. */
  python?: string;
  /** Kernel processes at most (`processes:` in index.yaml). Default: 1. */
  processes?: number;
  /**
   * The analyses folder: importable by its name in the kernel (`from
   * analyses.other.analysis import x`), and what a failing handler's
   * location is relative to. Default: the parent of the analysis's folder.
   */
  root?: string;
  /**
   * `pyspark`: the analysis needs the `pyspark` package (index.yaml's
   * `kernel: pyspark`); it fails to load, saying so, when the interpreter
   * has none. Default: `py`.
   */
  flavour?: 'py' | 'pyspark';
  /** @internal How long a routes.py handler may take to answer. Default: 30 s (`ROUTE_TIMEOUT_MS`). */
  routeTimeoutMs?: number;
}

/** `ready` of a kernel process: with the patterns of its analysis's routes.py, if it has one. */
interface ProcReady extends ReadyMessage {
  readonly routes: PyRoute[];
}

/**
 * One message a kernel process sent, from its JSON line: the one place the
 * host parses what a process says. Ops are checked by RemoteLink's switch.
 */
function parseKernelLine(line: string): KernelMessage | ProcReady | HttpResponseMessage {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new ProtocolError(
      `a kernel process sent a line that is not JSON: ${line.slice(0, 200)}`,
      {
        cause: error,
      },
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError(
      `a kernel process sent a line that is not an object: ${line.slice(0, 200)}`,
    );
  }
  const message = value as Record<string, unknown>;
  switch (message['t']) {
    case 'ready':
      return {
        t: 'ready',
        routes: parsePyRoutes(message['routes']),
        ...(typeof message['className'] === 'string' ? { className: message['className'] } : {}),
      };
    case 'http-response': {
      const response = parseHttpResponse(message);
      if (!response) throw new ProtocolError('a kernel sent an http-response that is not one');
      return response;
    }
    case 'load-error':
      return { t: 'load-error', message: String(message['message']) };
    case 'batch': {
      const ops = message['ops'];
      if (!Array.isArray(ops)) throw new ProtocolError('a kernel batch needs a list "ops"');
      return { t: 'batch', bytes: EMPTY, ops: ops as KernelOp[] };
    }
    default:
      throw new ProtocolError(`a kernel process sent an unknown message: ${line.slice(0, 200)}`);
  }
}

/** Calls `onLine` for every complete line of a stream (UTF-8, `\n`-terminated). */
function eachLine(stream: Readable, onLine: (line: string) => void): void {
  let rest: Buffer | undefined;
  stream.on('data', (chunk: Buffer) => {
    const data = rest ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
      onLine(data.toString('utf8', start, nl));
      start = nl + 1;
    }
    rest = start < data.length ? data.subarray(start) : undefined;
  });
  stream.on('end', () => {
    if (rest && rest.length > 0) onLine(rest.toString('utf8'));
    rest = undefined;
  });
}

/** One kernel process and the host's side of its channel. */
class Proc extends RemoteMember {
  readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private readonly toKernel: Writable;

  constructor(
    private readonly kernel: PythonKernel,
    options: PythonKernelOptions,
    python: string,
  ) {
    super(kernel);
    const { name, logger } = options;
    const env = { ...process.env };
    env['PYTHONPATH'] = [PYTHON_PACKAGE_DIR, process.env['PYTHONPATH']]
      .filter((p) => p !== undefined && p !== '')
      .join(delimiter);
    env['PYTHONUNBUFFERED'] = '1';
    // no __pycache__ beside analysis.py: the watcher would see it
    env['PYTHONDONTWRITEBYTECODE'] = '1';
    env['MPLBACKEND'] ??= 'Agg';
    this.child = spawn(
      python,
      [
        '-m',
        'databench.kernel',
        JSON.stringify({
          name,
          file: options.file,
          root: options.root ?? dirname(dirname(options.file)),
          kind: options.flavour ?? 'py',
        }),
      ],
      {
        cwd: dirname(options.file),
        env,
        // fd 3: server → kernel, fd 4: kernel → server; stdout/stderr are the user's (to the log)
        stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
        // its own process group: ended as a whole, and not hit by the terminal's Ctrl+C
        detached: true,
      },
    );
    const [, stdout, stderr, toKernel, fromKernel] = this.child.stdio as [
      null,
      Readable,
      Readable,
      Writable,
      Readable,
    ];
    this.toKernel = toKernel;
    for (const stream of [stdout, stderr, toKernel, fromKernel]) {
      // a write after the process died (EPIPE) is handled by the exit, not a crash
      stream.on('error', () => undefined);
    }
    // once started, a kernel never keeps the server's process alive (a server
    // that fails to start must exit): when the server ends, the kernel reads
    // the end of its channel and exits
    void this.ready.then(
      () => {
        for (const stream of [stdout, stderr, toKernel, fromKernel]) {
          (stream as Partial<Socket>).unref?.();
        }
        this.child.unref();
      },
      () => undefined,
    );

    eachLine(stdout, (line) => logger.info(`[${name}] ${line}`));
    eachLine(stderr, (line) => logger.warn(`[${name}] ${line}`));
    eachLine(fromKernel, (line) => {
      if (this.ended) return;
      try {
        const message = parseKernelLine(line);
        if (message.t === 'http-response') {
          this.kernel.pyRoutes.answer(message);
          return;
        }
        if (message.t === 'ready' && 'routes' in message && message.routes.length > 0) {
          this.kernel.pyRoutes.set(message.routes);
        }
        this.receive(message);
      } catch (error) {
        this.cause ??= `it broke the kernel protocol: ${(error as Error).message}`;
        this.kill();
      }
    });

    let finished = false;
    this.exited = new Promise((resolve) => {
      const finish = (cause: string): void => {
        if (finished) return;
        finished = true;
        this.kill(); // anything the analysis started in the group goes with it
        this.gone(cause);
        this.kernel.pyRoutes.memberGone(this, this.cause ?? cause);
        resolve();
      };
      this.child.once('error', (error: NodeJS.ErrnoException) => {
        if (this.child.pid !== undefined) return;
        this.cause ??=
          error.code === 'ENOENT'
            ? `no Python interpreter "${python}": install python3 (3.9 or newer), or name one with python: in index.yaml or DATABENCH_PYTHON, or activate a virtualenv`
            : `could not start "${python}": ${error.message}`;
        finish(this.cause);
      });
      this.child.once('exit', (code, signal) => {
        finish(
          signal !== null
            ? `the process was killed (${signal})`
            : `the process exited with code ${String(code)}`,
        );
      });
    });
  }

  /** SIGKILL the process group (the kernel and whatever it started). */
  private kill(): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  protected send(message: HostMessage): void {
    if (message.t === 'upload') {
      // the channel's binary framing: the line names the files and their
      // sizes, their raw bytes follow it (no JSON, no base64 of a file)
      const files = message.files.map(({ name, type, size }) => ({ name, type, size }));
      void this.toKernel.write(JSON.stringify({ ...message, files }) + '\n');
      for (const file of message.files) {
        if (file.bytes !== undefined && file.bytes.byteLength > 0) {
          void this.toKernel.write(file.bytes);
        }
      }
      return;
    }
    void this.toKernel.write(JSON.stringify(message) + '\n');
  }

  /** Forward a request for a routes.py route. */
  sendRequest(message: HttpRequestMessage): void {
    void this.toKernel.write(JSON.stringify(message) + '\n');
  }

  /** The process's id (diagnostics and tests). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Close its channel (it exits on its own), then kill its group if it has not gone in time. */
  end(): Promise<void> {
    if (!this.ended && !this.ending) {
      this.ending = true;
      this.toKernel.end();
      setTimeout(() => this.kill(), EXIT_GRACE_MS).unref();
    }
    return this.exited;
  }
}

/**
 * `kernel: py`: the analysis is a `databench.Analysis` subclass in
 * `analysis.py`, run by Python processes (the package in `python/` of this
 * npm package). A process hosts many sessions of its analysis; with
 * `processes: N` sessions spread over up to N of them (a free process first,
 * then the least busy). The first process starts at load (it reports load
 * errors) and stays while the analysis is served; extra ones end when idle.
 * A process that dies takes only its own pages with it (they get an error
 * and a close they reconnect from); the next session starts a new one.
 */
export class PythonKernel extends KernelPool<Proc> {
  readonly kind = 'py';
  override readonly keepsOne = true;
  readonly python: string;
  readonly memberName = 'a Python kernel process';

  /** @internal The routes of the analysis's routes.py, run in its processes. */
  readonly pyRoutes: PyRoutes;

  private constructor(private readonly options: PythonKernelOptions) {
    super(options, options.processes ?? 1);
    this.python = resolvePython(options.python);
    this.pyRoutes = new PyRoutes(
      options.name,
      { send: (message) => this.sendRequest(message) },
      options.logger,
      options.routeTimeoutMs,
    );
  }

  /** routes.ts routes (served by the server), then routes.py's (run in a kernel process). */
  override get extraRoutes(): readonly ExtraRoute[] {
    const py = this.pyRoutes.routes;
    if (py.length === 0) return super.extraRoutes;
    // read on every request of the analysis: joined once
    if (this.joined?.[0] !== py) this.joined = [py, [...super.extraRoutes, ...py]];
    return this.joined[1];
  }

  private joined: [py: readonly ExtraRoute[], all: readonly ExtraRoute[]] | undefined;

  /** A request for routes.py goes to the first live process (one is kept while the analysis is served). */
  private async sendRequest(message: HttpRequestMessage): Promise<object> {
    const live = this.members.find((m) => !m.ended && !m.ending);
    // a kernel replaced by a reload starts no process for a request that raced it
    if (!live && this.retired) throw new Error('the analysis was reloaded');
    const member = live ?? this.spawn();
    await member.ready;
    if (member.ended) throw new Error('it stopped before the request was sent');
    member.sendRequest(message);
    return member;
  }

  /** Start the first process; rejects with the load error (file and line) when analysis.py does not load. */
  static async create(options: PythonKernelOptions): Promise<PythonKernel> {
    const kernel = new PythonKernel(options);
    await kernel.startFirst();
    return kernel;
  }

  protected createMember(): Proc {
    return new Proc(this, this.options, this.python);
  }

  /** The live processes (diagnostics and tests). */
  get processes(): number {
    return this.members.length;
  }

  /** @internal The ids of the live processes (tests kill one to see the pool recover). */
  get pids(): number[] {
    return this.members.map((p) => p.pid).filter((pid): pid is number => pid !== undefined);
  }
}
