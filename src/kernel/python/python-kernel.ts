import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ProtocolError } from '../../protocol/errors.js';
import type { ExtraRoute } from '../../analysis/routes.js';
import { KernelPool, RemoteMember, type PoolOptions } from '../pool.js';
import type {
  HostMessage,
  KernelBatch,
  KernelMessage,
  KernelOp,
  LogOp,
  ReadyMessage,
} from '../messages.js';
import { escapeLogText } from '../../protocol/log-text.js';
import { LogRateLimit } from '../../util/log-limit.js';
import { ChannelReader, TextLineReader } from './channel.js';
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

/** How long a process whose channel ended may take to exit on its own before it counts as having closed its channel. */
const CHANNEL_LOST_GRACE_MS = 100;
/** How long an ended kernel process may take to exit on its own before its process group is killed. */
const EXIT_GRACE_MS = 1000;

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
  /**
   * The largest value (encoded as JSON) the analysis may send to a page: a
   * larger one fails the call that sets or emits it, with an error naming
   * its key or signal and this bound. Default: 64 MiB ({@link DEFAULT_MAX_VALUE_BYTES}).
   */
  maxValueBytes?: number;
  /**
   * How long the first process may take to load analysis.py (`load_timeout:`
   * in index.yaml, in seconds there): past it the load fails, saying so, and
   * the process is ended. Default: 30000 ({@link DEFAULT_LOAD_TIMEOUT_MS}).
   */
  loadTimeoutMs?: number | undefined;
}

/** `ready` of a kernel process: with the patterns of its analysis's routes.py, if it has one. */
interface ProcReady extends ReadyMessage {
  readonly routes: PyRoute[];
}

/** How long an exited kernel's channel is read for what it said last. */
const CHANNEL_DRAIN_MS = 500;

/** The default of {@link PythonKernelOptions.loadTimeoutMs}. */
export const DEFAULT_LOAD_TIMEOUT_MS = 30_000;

/**
 * The longest line a kernel process may send on its channel: a batch's line
 * holds its ops (its frames and values follow it as bytes), so this bounds
 * the ops of one batch, not the size of a value.
 */
const MAX_CHANNEL_LINE = 16 << 20;
/**
 * The default of {@link PythonKernelOptions.maxValueBytes}: a page's send
 * buffer bound (`sendBufferHardBytes`); a frame larger than that closes the page.
 */
export const DEFAULT_MAX_VALUE_BYTES = 64 << 20;
/** A kernel's batch sends alone a frame or value past 1 Mi characters: at most this much more. */
const BATCH_SLACK_BYTES = 4 << 20;
/** What is kept of one line of a kernel's stdout or stderr (the log cuts it at 1000 characters). */
const MAX_OUTPUT_LINE = 4096;
/** The longest line of an analysis's output in the log, in characters, before it is cut. */
const MAX_OUTPUT_CHARS = 1000;
/** Output lines of one analysis (print(), stderr, logging) that may come at once. */
const OUTPUT_BURST = 200;
/** Output lines of one analysis a second, past the burst. */
const OUTPUT_PER_SECOND = 50;

/** A message of a kernel process as its line says it: a batch's ops still point into its bytes. */
type ChannelMessage =
  | Exclude<KernelMessage, KernelBatch>
  | ProcReady
  | HttpResponseMessage
  | { readonly t: 'batch'; readonly ops: unknown[] };

/**
 * One message a kernel process sent, from its JSON line, and how many bytes
 * follow the line (a batch's frames and values): the one place the host
 * parses what a process says. Ops are checked by RemoteLink's switch.
 */
function parseKernelLine(line: string): [ChannelMessage, number] {
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
      return [
        {
          t: 'ready',
          routes: parsePyRoutes(message['routes']),
          ...(typeof message['className'] === 'string' ? { className: message['className'] } : {}),
        },
        0,
      ];
    case 'http-response': {
      const response = parseHttpResponse(message);
      if (!response) throw new ProtocolError('a kernel sent an http-response that is not one');
      return [response, 0];
    }
    case 'load-error':
      return [{ t: 'load-error', message: String(message['message']) }, 0];
    case 'batch': {
      const ops = message['ops'];
      const n = message['n'] ?? 0;
      if (!Array.isArray(ops)) throw new ProtocolError('a kernel batch needs a list "ops"');
      if (!Number.isSafeInteger(n) || (n as number) < 0) {
        throw new ProtocolError('a kernel batch needs a byte count "n" (0 or more)');
      }
      return [{ t: 'batch', ops }, n as number];
    }
    default:
      throw new ProtocolError(`a kernel process sent an unknown message: ${line.slice(0, 200)}`);
  }
}

/** Whether `n` is a place in a batch of `size` bytes. */
function isPlace(n: unknown, size: number): n is number {
  return Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= size;
}

/**
 * The `[start, end)` places of an op in its batch's bytes, two numbers each
 * (a frame op may list several: a stream of frames to one page), checked.
 */
function placesOf(op: Record<string, unknown>, bytes: Buffer, many: boolean): number[] {
  const at = op['at'];
  if (Array.isArray(at) && at.length >= 2 && at.length % 2 === 0 && (many || at.length === 2)) {
    let ok = true;
    for (let i = 0; ok && i < at.length; i += 2) {
      ok = isPlace(at[i], bytes.length) && isPlace(at[i + 1], bytes.length) && at[i] <= at[i + 1];
    }
    if (ok) return at as number[];
  }
  throw new ProtocolError(
    `a kernel op "${String(op['t'])}" needs "at": [start, end${many ? ', …' : ''}] in its batch`,
  );
}

/** The sessions of a frame op for several pages (`sids`), checked. */
function sidsOf(sids: unknown): number[] {
  if (Array.isArray(sids) && sids.every((sid) => Number.isSafeInteger(sid))) {
    return sids as number[];
  }
  throw new ProtocolError('a kernel op "frame" needs "sids": a list of session numbers');
}

/**
 * A batch with its bytes: frames point into them, written values are read
 * from them. A frame op for several pages (`sids`: one change to a
 * `classData` key, sent once by the kernel) or with several places (`at`:
 * a stream of frames to one page) becomes one frame op per page and place,
 * each a view of the batch's bytes, in order (place by place).
 *
 * @internal exported for its tests
 */
export function batchOf(ops: unknown[], bytes: Buffer): KernelBatch {
  // the ops are this batch's own parsed objects: completed in place, no copies
  let spread: unknown[] | undefined;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as Record<string, unknown>;
    if (op['t'] === 'frame') {
      const at = placesOf(op, bytes, true);
      const sids = op['sids'] === undefined ? undefined : sidsOf(op['sids']);
      if (sids === undefined && at.length === 2) {
        op['start'] = at[0];
        op['end'] = at[1];
      } else {
        spread ??= ops.slice(0, i);
        const { coalesce, domain } = op;
        for (let p = 0; p < at.length; p += 2) {
          const start = at[p];
          const end = at[p + 1];
          for (const sid of sids ?? [op['sid']]) {
            spread.push(
              domain === undefined
                ? { t: 'frame', sid, start, end, coalesce }
                : { t: 'frame', sid, start, end, coalesce, domain },
            );
          }
        }
        continue;
      }
    } else if (op['t'] === 'write' && op['at'] !== undefined) {
      const [start, end] = placesOf(op, bytes, false);
      op['encoded'] = bytes.toString('utf8', start, end);
    }
    spread?.push(op);
  }
  return { t: 'batch', bytes, ops: (spread ?? ops) as KernelOp[] };
}

/** Feeds a stream's chunks to a reader. */
function read(stream: Readable, reader: { push(chunk: Buffer): void; end(): void }): void {
  stream.on('data', (chunk: Buffer) => reader.push(chunk));
  stream.on('end', () => reader.end());
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
    const { name } = options;
    const env = { ...process.env };
    env['PYTHONPATH'] = [PYTHON_PACKAGE_DIR, process.env['PYTHONPATH']]
      .filter((p) => p !== undefined && p !== '')
      .join(delimiter);
    env['PYTHONUNBUFFERED'] = '1';
    // read (and removed) by the package: asyncio loads OpenSSL when first used, not at start
    env['DATABENCH_KERNEL'] = '1';
    // no __pycache__ beside analysis.py (the watcher would see it): the
    // kernel turns bytecode writing off before it loads the analysis, after
    // the package's own modules (cached, they start faster and smaller)
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
          maxValueBytes: options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES,
          // the kernel ends when this process does (see kernel.py)
          parent: process.pid,
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

    read(
      stdout,
      new TextLineReader(MAX_OUTPUT_LINE, (text, skipped) => kernel.output('info', text, skipped)),
    );
    read(
      stderr,
      new TextLineReader(MAX_OUTPUT_LINE, (text, skipped) => kernel.output('warn', text, skipped)),
    );
    const maxValue = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    read(
      fromKernel,
      new ChannelReader<ChannelMessage>(
        MAX_CHANNEL_LINE,
        // a value (its write and its frame) and what a batch holds besides
        2 * maxValue + BATCH_SLACK_BYTES,
        parseKernelLine,
        (message, bytes) => {
          if (this.ended) return;
          try {
            if (message.t === 'http-response') {
              this.kernel.pyRoutes.answer(message);
              return;
            }
            if (message.t === 'ready' && 'routes' in message && message.routes.length > 0) {
              this.kernel.pyRoutes.set(message.routes);
            }
            this.receive(message.t === 'batch' ? batchOf(message.ops, bytes) : message);
          } catch (error) {
            this.broke((error as Error).message);
          }
        },
        (message) => this.broke(message),
      ),
    );

    // the analysis closed its channel (fd 3 or 4) and lives on: nothing more
    // reaches its pages, so it is ended, and they reconnect to a new one
    // (a process that exits closes it too: its exit, just after, says why)
    const channelLost = (): void => {
      if (this.ended || this.ending) return;
      setTimeout(() => {
        if (finished || this.ending) return;
        this.cause ??= 'it closed its channel to the server (fd 3 or 4)';
        this.kill();
      }, CHANNEL_LOST_GRACE_MS).unref();
    };
    fromKernel.on('end', channelLost);
    toKernel.on('error', channelLost);

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
        const cause =
          signal !== null
            ? `the process was killed (${signal})`
            : `the process exited with code ${String(code)}`;
        // what it said last (a load error, a batch) may still be in the
        // channel: read it to its end first (bounded: a child of the
        // analysis could hold the channel open)
        if (fromKernel.readableEnded || fromKernel.destroyed) return finish(cause);
        const late = setTimeout(() => finish(cause), CHANNEL_DRAIN_MS);
        fromKernel.once('close', () => {
          clearTimeout(late);
          finish(cause);
        });
      });
    });
  }

  /** A `logging` record of the analysis: its lines were escaped and cut in the kernel. */
  protected override log(level: LogOp['level'], text: string): void {
    (this.pool as unknown as PythonKernel).output(level, text, 0, true);
  }

  /** It broke the channel's protocol: it is ended. */
  private broke(message: string): void {
    if (this.ended) return;
    this.cause ??= `it broke the kernel protocol: ${message}`;
    this.kill();
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
      // whoever awaits this end (a stop, a failed start) keeps the process
      // alive until the kernel has exited: an empty event loop would end it
      // with the await unsettled (exit code 13)
      this.child.ref();
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
  /** The analysis's output lines (print(), stderr, logging), of all its processes together. */
  private readonly outputLimit = new LogRateLimit(OUTPUT_BURST, OUTPUT_PER_SECOND);
  private outputTimer: ReturnType<typeof setTimeout> | undefined;

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

  /**
   * @internal One line (or record) of the analysis's output for the log:
   * control characters escaped (the lines after a record's first are
   * indented, so none can pass for a line of the server's), each line cut
   * at 1000 characters, and at most 200 at once and 50 a second per
   * analysis; what is dropped is counted in the next line. `skipped`: bytes
   * of the line its reader did not keep; `named`: the text starts with the
   * analysis's name already (a `logging` record).
   */
  output(level: LogOp['level'], text: string, skipped = 0, named = false): void {
    const dropped = this.outputLimit.take();
    if (dropped === false) {
      this.outputTimer ??= setTimeout(() => this.droppedOutput(), 1000).unref();
      return;
    }
    const { logger, name } = this.options;
    if (dropped > 0) this.reportDropped(dropped);
    let line = '';
    let start = 0;
    for (let n = 0; ; n++) {
      const nl = text.indexOf('\n', start);
      const end = nl < 0 ? text.length : nl;
      const escaped = escapeLogText(text.slice(start, end), MAX_OUTPUT_CHARS);
      line += n === 0 ? escaped : `\n    ${escaped}`;
      if (nl < 0) break;
      start = nl + 1;
    }
    if (skipped > 0) line += ` (and ${skipped} more bytes of this line, not read)`;
    logger[level](named ? line : `[${name}] ${line}`);
  }

  /** Say how many output lines were dropped, once the analysis is quiet again. */
  private droppedOutput(): void {
    this.outputTimer = undefined;
    if (this.outputLimit.pending === 0) return;
    const dropped = this.outputLimit.take();
    if (dropped === false) {
      this.outputTimer = setTimeout(() => this.droppedOutput(), 1000).unref();
      return;
    }
    this.reportDropped(dropped);
  }

  private reportDropped(dropped: number): void {
    this.options.logger.warn(
      `[${this.options.name}] ${dropped} line(s) of output dropped (rate limit: ${OUTPUT_BURST} at once, then ${OUTPUT_PER_SECOND} a second per analysis)`,
    );
  }

  /** Start the first process; rejects with the load error (file and line) when analysis.py does not load. */
  static async create(options: PythonKernelOptions): Promise<PythonKernel> {
    const kernel = new PythonKernel(options);
    const timeoutMs = options.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS;
    await kernel.startFirst(
      timeoutMs,
      `${options.file} did not load within ${timeoutMs / 1000} s (does it wait at import, on the network, a lock or input()?); its process was ended. If it needs longer, raise load_timeout: (seconds) in its index.yaml entry`,
    );
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
