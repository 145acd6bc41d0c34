import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import type { Change } from '../datastore/change.js';
import { MemoryBackend } from '../datastore/backends/memory.js';
import { encodeValue } from '../protocol/encode.js';
import { applyDelta, deltaFrame, isDeltaLoad, type StoreSignal } from '../protocol/delta.js';
import {
  frameFromEncoded,
  keyFrameFromEncoded,
  parseServerMessage,
  type CancelTarget,
} from '../protocol/messages.js';
import { createMemoryLogger, type Logger, type LogLevel } from '../util/logger.js';
import type {
  AskedConcurrency,
  Kernel,
  KernelSession,
  OpenRequest,
  PagePort,
} from '../kernel/kernel.js';

/** What {@link testKernel} hands the factory of each kernel it tests. */
export interface KernelSetup {
  /** Give the kernel this logger: the suite reads what it logs. */
  readonly logger: Logger;
}

/** Options of {@link testKernel}. */
export interface TestKernelOptions<K extends Kernel = Kernel> {
  /**
   * The ids of the kernel's live members (its worker threads, its
   * processes), as the conformance analysis's `member` action reports them.
   * Set it for a kernel whose sessions run apart from the caller, that runs
   * two members or more and gives a new session a member of its own while
   * one is free: the suite then also checks that a member that computes,
   * dies or never returns from a handler takes only its own sessions, and
   * that `retire` and `dispose` end the members. Leave it out for a kernel
   * that runs sessions in the caller's own thread. Default: undefined.
   */
  memberIds?: (kernel: K) => readonly number[];
  /** Skip the suite, with this reason (a missing interpreter). Default: false. */
  skip?: string | false;
  /** Timeout of each wait for a frame, in ms. Default: 10000. */
  timeoutMs?: number;
  /**
   * The kernel sends a small change of a large list or object (one set with
   * `set`) as a structural diff to a page that takes deltas. Set it false
   * for a kernel that sends only appends and patches as deltas. Default: true.
   */
  structuralDiff?: boolean;
}

/** A frame a page got: `signal` and, when present, `load`. */
interface Frame {
  readonly signal: string;
  readonly load?: unknown;
}

const RESOLVED: Promise<void> = Promise.resolve();
/** How long a close may take at most: the kernel's grace periods (seconds), and a margin for a loaded machine. */
const CLOSE_CAP_MS = 20_000;
/** How long members may take to end once nothing holds them. */
const END_CAP_MS = 20_000;

function timeout(what: string, ms: number): Error {
  return new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** `promise`, or a rejection naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timeout(what, ms)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `check()` holds for state that no event announces (members, files), polling. */
async function until(check: () => boolean, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw timeout(what, ms);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A page as the kernel sees it: records every frame (decoded as the page
 * would), every `done` and a `fail`, and what breaks the contract (a frame
 * before `opened()`, a frame after the close resolved, more `done`s than
 * actions). Waits are woken by what arrives, never by a clock.
 */
class RecordingPage implements PagePort {
  readonly frames: Frame[] = [];
  /** Contract violations seen; the suite fails a test that has any. */
  readonly problems: string[] = [];
  isOpened = false;
  dones = 0;
  failure: { message: string; code: number; reason: string } | undefined;
  /** Actions sent (see {@link Page.send}). */
  sent = 0;
  /** Set once the session's close has resolved. */
  closed = false;
  private readonly cursors = new Map<string, number>();
  private readonly waiters = new Set<() => void>();

  /** The values of `data` / `class_data` / `user_data` keys as a client holds them: whole values, deltas applied. */
  readonly values = {
    data: new Map<string, unknown>(),
    class_data: new Map<string, unknown>(),
    user_data: new Map<string, unknown>(),
  };

  constructor(
    readonly label: string,
    private readonly ms: number,
    /** The page announced `__deltas` (a client that applies them); false: a 0.7 client. */
    readonly deltas = false,
  ) {}

  opened(): void {
    if (this.isOpened) this.problems.push(`${this.label}: opened() was called twice`);
    this.isOpened = true;
    this.changed();
  }

  frame(bytes: string | Buffer): Promise<void> {
    this.record(typeof bytes === 'string' ? bytes : bytes.toString());
    return RESOLVED;
  }

  forward(bytes: Buffer): void {
    this.record(bytes.toString());
  }

  emit(signal: string, message: unknown): Promise<void> {
    // encoded as the server's session encodes it: what cannot be sent throws here
    this.record(
      frameFromEncoded(
        signal,
        message === undefined
          ? undefined
          : encodeValue(message, undefined, `the load of signal "${signal}"`),
      ),
    );
    return RESOLVED;
  }

  change(signal: StoreSignal, change: Change): Promise<void> {
    // as the server's session sends it: a delta only to a page that takes them
    const delta = this.deltas ? change.delta : undefined;
    this.record(
      delta !== undefined
        ? deltaFrame(signal, change.key, delta.kind, delta.encoded)
        : keyFrameFromEncoded(signal, change.key, change.encoded ?? 'null'),
    );
    return RESOLVED;
  }

  done(): void {
    this.dones++;
    if (this.dones > this.sent) {
      this.problems.push(`${this.label}: done() ${this.dones} times for ${this.sent} action(s)`);
    }
    this.changed();
  }

  fail(message: string, code: number, reason: string): void {
    this.failure ??= { message, code, reason };
    this.changed();
  }

  private record(text: string): void {
    const message = parseServerMessage(text);
    const frame: Frame = message.hasLoad
      ? { signal: message.signal, load: message.load }
      : { signal: message.signal };
    if (!this.isOpened) {
      this.problems.push(`${this.label}: a "${frame.signal}" frame before opened()`);
    }
    if (this.closed) {
      this.problems.push(`${this.label}: a "${frame.signal}" frame after its close resolved`);
    }
    if (frame.signal === 'data' || frame.signal === 'class_data' || frame.signal === 'user_data') {
      const values = this.values[frame.signal];
      for (const [key, value] of Object.entries(frame.load as object)) values.set(key, value);
    } else if (frame.signal === '__delta') {
      if (!this.deltas) this.problems.push(`${this.label}: a __delta frame to a 0.7 page`);
      else if (!isDeltaLoad(frame.load)) this.problems.push(`${this.label}: a bad __delta frame`);
      else {
        const values = this.values[frame.load.signal];
        if (!values.has(frame.load.key)) {
          this.problems.push(`${this.label}: a __delta of "${frame.load.key}" before its value`);
        } else {
          // a copy first: the frames keep what arrived
          const base = structuredClone(values.get(frame.load.key));
          values.set(frame.load.key, applyDelta(base, structuredClone(frame.load)));
        }
      }
    }
    this.frames.push(frame);
    this.changed();
  }

  private changed(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /** Resolves with `check()`'s first defined value, tested whenever something arrives. */
  until<T>(check: () => T | undefined, what: string, ms = this.ms): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(
          new Error(
            `${this.label}: ${timeout(what, ms).message} (frames so far: ${this.summary()})`,
          ),
        );
      }, ms);
      const wake = (): void => {
        let value: T | undefined;
        try {
          value = check();
        } catch (error) {
          this.waiters.delete(wake);
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        if (value === undefined) return;
        this.waiters.delete(wake);
        clearTimeout(timer);
        resolve(value);
      };
      this.waiters.add(wake);
    });
  }

  /** The signals of the frames so far, runs counted: `__process ×120, echo`. */
  summary(): string {
    const runs: Array<[string, number]> = [];
    for (const { signal } of this.frames) {
      const last = runs.at(-1);
      if (last?.[0] === signal) last[1]++;
      else runs.push([signal, 1]);
    }
    const text = runs.map(([s, n]) => (n > 1 ? `${s} ×${n}` : s));
    return (text.length > 20 ? ['…', ...text.slice(-20)] : text).join(', ') || 'none';
  }

  /** The first frame (from the start) that matches. */
  waitFor(match: (f: Frame) => boolean, what: string, ms = this.ms): Promise<Frame> {
    return this.until(() => this.frames.find(match), what, ms);
  }

  /** The next frame of `signal` after the one this returned last. */
  async next(signal: string, ms = this.ms): Promise<Frame> {
    const from = this.cursors.get(signal) ?? 0;
    const index = await this.until(
      () => {
        const i = this.frames.findIndex((f, j) => j >= from && f.signal === signal);
        return i < 0 ? undefined : i;
      },
      `a "${signal}" frame`,
      ms,
    );
    this.cursors.set(signal, index + 1);
    return this.frames[index]!;
  }

  /** The loads of every frame of `signal` so far. */
  loads(signal: string): unknown[] {
    return this.frames.filter((f) => f.signal === signal).map((f) => f.load);
  }
}

/** A page and its session on the kernel under test. */
class Page {
  constructor(
    readonly id: string,
    readonly port: RecordingPage,
    readonly session: KernelSession,
  ) {}

  /**
   * Send an action, as the server does for a frame `{signal: name, load}`
   * (with `"concurrency": "latest"` when `asked`, as a wired slider sends it).
   */
  send(name: string, load?: unknown, asked?: AskedConcurrency): void {
    this.port.sent++;
    if (asked === undefined) this.session.action(name, load !== undefined, load);
    else this.session.action(name, load !== undefined, load, asked);
  }

  /** The load of the next frame of `signal`. */
  async next(signal: string): Promise<unknown> {
    return (await this.port.next(signal)).load;
  }

  /** The member (thread, process) the session runs on. */
  async member(): Promise<number> {
    this.send('member');
    return (await this.next('member')) as number;
  }

  /** Close the session (the page has gone); resolves when the kernel has released it. */
  async close(): Promise<void> {
    await within(this.session.close(), `${this.port.label}: its close to resolve`, CLOSE_CAP_MS);
    this.port.closed = true;
  }
}

/** A kernel under test, with its own storage and log. */
interface Made<K extends Kernel> {
  readonly kernel: K;
  readonly backend: MemoryBackend;
  readonly logger: Logger & { lines: Array<[LogLevel, string]> };
  readonly pages: Page[];
  disposed: boolean;
}

/** An `__process` frame's load. */
interface ProcessLoad {
  id: unknown;
  status: string;
  action?: string;
  fraction?: number | null;
  message?: string;
  cancelled?: boolean;
  error?: boolean;
}

/**
 * The conformance suite of the `Kernel` contract (src/kernel/kernel.ts),
 * run against every kernel (like {@link testBackend} for datastore
 * backends): it drives a kernel through `open`, `action`, `cancel`,
 * `close`, `retire` and `dispose` with pages that record what reaches them,
 * and checks what every kernel must do. Each test gets a fresh kernel from
 * `makeKernel` and disposes it.
 *
 * The kernel runs the conformance analysis, a class named `Conformance`
 * (its classData domain). The repository has it in TypeScript
 * (test/fixtures/kernels/conformance/analysis.ts) and in Python
 * (test/fixtures/kernels/conformance_py/analysis.py); a kernel for another
 * language runs the same analysis written in that language. What it must do:
 *
 * - `connect`, `args`, `connected`: record their names in the order they ran;
 *   `connected` also records whether the session resumed (`this.resumed`).
 * - `disconnected`: set classData `left` to the session's id.
 * - `lifecycle()`: emit `lifecycle` `{ran, cli_args, request_args, resumed}`
 *   (the names recorded, the arguments `args` got, and what `connected` saw
 *   of `resumed`).
 * - `echo(x)`: emit `echo` x.
 * - `user()`: emit `user` with the session's user (`this.user`, `self.user`), or null.
 * - `member()`: emit `member` with the id of the thread or process it runs
 *   in (the ids `memberIds` returns).
 * - `wait(ms)`: wait ms milliseconds without blocking, then emit `waited` ms.
 * - `set_data(key, value)`, `set_class_data(key, value)`,
 *   `set_user_data(key, value)`: set the key in `data` / `classData` /
 *   `userData` (`self.user_data`).
 * - `append_user_data(key, items)`: append the items to the list at
 *   `userData` key (`extend`).
 * - `append_data(key, items)`: append the items to the list at `data` key
 *   (`data.extend`); `patch_data(key, ops)`: apply the JSON Patch to it
 *   (`data.patch`).
 * - `fail(text)`: throw (raise) an error whose message contains text.
 * - `emit_cycle()`: emit `cyclic` with an object that contains itself.
 * - `set_function()`: set `data` key `fn` to a function.
 * - `steps(n)`: n times: if the action was cancelled, emit `stopped` with
 *   the step and return; report progress ((i + 1) / n, `step ${i + 1}`);
 *   wait 20 ms. Then emit `steps_done` n.
 * - `forever()`: emit `forever` (no load), then wait for something that
 *   never comes (without blocking).
 * - `file(f)`: emit `file` `{name, type, size, sha256}` of the uploaded file
 *   (sha256: the hex SHA-256 of its bytes).
 * - `files(fs)`: emit `files` with `{name, size}` of each uploaded file.
 * - `big(n)`: emit `big` with n characters `€`.
 * - `burst(n)`: emit `burst` 0, 1, … n - 1.
 * - `spin(dir)`: create the file `dir/started`, compute without yielding
 *   until the file `dir/stop` exists, then emit `spun` true.
 * - `hang()`: compute forever without yielding.
 * - `exit(code)`: end its thread or process with this exit code.
 *
 * `spin`, `hang` and `exit` are sent only when `memberIds` is set.
 *
 * @example
 * import { testKernel } from 'databench-ts/testing';
 * testKernel('worker', ({ logger }) => WorkerKernel.create({ ...options, logger }), {
 *   memberIds: (kernel) => kernel.workers.map((w) => w.threadId),
 * });
 */
export function testKernel<K extends Kernel>(
  name: string,
  makeKernel: (setup: KernelSetup) => K | Promise<K>,
  options: TestKernelOptions<K> = {},
): void {
  const ms = options.timeoutMs ?? 10_000;
  const memberIds = options.memberIds;
  const made: Array<Made<K>> = [];
  let pageNo = 0;

  const start = async (): Promise<Made<K>> => {
    const logger = createMemoryLogger();
    const backend = new MemoryBackend();
    let kernel: K;
    try {
      kernel = await makeKernel({ logger });
    } catch (error) {
      backend.dispose();
      throw error;
    }
    const m: Made<K> = { kernel, backend, logger, pages: [], disposed: false };
    made.push(m);
    return m;
  };

  const open = (
    m: Made<K>,
    request: Partial<
      Pick<
        OpenRequest,
        | 'id'
        | 'resumed'
        | 'requestArgs'
        | 'cliArgs'
        | 'errorDetails'
        | 'user'
        | 'deltas'
        | 'classDomain'
        | 'userDomain'
      >
    > = {},
  ): Page => {
    const id = request.id ?? randomUUID();
    const deltas = request.deltas ?? false;
    const port = new RecordingPage(`page ${++pageNo} (${id.slice(0, 8)})`, ms, deltas);
    const session = m.kernel.open(port, {
      id,
      resumed: request.resumed ?? false,
      requestArgs: request.requestArgs ?? '',
      cliArgs: request.cliArgs ?? [],
      owner: 'conformance',
      datastore: m.backend,
      ...(request.errorDetails === undefined ? {} : { errorDetails: request.errorDetails }),
      ...(request.user !== undefined ? { user: request.user } : {}),
      ...(deltas ? { deltas } : {}),
      ...(request.classDomain === undefined ? {} : { classDomain: request.classDomain }),
      ...(request.userDomain === undefined ? {} : { userDomain: request.userDomain }),
    });
    const page = new Page(id, port, session);
    m.pages.push(page);
    return page;
  };

  const dispose = async (m: Made<K>): Promise<void> => {
    if (m.disposed) return;
    m.disposed = true;
    await within(m.kernel.dispose(), `${name}: dispose() to resolve`, CLOSE_CAP_MS);
    m.backend.dispose();
  };

  /** A page that sees classData: it learns when another session's `disconnected` ran. */
  const leftSeen = (witness: Page, id: string): Promise<Frame> =>
    witness.port.waitFor(
      (f) => f.signal === 'class_data' && (f.load as { left?: unknown }).left === id,
      `disconnected of ${id.slice(0, 8)} (classData "left")`,
    );

  void describe(`kernel conformance: ${name}`, { skip: options.skip ?? false }, () => {
    afterEach(async () => {
      const problems: string[] = [];
      const errors: unknown[] = [];
      for (const m of made.splice(0)) {
        // the server closes every session before it disposes the kernel
        const closes = await Promise.allSettled(
          m.pages.filter((p) => !p.port.closed).map((p) => p.close()),
        );
        for (const c of closes) if (c.status === 'rejected') errors.push(c.reason);
        try {
          await dispose(m);
        } catch (error) {
          errors.push(error);
        }
        for (const page of m.pages) problems.push(...page.port.problems);
      }
      if (errors.length > 0) throw errors[0];
      assert.deepEqual(problems, [], 'the kernel broke the page contract');
    });

    void test('a session is opened before any frame; connect, args and connected run in order, with the query string and the CLI flags', async () => {
      const m = await start();
      const first = open(m);
      first.send('set_class_data', ['k', 1]);
      await first.next('class_data');
      const page = open(m, { requestArgs: '?a=1&a=2&c=x+y', cliArgs: ['--flag'] });
      // a snapshot is the first frame a new page gets: opened() must come before it
      const snapshot = await page.port.until(() => page.port.frames[0], 'the classData snapshot');
      assert.deepEqual(snapshot, { signal: 'class_data', load: { k: 1 } });
      assert.equal(page.port.isOpened, true);
      assert.deepEqual(page.port.problems, []);
      page.send('lifecycle');
      assert.deepEqual(await page.next('lifecycle'), {
        ran: ['connect', 'args', 'connected'],
        cli_args: ['--flag'],
        request_args: { a: ['1', '2'], c: ['x y'] },
        resumed: false,
      });
      assert.equal(page.port.failure, undefined);
    });

    void test('the user who opened a session reaches its analysis whole; a session without one sees none', async () => {
      const m = await start();
      const user = {
        id: 'alice',
        name: 'Alice Ö',
        email: 'alice@example.com',
        groups: ['analysts', 'admins'],
      };
      const alice = open(m, { user });
      const nobody = open(m);
      const minimal = open(m, { user: { id: 'bob' } });
      alice.send('user');
      nobody.send('user');
      minimal.send('user');
      assert.deepEqual(await alice.next('user'), user);
      assert.equal(await nobody.next('user'), null);
      assert.deepEqual(await minimal.next('user'), { id: 'bob' });
    });

    void test('actions of one session run one after the other, in order, each answered with done()', async () => {
      const m = await start();
      const page = open(m);
      page.send('wait', [100]);
      for (let i = 0; i < 20; i++) page.send('echo', [i]);
      for (let i = 0; i < 20; i++) assert.equal(await page.next('echo'), i);
      const signals = page.port.frames.map((f) => f.signal);
      assert.ok(
        signals.indexOf('waited') >= 0 && signals.indexOf('waited') < signals.indexOf('echo'),
        `the action that waited finished before the next one ran: ${signals.join(', ')}`,
      );
      await page.port.until(() => page.port.dones === 21 || undefined, '21 done() calls');
    });

    void test('a handler that waits holds up only its own session', async () => {
      const m = await start();
      const a = open(m);
      const b = open(m);
      a.send('forever');
      a.send('echo', ['after forever']);
      await a.next('forever');
      for (let i = 0; i < 5; i++) {
        b.send('echo', [i]);
        assert.equal(await b.next('echo'), i);
      }
      assert.deepEqual(a.port.loads('echo'), []);
    });

    void test("data changes reach the session's page; classData changes reach every session, and a later session gets the classData snapshot", async () => {
      const m = await start();
      const a = open(m);
      const b = open(m);
      a.send('set_data', ['x', { y: [1, 2] }]);
      assert.deepEqual(await a.next('data'), { x: { y: [1, 2] } });
      a.send('set_class_data', ['k', 'from a']);
      for (const page of [a, b]) assert.deepEqual(await page.next('class_data'), { k: 'from a' });
      b.send('set_class_data', ['k', 'from b']);
      for (const page of [a, b]) assert.deepEqual(await page.next('class_data'), { k: 'from b' });
      assert.deepEqual(b.port.loads('data'), [], "a page's data reaches only its own page");
      const c = open(m);
      const first = await c.port.until(() => c.port.frames[0], 'the classData snapshot');
      assert.deepEqual(first, { signal: 'class_data', load: { k: 'from b' } });
    });

    void test("userData is shared by the sessions of one user: a change reaches each of that user's pages, not another user's, and a later session of the user gets the user_data snapshot", async () => {
      const m = await start();
      const alice = { id: 'alice@example.com' };
      const a = open(m, { user: alice });
      const b = open(m, { user: alice, deltas: true });
      const other = open(m, { user: { id: 'bob' } });
      a.send('set_user_data', ['theme', 'dark']);
      for (const page of [a, b]) assert.deepEqual(await page.next('user_data'), { theme: 'dark' });
      b.send('append_user_data', ['seen', [1]]);
      b.send('append_user_data', ['seen', [2, 3]]);
      await a.port.waitFor(
        (f) =>
          f.signal === 'user_data' &&
          'seen' in (f.load as object) &&
          (f.load as { seen: unknown[] }).seen.length === 3,
        'the whole list at user_data "seen"',
      );
      // the page that takes deltas holds the same list
      await b.port.until(
        () =>
          (b.port.values.user_data.get('seen') as unknown[] | undefined)?.length === 3 || undefined,
        'user_data "seen" in the page that takes deltas',
      );
      assert.deepEqual(b.port.values.user_data.get('seen'), [1, 2, 3]);
      other.send('set_user_data', ['theme', 'light']);
      assert.deepEqual(await other.next('user_data'), { theme: 'light' });
      // bob's change after alice's: had alice's pages received it, it would be there now
      a.send('echo', ['after']);
      await a.next('echo');
      assert.deepEqual(
        a.port
          .loads('user_data')
          .map((l) => (l as { theme?: unknown }).theme)
          .filter(Boolean),
        ['dark'],
        "another user's userData does not reach alice's page",
      );
      assert.deepEqual(
        other.port.loads('user_data'),
        [{ theme: 'light' }],
        "alice's userData does not reach another user's page",
      );
      const later = open(m, { user: alice });
      const first = await later.port.until(
        () => later.port.frames.find((f) => f.signal === 'user_data'),
        'the user_data snapshot',
      );
      assert.deepEqual(first, { signal: 'user_data', load: { theme: 'dark', seen: [1, 2, 3] } });
    });

    void test('userData lives on the domain the open names (userDomain): sessions given the same domain share it', async () => {
      const m = await start();
      const one = open(m, { user: { id: 'u1' }, userDomain: 'user:shared:x' });
      const two = open(m, { user: { id: 'u2' }, userDomain: 'user:shared:x' });
      one.send('set_user_data', ['k', 1]);
      for (const page of [one, two]) assert.deepEqual(await page.next('user_data'), { k: 1 });
    });

    void test('with nobody signed in, userData belongs to the session alone and comes back when it resumes', async () => {
      const m = await start();
      const a = open(m);
      const b = open(m);
      a.send('set_user_data', ['draft', 'mine']);
      assert.deepEqual(await a.next('user_data'), { draft: 'mine' });
      b.send('echo', ['after']);
      await b.next('echo');
      assert.deepEqual(b.port.loads('user_data'), [], "another session's userData");
      await a.close();
      const again = open(m, { id: a.id, resumed: true });
      const snapshot = await again.port.until(
        () => again.port.frames.find((f) => f.signal === 'user_data'),
        'the user_data snapshot of the resumed session',
      );
      assert.deepEqual(snapshot, { signal: 'user_data', load: { draft: 'mine' } });
    });

    void test("a session opened by a user is resumed with its data by that user only: another user's resume of its id finds none", async () => {
      const m = await start();
      const first = open(m, { user: { id: 'alice' } });
      first.send('set_data', ['mine', 42]);
      assert.deepEqual(await first.next('data'), { mine: 42 });
      await first.close();
      const intruder = open(m, { id: first.id, resumed: true, user: { id: 'bob' } });
      intruder.send('echo', ['after']);
      await intruder.next('echo');
      assert.deepEqual(intruder.port.loads('data'), [], "another user's resume sees no data");
      await intruder.close();
      const anonymous = open(m, { id: first.id, resumed: true });
      anonymous.send('echo', ['after']);
      await anonymous.next('echo');
      assert.deepEqual(anonymous.port.loads('data'), [], 'a resume without a user sees no data');
      await anonymous.close();
      const owner = open(m, { id: first.id, resumed: true, user: { id: 'alice' } });
      const snapshot = await owner.port.until(
        () => owner.port.frames.find((f) => f.signal === 'data'),
        "the data snapshot of the owner's resume",
      );
      assert.deepEqual(snapshot, { signal: 'data', load: { mine: 42 } });
    });

    void test('a page that announced deltas gets appends and patches as __delta frames and holds the whole value; a 0.7 page gets whole values', async () => {
      const m = await start();
      const modern = open(m, { deltas: true });
      const old = open(m);
      const expected = { xs: [1, 2, 3, 4, 5, 6], cfg: { a: 2, b: [1, 2, 3], c: 'x' } };
      for (const page of [modern, old]) {
        page.send('set_data', ['xs', [1, 2]]);
        page.send('append_data', ['xs', [3]]);
        page.send('append_data', ['xs', [4, 5]]);
        page.send('append_data', ['xs', [6]]);
        page.send('set_data', ['cfg', { a: 1, b: [1, 2] }]);
        page.send('patch_data', [
          'cfg',
          [
            { op: 'replace', path: '/a', value: 2 },
            { op: 'add', path: '/b/-', value: 3 },
            { op: 'add', path: '/c', value: 'x' },
          ],
        ]);
        page.send('echo', ['done']);
        await page.next('echo');
        assert.deepEqual(Object.fromEntries(page.port.values.data), expected);
      }
      const deltas = modern.port.loads('__delta') as Array<Record<string, unknown>>;
      assert.deepEqual(
        deltas.map((d) => [d['key'], d['append'] ?? d['ops']]),
        [
          ['xs', [3]],
          ['xs', [4, 5]],
          ['xs', [6]],
          [
            'cfg',
            [
              { op: 'replace', path: '/a', value: 2 },
              { op: 'add', path: '/b/-', value: 3 },
              { op: 'add', path: '/c', value: 'x' },
            ],
          ],
        ],
        'each append and the patch went out as a delta',
      );
      assert.deepEqual(
        old.port.loads('__delta'),
        [],
        'no delta to a page that did not announce them',
      );
      assert.deepEqual(old.port.loads('data').at(-1), { cfg: expected.cfg });
      assert.deepEqual(
        old.port
          .loads('data')
          .filter((l) => 'xs' in (l as object))
          .at(-1),
        { xs: expected.xs },
      );
    });

    void test(
      'a small change of a large list or object goes out as a JSON Patch diff to a page that takes deltas',
      {
        skip:
          options.structuralDiff === false ? 'this kernel sends appends and patches only' : false,
      },
      async () => {
        const m = await start();
        const modern = open(m, { deltas: true });
        const old = open(m);
        const big: Record<string, unknown> = {};
        for (let i = 0; i < 500; i++) big[`k${i}`] = { i, text: `value number ${i}` };
        const changed = { ...big, k7: { i: 7, text: 'changed' }, extra: [1, 2] };
        for (const page of [modern, old]) {
          page.send('set_data', ['big', big]);
          page.send('set_data', ['big', changed]);
          page.send('echo', ['done']);
          await page.next('echo');
          assert.deepEqual(page.port.values.data.get('big'), changed);
        }
        const deltas = modern.port.loads('__delta') as Array<{ key: string; ops?: unknown[] }>;
        assert.equal(deltas.length, 1, 'the second value went out as a delta');
        assert.ok(
          JSON.stringify(deltas[0]).length < JSON.stringify(changed).length / 10,
          'the delta is much smaller than the value',
        );
        assert.equal(old.port.loads('data').length, 2);
        assert.deepEqual(old.port.loads('__delta'), []);
      },
    );

    void test('a resumed page that takes deltas gets its data whole first, then deltas against it', async () => {
      const m = await start();
      const first = open(m, { deltas: true });
      first.send('set_data', ['xs', [1]]);
      first.send('append_data', ['xs', [2]]);
      first.send('echo', ['done']);
      await first.next('echo');
      await first.close();
      const again = open(m, { id: first.id, resumed: true, deltas: true });
      const snapshot = await again.port.until(() => again.port.frames[0], 'the data snapshot');
      assert.deepEqual(snapshot, { signal: 'data', load: { xs: [1, 2] } });
      again.send('append_data', ['xs', [3]]);
      await again.next('__delta');
      assert.deepEqual(again.port.values.data.get('xs'), [1, 2, 3]);
    });

    void test('classData lives on the domain the open names (classDomain), else on the class name the kernel reports', async () => {
      const m = await start();
      const className = m.kernel.className;
      assert.equal(typeof className, 'string', 'the kernel reports its class name once loaded');
      const one = open(m, { classDomain: `${className}@one` });
      const two = open(m, { classDomain: `${className}@two` });
      const plain = open(m);
      for (const [page, value] of [
        [one, 'one'],
        [two, 'two'],
        [plain, 'plain'],
      ] as const) {
        page.send('set_class_data', ['k', value]);
        assert.deepEqual(await page.next('class_data'), { k: value });
      }
      // each page has had its own domain's change only
      assert.deepEqual(one.port.loads('class_data'), [{ k: 'one' }]);
      assert.deepEqual(two.port.loads('class_data'), [{ k: 'two' }]);
      assert.deepEqual(plain.port.loads('class_data'), [{ k: 'plain' }]);
      for (const domain of [`${className}@one`, `${className}@two`, String(className)]) {
        assert.ok(m.backend.has(domain), `the backend holds the domain ${domain}`);
      }
      const again = open(m, { classDomain: `${className}@two` });
      const first = await again.port.until(() => again.port.frames[0], 'the classData snapshot');
      assert.deepEqual(first, { signal: 'class_data', load: { k: 'two' } });
    });

    void test('a resumed id finds its data (the snapshot follows opened()) and connected sees resumed; a fresh id gets none', async () => {
      const m = await start();
      const first = open(m);
      first.send('set_data', ['mine', 42]);
      assert.deepEqual(await first.next('data'), { mine: 42 });
      await first.close();
      const again = open(m, { id: first.id, resumed: true });
      const snapshot = await again.port.until(() => again.port.frames[0], 'the data snapshot');
      assert.deepEqual(snapshot, { signal: 'data', load: { mine: 42 } });
      // `connected` of the new session sees that it resumed
      again.send('lifecycle');
      assert.equal(((await again.next('lifecycle')) as { resumed: unknown }).resumed, true);
      const fresh = open(m);
      fresh.send('lifecycle');
      assert.equal(((await fresh.next('lifecycle')) as { resumed: unknown }).resumed, false);
      assert.deepEqual(fresh.port.loads('data'), []);
    });

    void test('a handler that throws: an error frame and a log line, the end frame says error, the session keeps working', async () => {
      const m = await start();
      const page = open(m);
      page.send('fail', { text: 'boom', __process_id: 4 });
      assert.match(String(await page.next('error')), /action "fail" failed: .*boom/);
      assert.deepEqual(await page.next('__process'), { id: 4, status: 'start' });
      assert.deepEqual(await page.next('__process'), { id: 4, status: 'end', error: true });
      page.send('echo', ['alive']);
      assert.equal(await page.next('echo'), 'alive');
      assert.ok(
        m.logger.lines.some(([level, line]) => level === 'error' && line.includes('boom')),
        'the failure is logged at error level',
      );
    });

    void test('a handler that throws also sends __error for the error panel: the action, the message, the file:line of the analysis; no location without error details', async () => {
      const m = await start();
      const page = open(m);
      page.send('fail', ['boom']);
      const load = (await page.next('__error')) as Record<string, unknown>;
      assert.equal(load['action'], 'fail');
      assert.equal(load['where'], 'action "fail"');
      assert.match(String(load['message']), /boom/);
      assert.match(String(load['location']), /analysis\.[a-z]+:\d+(:\d+)?$/);
      const quiet = open(m, { errorDetails: false });
      quiet.send('fail', ['hush']);
      const hidden = (await quiet.next('__error')) as Record<string, unknown>;
      assert.match(String(hidden['message']), /hush/);
      assert.equal(hidden['location'], null);
      assert.equal(hidden['frame'] ?? null, null);
    });

    void test('a value that cannot be sent is an error naming the signal or the key; the session keeps working', async () => {
      const m = await start();
      const page = open(m);
      page.send('emit_cycle');
      assert.match(String(await page.next('error')), /signal "cyclic".*cycle/);
      page.send('set_function');
      assert.match(String(await page.next('error')), /key "fn".*function/);
      page.send('echo', ['alive']);
      assert.equal(await page.next('echo'), 'alive');
    });

    void test('an action without a handler gets a warn frame and an __error naming the nearest handler; the session keeps working', async () => {
      const m = await start();
      const page = open(m);
      page.send('no_such_action', [1]);
      assert.equal(await page.next('warn'), 'no handler for no_such_action');
      assert.deepEqual(await page.next('__error'), {
        action: 'no_such_action',
        where: 'action "no_such_action"',
        message: "no handler for 'no_such_action' on Conformance",
        location: null,
      });
      page.send('ecoh', { x: 1, __process_id: 7 });
      assert.equal(await page.next('warn'), 'no handler for ecoh');
      assert.deepEqual(await page.next('__error'), {
        action: 'ecoh',
        where: 'action "ecoh"',
        message: "no handler for 'ecoh' on Conformance (did you mean 'echo'?)",
        location: null,
      });
      const end = await page.port.waitFor(
        (f) => f.signal === '__process' && (f.load as ProcessLoad).status === 'end',
        'the end frame of the call without a handler',
      );
      assert.deepEqual(end.load, { id: 7, status: 'end' });
      page.send('echo', ['alive']);
      assert.equal(await page.next('echo'), 'alive');
      await page.port.until(() => page.port.dones === 3 || undefined, '3 done() calls');
    });

    void test('a __process_id gets a start frame, progress frames and an end frame, in that order', async () => {
      const m = await start();
      const page = open(m);
      page.send('steps', { n: 5, __process_id: 1 });
      assert.equal(await page.next('steps_done'), 5);
      const frames = await page.port.until(() => {
        const all = page.port.loads('__process') as ProcessLoad[];
        return all.at(-1)?.status === 'end' ? all : undefined;
      }, 'the end frame');
      assert.deepEqual(frames[0], { id: 1, status: 'start' });
      assert.deepEqual(frames.at(-1), { id: 1, status: 'end' });
      const progress = frames.slice(1, -1);
      assert.ok(progress.length >= 1, 'at least one progress frame');
      for (const p of progress) {
        assert.equal(p.status, 'progress');
        assert.equal(p.id, 1);
        assert.equal(p.action, 'steps');
        assert.ok(typeof p.fraction === 'number' && p.fraction > 0 && p.fraction <= 1);
        assert.match(String(p.message), /^step [1-5]$/);
      }
      assert.deepEqual(
        [progress.at(-1)!.fraction, progress.at(-1)!.message],
        [1, 'step 5'],
        'the last progress is never lost',
      );
    });

    void test('an upload runs its action with the file as its one argument (a list for several), with its __process frames', async () => {
      const m = await start();
      const page = open(m);
      // each file its own ArrayBuffer, as the server assembles them (a worker gets it moved)
      const bytes = new Uint8Array(randomBytes(300_000));
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      page.port.sent++;
      page.session.upload({
        action: 'file',
        files: [{ name: 'data.bin', type: 'application/octet-stream', bytes }],
        multiple: false,
        processId: 7,
      });
      assert.deepEqual(await page.next('file'), {
        name: 'data.bin',
        type: 'application/octet-stream',
        size: 300_000,
        sha256,
      });
      const frames = await page.port.until(() => {
        const all = page.port.loads('__process') as ProcessLoad[];
        return all.at(-1)?.status === 'end' ? all : undefined;
      }, 'the end frame');
      assert.deepEqual(frames, [
        { id: 7, status: 'start' },
        { id: 7, status: 'end' },
      ]);
      page.port.sent++;
      page.session.upload({
        action: 'files',
        files: [
          { name: 'a.txt', type: 'text/plain', bytes: new Uint8Array([97]) },
          { name: 'empty.txt', type: '', bytes: new Uint8Array(0) },
        ],
        multiple: true,
        processId: null,
      });
      assert.deepEqual(await page.next('files'), [
        { name: 'a.txt', size: 1 },
        { name: 'empty.txt', size: 0 },
      ]);
      await page.port.until(() => page.port.dones === 2 || undefined, 'done() for both uploads');
    });

    void test('cancel: a queued call is dropped (it never runs, its end frame says cancelled); a running call sees the cancel', async (t) => {
      const m = await start();
      const page = open(m);
      const cancel = page.session.cancel?.bind(page.session);
      if (!cancel) {
        t.skip('this kernel has no cancel (the contract allows that: cancels are ignored)');
        return;
      }
      const target = (what: CancelTarget): void => cancel(what);
      page.send('steps', { n: 10_000, __process_id: 1 });
      page.send('echo', { x: 'dropped', __process_id: 2 });
      await page.port.waitFor(
        (f) => f.signal === '__process' && (f.load as ProcessLoad).status === 'progress',
        'a progress frame of the running call',
      );
      target({ kind: 'process', id: 2 });
      const dropped = await page.port.waitFor(
        (f) => f.signal === '__process' && (f.load as ProcessLoad).id === 2,
        'the end frame of the dropped call',
      );
      assert.deepEqual(dropped.load, { id: 2, status: 'end', cancelled: true });
      target({ kind: 'action', action: 'steps' });
      const stoppedAt = (await page.next('stopped')) as number;
      assert.ok(stoppedAt > 0 && stoppedAt < 10_000, `stopped at step ${stoppedAt}`);
      const end = await page.port.waitFor(
        (f) =>
          f.signal === '__process' &&
          (f.load as ProcessLoad).id === 1 &&
          (f.load as ProcessLoad).status === 'end',
        'the end frame of the cancelled call',
      );
      assert.deepEqual(end.load, { id: 1, status: 'end', cancelled: true });
      page.send('echo', ['after']);
      assert.equal(await page.next('echo'), 'after');
      assert.deepEqual(page.port.loads('echo'), ['after'], 'the dropped call never ran');
      assert.deepEqual(
        (page.port.loads('__process') as ProcessLoad[]).filter((p) => p.id === 2),
        [{ id: 2, status: 'end', cancelled: true }],
        'the dropped call has its end frame and no start',
      );
      await page.port.until(() => page.port.dones === 3 || undefined, '3 done() calls');
    });

    void test('a call the page asks to run as latest (a slider) answers while a queued call runs; queued calls still wait their turn', async (t) => {
      const m = await start();
      const page = open(m);
      if (!page.session.cancel) {
        t.skip('this kernel has no cancel: the long call could not be stopped');
        return;
      }
      page.send('steps', { n: 100_000, __process_id: 1 });
      await page.port.waitFor(
        (f) => f.signal === '__process' && (f.load as ProcessLoad).status === 'progress',
        'a progress frame of the long queued call',
      );
      page.send('wait', [1]);
      page.send('echo', ['slid'], 'latest');
      assert.equal(await page.next('echo'), 'slid', 'the latest call ran beside the queue');
      assert.deepEqual(page.port.loads('steps_done'), [], 'the queued call still runs');
      assert.deepEqual(page.port.loads('waited'), [], 'the next queued call still waits');
      // the long call keeps its progress once the other has run
      const seen = page.port.frames.length;
      await page.port.until(
        () =>
          page.port.frames
            .slice(seen)
            .some(
              (f) =>
                f.signal === '__process' &&
                (f.load as ProcessLoad).id === 1 &&
                (f.load as ProcessLoad).status === 'progress',
            ) || undefined,
        'a progress frame of the long call after the latest call ran',
      );
      page.session.cancel({ kind: 'process', id: 1 });
      await page.next('stopped');
      assert.equal(await page.next('waited'), 1);
      await page.port.until(
        () => (page.port.dones === page.port.sent ? true : undefined),
        'done() for every action',
      );
    });

    void test('calls of one latest action never overlap: a newer call cancels the running one and starts when it has returned', async (t) => {
      const m = await start();
      const page = open(m);
      if (!page.session.cancel) {
        t.skip('this kernel has no cancel: a latest call cannot stop the one before it');
        return;
      }
      page.send('steps', { n: 100_000, __process_id: 1 }, 'latest');
      await page.port.waitFor(
        (f) => f.signal === '__process' && (f.load as ProcessLoad).status === 'progress',
        'a progress frame of the first call',
      );
      page.send('steps', { n: 2, __process_id: 2 }, 'latest');
      assert.equal(await page.next('steps_done'), 2);
      await page.port.waitFor(
        (f) =>
          f.signal === '__process' &&
          (f.load as ProcessLoad).id === 2 &&
          (f.load as ProcessLoad).status === 'end',
        'the end frame of the second call',
      );
      const stopped = page.port.loads('stopped') as number[];
      assert.equal(stopped.length, 1, 'the first call saw its cancel');
      const ofCall = (f: Frame): unknown =>
        f.signal === '__process' ? (f.load as ProcessLoad).id : undefined;
      const statuses = page.port.frames
        .filter((f) => ofCall(f) !== undefined)
        .map((f) => `${String(ofCall(f))}:${(f.load as ProcessLoad).status}`)
        .filter((s) => !s.endsWith(':progress'));
      assert.deepEqual(statuses, ['1:start', '1:end', '2:start', '2:end'], 'no overlap');
      const ends = (page.port.loads('__process') as ProcessLoad[]).filter(
        (p) => p.status === 'end',
      );
      assert.equal(ends[0]!.cancelled, true, 'the first call ended cancelled');
      assert.equal(ends[1]!.cancelled, undefined, 'the second ran to its end');
      await page.port.until(() => (page.port.dones === 2 ? true : undefined), '2 done() calls');
    });

    void test('close runs disconnected, releases the session and resolves', async () => {
      const m = await start();
      const witness = open(m);
      const page = open(m);
      page.send('echo', [1]);
      await page.next('echo');
      await page.close();
      await leftSeen(witness, page.id);
      // a change after the close reaches the other page only (a frame on the closed one fails the test)
      witness.send('set_class_data', ['after', page.id]);
      await witness.port.waitFor(
        (f) => f.signal === 'class_data' && (f.load as { after?: string }).after === page.id,
        'the change after the close',
      );
      assert.equal(page.port.failure, undefined);
    });

    void test('a session whose handler never returns is closed after the grace period: its queued actions do not run, disconnected runs', async () => {
      const m = await start();
      const witness = open(m);
      const page = open(m);
      page.send('echo', ['before']);
      assert.equal(await page.next('echo'), 'before');
      page.send('forever');
      page.send('echo', ['never']);
      await page.next('forever');
      await page.close();
      await leftSeen(witness, page.id);
      assert.deepEqual(page.port.loads('echo'), ['before']);
      // the kernel still serves
      const next = open(m);
      next.send('echo', ['fresh']);
      assert.equal(await next.next('echo'), 'fresh');
    });

    void test('frames of any size cross whole, and a burst arrives complete and in order', async () => {
      const m = await start();
      const page = open(m);
      // 900 kB of three-byte UTF-8 in one frame
      page.send('big', [300_000]);
      const big = String(await page.next('big'));
      assert.equal(big.length, 300_000);
      assert.ok(/^€+$/.test(big), 'every character arrived intact');
      page.send('burst', [5000]);
      await page.port.until(
        () => (page.port.loads('burst').length === 5000 ? true : undefined),
        '5000 burst frames',
      );
      const burst = page.port.loads('burst');
      assert.ok(
        burst.every((v, i) => v === i),
        'the burst frames arrived in order',
      );
    });

    void test('retire: open sessions keep working; the kernel ends once the last one has closed', async () => {
      const m = await start();
      const page = open(m);
      page.send('echo', [1]);
      await page.next('echo');
      m.kernel.retire();
      page.send('echo', [2]);
      assert.equal(await page.next('echo'), 2);
      if (memberIds) assert.ok(memberIds(m.kernel).length > 0, 'a member ended under a session');
      await page.close();
      if (memberIds) {
        await until(() => memberIds(m.kernel).length === 0, 'the members to end', END_CAP_MS);
      }
      await dispose(m);
    });

    void test('dispose ends the kernel after its sessions have closed', async () => {
      const m = await start();
      const pages = [open(m), open(m)];
      for (const page of pages) {
        page.send('echo', ['x']);
        await page.next('echo');
      }
      await Promise.all(pages.map((p) => p.close()));
      await dispose(m);
      if (memberIds) assert.deepEqual(memberIds(m.kernel), [], 'no member is left');
    });

    if (!memberIds) return;

    /** Two sessions of a fresh kernel, on a member each. */
    const twoMembers = async (m: Made<K>): Promise<[Page, number, Page, number]> => {
      const a = open(m);
      const b = open(m);
      const [ma, mb] = [await a.member(), await b.member()];
      assert.notEqual(ma, mb, 'an idle kernel gives a second session a member of its own');
      assert.ok(memberIds(m.kernel).includes(ma) && memberIds(m.kernel).includes(mb));
      return [a, ma, b, mb];
    };

    void test('a handler that computes blocks only its own member: other sessions and the caller are answered meanwhile', async () => {
      const m = await start();
      const [a, , b] = await twoMembers(m);
      const dir = await mkdtemp(join(tmpdir(), 'databench-kernel-'));
      try {
        a.send('spin', [dir]);
        await until(() => existsSync(join(dir, 'started')), 'the handler to start computing', ms);
        for (let i = 0; i < 5; i++) {
          b.send('echo', [i]);
          assert.equal(await b.next('echo'), i);
        }
        assert.deepEqual(a.port.loads('spun'), [], 'the computing handler was still running');
        await writeFile(join(dir, 'stop'), '');
        assert.equal(await a.next('spun'), true);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    void test('a member that dies fails only its own sessions (1011, with the cause) and is logged; the others keep serving', async () => {
      const m = await start();
      const [a, ma, b] = await twoMembers(m);
      a.send('exit', [3]);
      const failure = await a.port.until(() => a.port.failure, 'fail() of the page');
      assert.equal(failure.code, 1011);
      assert.match(failure.message, /code 3/, 'the message says why');
      assert.ok(
        m.logger.lines.some(
          ([level, line]) =>
            level === 'error' && line.includes(`[${m.kernel.name}]`) && /code 3/.test(line),
        ),
        'the death is logged at error level with the analysis name and the cause',
      );
      b.send('echo', ['still here']);
      assert.equal(await b.next('echo'), 'still here');
      assert.equal(b.port.failure, undefined);
      await until(() => !memberIds(m.kernel).includes(ma), 'the dead member to go', END_CAP_MS);
      const c = open(m);
      c.send('echo', ['new']);
      assert.equal(await c.next('echo'), 'new');
      await a.close();
    });

    void test('a handler that never yields: close releases the session, the stuck member ends, new sessions go elsewhere', async () => {
      const m = await start();
      const a = open(m);
      const stuck = await a.member();
      a.send('hang');
      a.send('echo', ['never']);
      await a.close();
      await until(
        () => !memberIds(m.kernel).includes(stuck),
        'the stuck member to end',
        END_CAP_MS,
      );
      const b = open(m);
      assert.notEqual(await b.member(), stuck);
      b.send('echo', ['fresh']);
      assert.equal(await b.next('echo'), 'fresh');
      assert.deepEqual(a.port.loads('echo'), []);
    });
  });
}
