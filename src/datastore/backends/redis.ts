/**
 * The Redis backend: one datastore shared by many server processes and hosts.
 *
 * Import it as `databench-ts/datastore/redis`; the server imports it (and the
 * optional dependency `ioredis`) only when it is given a Redis URL, so the
 * default install and start pay nothing for it.
 *
 * Layout in Redis (prefix `databench:` by default), readable with redis-cli:
 * - `databench:domain:NAME`: a hash, field = key, value = the JSON the wire uses
 *   (`HGETALL databench:domain:Dummypi`);
 * - `databench:version:NAME`: the domain's write counter (see "Convergence"),
 *   made when a process first opens the domain: it marks the domain (a page's
 *   analysis id) as one the servers issued;
 * - `databench:epoch`: a token every process reads; a new one means Redis
 *   lost everything (a FLUSHALL, a restart without persistence);
 * - channel `databench:changes:NAME`: every write to the domain, as it happened;
 * - channel `databench:takeover`: a page resumed a session (so the process
 *   that had it closes its page), and `databench:barrier:ORIGIN`: answers.
 *
 * A page's `data` domain (opened with `releaseAfterMs`) expires that long after
 * the last process let go of it: while a process holds it, it renews the TTL
 * (a lease), so the data of a process that died goes too, and a page that
 * reconnects to any process within that time finds its data.
 */
import { randomBytes } from 'node:crypto';
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import { DatabenchError } from '../../protocol/errors.js';
import { isJsonText } from '../../protocol/json-text.js';
import type { AttachOptions, BackendEvent, DatastoreBackend, DetachOptions } from '../backend.js';

/** Options of {@link createRedisBackend}. */
export interface RedisBackendOptions {
  /** `redis://[[user]:password@]HOST[:PORT][/DB]` or `rediss://…` (TLS). Required. */
  url: string;
  /** Prefix of every key and channel. Default: `databench:`. */
  prefix?: string;
  /** How long the first connection may take before {@link createRedisBackend} fails. Default: 5000. */
  connectTimeoutMs?: number;
  /**
   * How many reconnection attempts a write waits through while Redis is away
   * before it is given up (reported as a `write-failed` event; the mirror is
   * then reloaded from Redis). Reconnection is tried every 100 ms, then every
   * second. Default: 30 (about half a minute).
   */
  maxRetriesPerRequest?: number;
  /** Write batches sent and not yet answered, at most; later writes wait, coalesced per key. Default: 32. */
  maxInflightBatches?: number;
  /** Bytes of writes not yet sent above which a writer's Promise waits for them to go. Default: 16 MiB. */
  maxQueuedBytes?: number;
  /**
   * How often each process checks that Redis still holds what it mirrors
   * (one round trip: the epoch and the version keys of the domains without
   * a TTL); a FLUSHALL, a restart without persistence or an evicted key
   * makes it reload its mirrors from Redis. Default: 1000.
   */
  checkEveryMs?: number;
  /**
   * How long a resume waits for the other processes to close their page on
   * the session (see {@link RedisBackend.takeOver}) before it goes on. A
   * live process answers within milliseconds; the bound matters when one is
   * stuck, or has just died while Redis still counts its subscription (a
   * page resuming after its server crashed then waits all of it). Default: 2000.
   */
  takeOverTimeoutMs?: number;
}

/** Resolved {@link RedisBackendOptions}: every field set. */
export interface ResolvedRedisBackendOptions {
  url: string;
  prefix: string;
  connectTimeoutMs: number;
  maxRetriesPerRequest: number;
  maxInflightBatches: number;
  maxQueuedBytes: number;
  checkEveryMs: number;
  takeOverTimeoutMs: number;
}

/** The URL with its password replaced by `***`, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** True for a `redis://` or `rediss://` URL (what selects this backend). */
export function isRedisUrl(value: string): boolean {
  return /^rediss?:\/\//i.test(value);
}

/**
 * Check and complete the options once; a bad URL throws a DatabenchError with
 * code `DATASTORE_URL` that names the value and the expected form.
 */
export function resolveRedisBackendOptions(
  options: RedisBackendOptions | string,
): ResolvedRedisBackendOptions {
  const o = typeof options === 'string' ? { url: options } : options;
  const bad = (why: string): DatabenchError =>
    new DatabenchError(
      'DATASTORE_URL',
      `datastore URL "${redactUrl(o.url)}" ${why}: expected redis://HOST:PORT/DB`,
    );
  let u: URL;
  try {
    u = new URL(o.url);
  } catch {
    throw bad('is not a URL');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw bad('is not a redis:// URL');
  if (u.hostname === '') throw bad('has no host');
  if (u.pathname !== '' && u.pathname !== '/' && !/^\/\d+$/.test(u.pathname)) {
    throw bad('has a path that is not a database number');
  }
  if (u.search !== '' || u.hash !== '') throw bad('has a query or fragment');
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v <= 0) {
      throw new DatabenchError(
        'INVALID_OPTION',
        `option ${name} must be a positive integer, got ${String(value)}`,
      );
    }
    return v;
  };
  const prefix = o.prefix ?? 'databench:';
  if (typeof prefix !== 'string') {
    throw new DatabenchError(
      'INVALID_OPTION',
      `option prefix must be a string, got ${String(prefix)}`,
    );
  }
  return {
    url: o.url,
    prefix,
    connectTimeoutMs: positive('connectTimeoutMs', o.connectTimeoutMs, 5000),
    maxRetriesPerRequest: positive('maxRetriesPerRequest', o.maxRetriesPerRequest, 30),
    maxInflightBatches: positive('maxInflightBatches', o.maxInflightBatches, 32),
    maxQueuedBytes: positive('maxQueuedBytes', o.maxQueuedBytes, 16 << 20),
    checkEveryMs: positive('checkEveryMs', o.checkEveryMs, 1000),
    takeOverTimeoutMs: positive('takeOverTimeoutMs', o.takeOverTimeoutMs, 2000),
  };
}

/*
 * Convergence. Every write goes through WRITE_SCRIPT, which Redis runs
 * atomically: it bumps the domain's version counter, applies the batch to the
 * hash and publishes it with that version. So the order of versions is the
 * order in which Redis applied the writes, and the value with the highest
 * version of a key is the one Redis holds. Each process applies its own
 * writes to its mirror at once (reads stay synchronous) and skips its own
 * published batches (it has them already). A remote batch is applied to a key
 * only when its version is higher than the one the mirror reflects; while a
 * key has local writes Redis has not answered yet, remote batches for it are
 * held back (the newest one kept), and when the last local write's version
 * comes back the higher of the two wins. Hence, once the writes stop, every
 * mirror holds, per key, the value of the highest version: Redis's value.
 *
 * Loss. Redis may lose a domain while processes mirror it: a FLUSHALL, an
 * evicted key, a restart without persistence. The version key exists from
 * the first load on (SNAPSHOT_SCRIPT makes it), so a write that finds it
 * missing knows: WRITE_SCRIPT then publishes its batch (and answers) with the
 * version negated, and every process that holds the domain, the writer too,
 * reloads its mirror from Redis. A version that goes backwards means the
 * same: on the channel, versions only grow; on the client connection, a
 * write's answer is above the last load's and the last write's. Without
 * writes, each process checks every `checkEveryMs` that the epoch token is
 * the one it knows and that its domains without a TTL still have their
 * version keys; the lease renewal of a domain with a TTL finds a missing
 * version key too. A reload puts what Redis holds into the mirror, so pages
 * get what Redis holds.
 */
const WRITE_SCRIPT = `
local fresh = redis.call('EXISTS', KEYS[2]) == 0
local v = redis.call('INCR', KEYS[2])
if fresh then v = -v end
local out = {ARGV[2], ' ', v, ' ', (#ARGV - 3) / 3}
for i = 4, #ARGV, 3 do
  local op, key, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if op == 'd' then
    redis.call('HDEL', KEYS[1], key)
  else
    redis.call('HSET', KEYS[1], key, value)
  end
  out[#out + 1] = '\\n' .. op .. ' ' .. #key .. ' ' .. #value .. ' ' .. key .. value
end
if ARGV[3] ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
redis.call('PUBLISH', ARGV[1], table.concat(out))
return v
`;

/**
 * The domain's entries and the version they are at, in one atomic read; the
 * version key made if it is missing (it marks the domain as issued), and the
 * lease renewed.
 */
const SNAPSHOT_SCRIPT = `
redis.call('SET', KEYS[2], '0', 'NX')
if ARGV[1] ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return {redis.call('GET', KEYS[2]), redis.call('HGETALL', KEYS[1])}
`;

/**
 * KEYS[1] the epoch key, then version keys: the epoch token (ARGV[1] when
 * there was none), then each version (-1 for a missing key).
 */
const CHECK_SCRIPT = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local out = {redis.call('GET', KEYS[1])}
for i = 2, #KEYS do
  out[i] = redis.call('GET', KEYS[i]) or '-1'
end
return out
`;

type Client = RedisClient & {
  databenchWrite(
    hash: string,
    version: string,
    channel: string,
    origin: string,
    ttl: string,
    ...entries: string[]
  ): Promise<number>;
  databenchSnapshot(hash: string, version: string, ttl: string): Promise<[string, string[]]>;
  databenchCheck(numberOfKeys: number, ...keysAndToken: string[]): Promise<string[]>;
};

/** A key with local writes that Redis has not answered yet. */
interface PendingKey {
  /** Batches (queued or in flight) that hold a write of this key. */
  batches: number;
  /** The newest remote value known meanwhile (a change, or a load's). */
  remote: { version: number; encoded: string | undefined } | undefined;
}

/** One decoded published batch. */
interface Batch {
  origin: string;
  version: number;
  /** The writer found the version key missing: Redis lost the domain. */
  reset: boolean;
  entries: Array<[string, string | undefined]>;
}

/** What this process knows about one attached domain. */
class DomainState {
  readonly hash: string;
  readonly versionKey: string;
  readonly channel: string;
  /** The mirror the Datastore reads, once `attach` has handed it over. */
  mirror: Map<string, string> | undefined;
  /** Until then: the map the first load filled. */
  initial: Map<string, string> | undefined;
  /** Messages that arrived while the domain was (re)loading, applied after the load. */
  buffer: Batch[] | undefined;
  /** Every key is at least at this version (the last load's). */
  base = 0;
  /** Keys changed since the last load, at the version the mirror reflects. */
  readonly seen = new Map<string, number>();
  readonly pending = new Map<string, PendingKey>();
  /** Writes not sent yet, coalesced per key (latest wins). */
  queued = new Map<string, string | undefined>();
  detached = false;
  /** The last version heard on the channel: there, versions only grow (unless Redis lost the domain). */
  heard = 0;
  /** The last version the client connection saw: the last load's, then each write's. */
  stored = 0;
  /** The load running, if any; `again`: another one is wanted after it. */
  loading: Promise<void> | undefined;
  again = false;
  /** A load has completed (before it, the version key may not exist yet: the first load makes it). */
  loaded = false;

  constructor(
    prefix: string,
    readonly name: string,
    readonly onRemoteChange: (key: string, encoded: string | undefined) => void,
    readonly ttlMs: number,
  ) {
    this.hash = `${prefix}domain:${name}`;
    this.versionKey = `${prefix}version:${name}`;
    this.channel = `${prefix}changes:${name}`;
  }
}

/** The smallest entry of a published batch: `\n`, op, ` 0 0 ` (an empty key and value). */
const MIN_ENTRY_BYTES = 7;
/** Digits of a number in a published batch, at most (a safe integer). */
const MAX_DIGITS = 15;
/**
 * @internal A takeover message (`origin token domain`) is never longer. A
 * session's domain names its user when one signed in (`id@user`, the user id
 * escaped): the login accepts ids of at most 256 UTF-8 bytes
 * (MAX_USER_ID_BYTES of analysis/user.ts), which escape to at most 768
 * characters, so a message is at most 34 + 36 + 1 + 768 = 839 bytes. A test
 * (analysis/user.test.ts) checks the longest ids against this bound.
 */
export const MAX_TAKEOVER_BYTES = 2048;
const HEX16 = /^[0-9a-f]{16}$/;

/** The decimal number in `buf[start, end)`: digits only, at most {@link MAX_DIGITS}; else -1. */
function readNumber(buf: Buffer, start: number, end: number): number {
  if (end <= start || end - start > MAX_DIGITS) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Decode a published batch: `origin version count` then, per entry,
 * `\n op keyBytes valueBytes key value`. Every count and length is checked
 * against the bytes that are there before anything is allocated, and every
 * value must be one JSON value: anything else answers why it is refused.
 * Linear in the message's length, whatever it claims.
 */
function parseBatch(buf: Buffer): Batch | string {
  const length = buf.length;
  const s1 = buf.indexOf(32);
  if (s1 <= 0 || s1 > 64) return 'no origin';
  const origin = buf.toString('latin1', 0, s1);
  const reset = buf[s1 + 1] === 0x2d; // -
  const s2 = buf.indexOf(32, s1 + 1);
  const version = s2 < 0 ? -1 : readNumber(buf, s1 + (reset ? 2 : 1), s2);
  if (version < 1) return 'no version';
  const nl = buf.indexOf(10, s2 + 1);
  if (nl < 0) return 'no entries';
  const count = readNumber(buf, s2 + 1, nl);
  // every entry takes MIN_ENTRY_BYTES at least: a count the message cannot hold is refused at once
  if (count < 1 || count > (length - nl) / MIN_ENTRY_BYTES) {
    return `a count of entries (${buf.toString('latin1', s2 + 1, Math.min(nl, s2 + 1 + 20))}) that ${length} bytes cannot hold`;
  }
  const entries: Array<[string, string | undefined]> = [];
  let pos = nl;
  for (let i = 0; i < count; i++) {
    const op = buf[pos + 1];
    if (buf[pos] !== 10 || (op !== 0x73 && op !== 0x64) || buf[pos + 2] !== 32) {
      return `entry ${i + 1} is not "s" or "d" on a line of its own`;
    }
    const a = buf.indexOf(32, pos + 3);
    const b = a < 0 ? -1 : buf.indexOf(32, a + 1);
    const keyBytes = b < 0 ? -1 : readNumber(buf, pos + 3, a);
    const valueBytes = keyBytes < 0 ? -1 : readNumber(buf, a + 1, b);
    const keyStart = b + 1;
    const valueStart = keyStart + keyBytes;
    const end = valueStart + valueBytes;
    if (valueBytes < 0 || end > length)
      return `entry ${i + 1} has lengths the message does not hold`;
    const key = buf.toString('utf8', keyStart, valueStart);
    if (op === 0x64) {
      if (valueBytes !== 0) return `entry ${i + 1} deletes with a value`;
      entries.push([key, undefined]);
    } else {
      const value = buf.toString('utf8', valueStart, end);
      if (!isJsonText(value)) return `the value of ${describeKey(key)} is not one JSON value`;
      entries.push([key, value]);
    }
    pos = end;
  }
  if (pos !== length) return `${length - pos} bytes after the last entry`;
  return { origin, version, reset, entries };
}

/** A key for a message: quoted, at most 100 characters of it. */
function describeKey(key: string): string {
  return JSON.stringify(key.length > 100 ? key.slice(0, 100) + '…' : key);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

const ignore = (): undefined => undefined;

/**
 * The Redis {@link DatastoreBackend}. Create it with {@link createRedisBackend}
 * (which connects first); `dispose()` sends what is queued and disconnects.
 *
 * @example
 * import { createRedisBackend } from 'databench-ts/datastore/redis';
 * const backend = await createRedisBackend('redis://127.0.0.1:6379/0');
 * const store = new Datastore('Counter', { backend });
 * await store.ready;
 */
export class RedisBackend implements DatastoreBackend {
  readonly name = 'redis';
  /** This process's id in published batches (so it can skip its own). */
  readonly origin = randomBytes(8).toString('hex');
  /** `origin ` as bytes: what a batch of this process starts with. */
  private readonly originPrefix = Buffer.from(`${this.origin} `, 'latin1');
  private readonly domains = new Map<string, DomainState>();
  private readonly byChannel = new Map<string, DomainState>();
  private readonly dirty = new Set<DomainState>();
  private flushScheduled = false;
  private inflight = 0;
  private queuedBytes = 0;
  private drainWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];
  private readonly listeners = new Set<(event: BackendEvent) => void>();
  private readonly takeOverListeners = new Set<(domain: string) => void | Promise<void>>();
  private down = false;
  /** Times a connection was lost: a recovery that saw one more starts over. */
  private drops = 0;
  private recovering = false;
  private disposed = false;
  private leaseTimer: ReturnType<typeof setInterval> | undefined;
  private leaseEveryMs = Infinity;
  private checkTimer: ReturnType<typeof setInterval> | undefined;
  private checking = false;
  /** The epoch token this process last read (see "Loss"). */
  private epoch: string | undefined;
  private readonly epochKey: string;
  private readonly barrierChannel: string;
  private readonly takeOverChannel: string;
  private barrierWaiters = new Map<string, () => void>();
  /** Woken when a connection drops, when Redis is back (`up`) and on dispose. */
  private readonly stateWaiters = new Set<() => void>();

  /** @internal Use {@link createRedisBackend}. */
  constructor(
    readonly options: ResolvedRedisBackendOptions,
    private readonly client: Client,
    private readonly sub: RedisClient,
  ) {
    this.epochKey = `${options.prefix}epoch`;
    this.barrierChannel = `${options.prefix}barrier:${this.origin}`;
    this.takeOverChannel = `${options.prefix}takeover`;
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onMessage(channel, message));
    const onDown = (): void => {
      if (this.disposed) return;
      this.drops++;
      this.wake();
      if (this.down) return;
      this.down = true;
      this.emit({
        type: 'down',
        error: new Error(`Redis at ${redactUrl(options.url)} is unreachable`),
      });
    };
    client.on('close', onDown);
    sub.on('close', onDown);
    // ioredis reports every failed reconnection as an 'error': 'down' says it once
    client.on('error', ignore);
    sub.on('error', ignore);
    const onReady = (): void => {
      if (this.down && !this.disposed) this.recover();
    };
    client.on('ready', onReady);
    sub.on('ready', onReady);
  }

  /** @internal Subscribe to this process's channels, read the epoch, start the checks. */
  async start(): Promise<void> {
    await this.sub.subscribe(this.barrierChannel, this.takeOverChannel);
    await this.check(true);
    this.checkTimer = setInterval(() => void this.check(false), this.options.checkEveryMs);
    this.checkTimer.unref();
  }

  /** Listen for `down`, `up`, `write-failed`, `reset` and `dropped`; returns the function that stops listening. */
  onEvent(listener: (event: BackendEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: BackendEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  async attach(
    domain: string,
    onRemoteChange: (key: string, encoded: string | undefined) => void,
    options?: AttachOptions,
  ): Promise<Map<string, string>> {
    const ttl =
      options?.releaseAfterMs !== undefined ? Math.max(1, Math.ceil(options.releaseAfterMs)) : 0;
    const st = new DomainState(this.options.prefix, domain, onRemoteChange, ttl);
    st.buffer = [];
    this.domains.set(domain, st);
    this.byChannel.set(st.channel, st);
    if (ttl > 0) this.lease(ttl);
    // subscribed before the read, so no change falls between the two
    await this.sub.subscribe(st.channel);
    await this.reload(st);
    const map = st.initial ?? new Map<string, string>();
    st.initial = undefined;
    st.mirror = map;
    return map;
  }

  /**
   * Load the domain from Redis: one load at a time per domain; asked for
   * while one runs, another runs after it (a recovery and an attach, or a
   * loss found meanwhile). Resolves when the domain is loaded.
   */
  private reload(st: DomainState): Promise<void> {
    if (st.loading !== undefined) {
      st.again = true;
      return st.loading;
    }
    const run = async (): Promise<void> => {
      try {
        do {
          st.again = false;
          await this.load(st);
        } while (st.again && !st.detached);
      } finally {
        st.loading = undefined;
      }
    };
    st.loading = run();
    return st.loading;
  }

  /**
   * Read the domain and its version; apply what arrived meanwhile. The first
   * load fills the map `attach` returns; a reload brings the mirror to
   * Redis's state through `onRemoteChange`. Values that are not one JSON
   * value are left out (and reported).
   */
  private async load(st: DomainState): Promise<void> {
    st.buffer ??= [];
    const [version, flat] = await this.client.databenchSnapshot(
      st.hash,
      st.versionKey,
      String(st.ttlMs),
    );
    if (st.detached) {
      st.buffer = undefined;
      return;
    }
    const snapshot = new Map<string, string>();
    let bad: string | undefined;
    let badCount = 0;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const value = flat[i + 1]!;
      if (isJsonText(value)) snapshot.set(flat[i]!, value);
      else if (badCount++ === 0) bad = flat[i]!;
    }
    if (bad !== undefined) {
      this.emit({
        type: 'dropped',
        domain: st.name,
        reason: `${badCount} stored value(s) that are not one JSON value (${describeKey(bad)}${badCount > 1 ? ', …' : ''}) left out`,
      });
    }
    const v = Number(version);
    st.loaded = true;
    st.base = v;
    st.stored = v;
    st.seen.clear();
    // a key with writes in flight: the load's value is the newest remote one known
    for (const [key, pending] of st.pending) {
      if (pending.remote === undefined || pending.remote.version <= v) {
        pending.remote = { version: v, encoded: snapshot.get(key) };
      }
    }
    const buffered = st.buffer;
    st.buffer = undefined;
    const mirror = st.mirror;
    if (mirror === undefined) {
      // not handed to the Datastore yet: it puts its own early writes over this map
      for (const batch of buffered) this.applyBatch(st, batch, snapshot);
      st.initial = snapshot;
      return;
    }
    const local = (key: string): boolean => st.pending.has(key) || st.queued.has(key);
    for (const key of [...mirror.keys()]) {
      if (!snapshot.has(key) && !local(key)) st.onRemoteChange(key, undefined);
    }
    for (const [key, encoded] of snapshot) {
      if (!local(key)) st.onRemoteChange(key, encoded);
    }
    for (const batch of buffered) this.applyBatch(st, batch, undefined);
  }

  /** Redis lost or rewound the domain: say so, forget what was known of it, reload it. */
  private lost(st: DomainState, reason: string): void {
    if (st.detached || this.disposed) return;
    for (const pending of st.pending.values()) pending.remote = undefined;
    this.emit({ type: 'reset', domain: st.name, reason });
    this.reload(st).catch(ignore);
  }

  private onMessage(channelBuf: Buffer, message: Buffer): void {
    const channel = channelBuf.toString();
    const st = this.byChannel.get(channel);
    if (st === undefined) {
      if (channel === this.barrierChannel) {
        const token = message.toString('latin1');
        this.barrierWaiters.get(token)?.();
      } else if (channel === this.takeOverChannel) {
        this.onTakeOverMessage(message);
      }
      return;
    }
    // our own batches: the mirror has them already
    const own = this.originPrefix;
    if (message.length > own.length && message.compare(own, 0, own.length, 0, own.length) === 0) {
      return;
    }
    const batch = parseBatch(message);
    if (typeof batch === 'string') {
      this.emit({ type: 'dropped', domain: st.name, reason: `a change message with ${batch}` });
      return;
    }
    const previous = st.heard;
    st.heard = batch.version;
    if (batch.reset || batch.version <= previous) {
      // the reload's snapshot holds this batch too: it was published before it
      this.lost(
        st,
        batch.reset
          ? 'another process found its version key gone (a flush, an eviction or a restart)'
          : `its version went back from ${previous} to ${batch.version}`,
      );
      return;
    }
    if (st.buffer !== undefined) st.buffer.push(batch);
    else this.applyBatch(st, batch, undefined);
  }

  /** Apply a remote batch to `into` (a first load) or through `onRemoteChange`. */
  private applyBatch(st: DomainState, batch: Batch, into: Map<string, string> | undefined): void {
    if (batch.origin === this.origin) return;
    for (const [key, encoded] of batch.entries) {
      const pending = st.pending.get(key);
      if (pending !== undefined) {
        if (pending.remote === undefined || batch.version > pending.remote.version) {
          pending.remote = { version: batch.version, encoded };
        }
        continue;
      }
      if (batch.version <= (st.seen.get(key) ?? st.base)) continue;
      st.seen.set(key, batch.version);
      if (into === undefined) st.onRemoteChange(key, encoded);
      else if (encoded === undefined) into.delete(key);
      else into.set(key, encoded);
    }
  }

  write(domain: string, key: string, encoded: string | undefined): void | Promise<void> {
    if (this.disposed) {
      throw new DatabenchError('DATASTORE_CLOSED', 'the Redis datastore backend has been disposed');
    }
    let st = this.domains.get(domain);
    if (st === undefined) {
      // a write to a domain not open here (the contract does not make one,
      // but a write must never be dropped): send it untracked
      st = new DomainState(this.options.prefix, domain, () => undefined, 0);
      st.detached = true;
    }
    if (!st.queued.has(key)) {
      const pending = st.pending.get(key);
      if (pending === undefined) st.pending.set(key, { batches: 1, remote: undefined });
      else pending.batches++;
    }
    st.queued.set(key, encoded);
    this.queuedBytes += key.length + (encoded?.length ?? 0) + 8;
    this.dirty.add(st);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
    // streamed writes do not wait for Redis: only past the bound does the writer wait
    if (this.queuedBytes > this.options.maxQueuedBytes) {
      return new Promise((resolve) => this.drainWaiters.push(resolve));
    }
    return undefined;
  }

  /** Send queued writes, one batch per domain, while fewer than the bound are in flight. */
  private flush(force = false): void {
    for (const st of this.dirty) {
      if (!force && this.inflight >= this.options.maxInflightBatches) break;
      this.dirty.delete(st);
      this.send(st);
    }
  }

  private send(st: DomainState): void {
    const batch = st.queued;
    if (batch.size === 0) return;
    st.queued = new Map();
    const args: string[] = [];
    let bytes = 0;
    for (const [key, encoded] of batch) {
      args.push(encoded === undefined ? 'd' : 's', key, encoded ?? '');
      bytes += key.length + (encoded?.length ?? 0) + 8;
    }
    this.queuedBytes -= bytes;
    if (this.queuedBytes <= this.options.maxQueuedBytes / 2 && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
    this.inflight++;
    this.client
      .databenchWrite(st.hash, st.versionKey, st.channel, this.origin, String(st.ttlMs), ...args)
      .then(
        (version) => this.written(st, batch, Number(version)),
        (error: unknown) => this.failed(st, batch, error),
      );
  }

  private written(st: DomainState, batch: Map<string, unknown>, answer: number): void {
    this.inflight--;
    const version = Math.abs(answer);
    // answers on the one client connection come in order: each is above the last load's and write's
    const rewound = version <= st.stored;
    const previous = st.stored;
    st.stored = version;
    // a write sent before the first load finds no version key yet: not a loss
    const lost = !st.detached && st.loaded && (answer < 0 || rewound);
    if (lost) for (const pending of st.pending.values()) pending.remote = undefined;
    for (const key of batch.keys()) {
      const pending = st.pending.get(key);
      if (pending === undefined) continue;
      if (--pending.batches > 0) continue;
      st.pending.delete(key);
      const remote = pending.remote;
      if (remote !== undefined && remote.version > version) {
        // another process wrote this key after us: its value is Redis's
        st.seen.set(key, remote.version);
        if (!st.detached) st.onRemoteChange(key, remote.encoded);
      } else {
        st.seen.set(key, version);
      }
    }
    if (lost) {
      this.lost(
        st,
        answer < 0
          ? 'a write found its version key gone (a flush, an eviction or a restart)'
          : `its version went back from ${previous} to ${version}`,
      );
    }
    this.settled();
  }

  private failed(st: DomainState, batch: Map<string, unknown>, error: unknown): void {
    this.inflight--;
    const keys = [...batch.keys()];
    for (const key of keys) {
      const pending = st.pending.get(key);
      if (pending !== undefined && --pending.batches <= 0) st.pending.delete(key);
    }
    const e = error instanceof Error ? error : new Error(String(error));
    this.emit({ type: 'write-failed', domain: st.name, keys, error: e });
    // the mirror holds values Redis does not: read Redis's again (now, or on reconnection)
    if (!st.detached && !this.down && !this.disposed) this.reload(st).catch(ignore);
    this.settled();
  }

  private settled(): void {
    if (this.dirty.size > 0) this.flush();
    if (this.inflight === 0 && this.dirty.size === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  detach(domain: string, { release, releaseAfterMs }: DetachOptions): Promise<void> {
    const st = this.domains.get(domain);
    if (st === undefined) return Promise.resolve();
    this.domains.delete(domain);
    this.byChannel.delete(st.channel);
    st.detached = true;
    // what is queued goes first (one connection keeps the order)
    if (this.dirty.delete(st)) this.send(st);
    const done: Array<Promise<unknown>> = [this.sub.unsubscribe(st.channel)];
    if (release) {
      done.push(this.client.del(st.hash, st.versionKey));
    } else if (releaseAfterMs !== undefined) {
      const ms = Math.max(1, Math.ceil(releaseAfterMs));
      done.push(this.client.pexpire(st.hash, ms), this.client.pexpire(st.versionKey, ms));
    }
    return Promise.all(done).then(
      () => undefined,
      () => undefined, // Redis away: the lease expires by itself
    );
  }

  /**
   * Whether Redis holds `domain`: open in some process, or detached and not
   * expired yet (its version key, made at the first load, marks it), or with
   * data. A never-opened or released domain has neither.
   */
  has(domain: string): boolean | Promise<boolean> {
    if (this.domains.has(domain)) return true;
    const p = this.options.prefix;
    return this.client.exists(`${p}version:${domain}`, `${p}domain:${domain}`).then((n) => n > 0);
  }

  /**
   * A page of this process resumes the session `domain`: every other
   * process closes its page on it and answers once that session has ended
   * (and what it wrote is sent). Resolves when every process subscribed has
   * answered, or after `takeOverTimeoutMs` (a process that is stuck), or at
   * once when Redis cannot be asked.
   */
  async takeOver(domain: string): Promise<void> {
    if (this.disposed || this.down) return;
    const token = randomBytes(8).toString('hex');
    let answered = 0;
    let expected = Infinity;
    let allAnswered!: () => void;
    const all = new Promise<void>((resolve) => (allAnswered = resolve));
    this.barrierWaiters.set(token, () => {
      if (++answered >= expected) allAnswered();
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const asked = this.client
        .publish(this.takeOverChannel, `${this.origin} ${token} ${domain}`)
        .then((receivers) => {
          // every subscribed process answers, this one excepted
          expected = receivers - 1;
          if (answered >= expected) allAnswered();
          return all;
        });
      await Promise.race([
        asked,
        new Promise<void>(
          (resolve) => (timer = setTimeout(resolve, this.options.takeOverTimeoutMs)),
        ),
      ]);
    } catch {
      // Redis away: the page resumes here; the other page (if any) is cut off by its pings
    } finally {
      clearTimeout(timer);
      this.barrierWaiters.delete(token);
    }
  }

  /** Call `listener(domain)` when a page of another process resumes `domain`; returns the remover. */
  onTakeOver(listener: (domain: string) => void | Promise<void>): () => void {
    this.takeOverListeners.add(listener);
    return () => this.takeOverListeners.delete(listener);
  }

  /** Another process resumes a session: close ours on it, send what it wrote, answer. */
  private onTakeOverMessage(message: Buffer): void {
    if (message.length > MAX_TAKEOVER_BYTES) return;
    const [origin, token, domain] = message.toString('latin1').split(' ');
    if (origin === undefined || token === undefined || domain === undefined) return;
    if (origin === this.origin || !HEX16.test(origin) || !HEX16.test(token)) return;
    const ended: Array<Promise<void>> = [];
    for (const listener of this.takeOverListeners) {
      try {
        ended.push(Promise.resolve(listener(domain)));
      } catch {
        // a listener that throws has nothing to wait for
      }
    }
    void Promise.all(ended)
      .catch(ignore)
      .then(() => {
        if (this.disposed) return;
        // the session's last writes go before the answer (one connection keeps the order)
        this.flush(true);
        return this.client.publish(`${this.options.prefix}barrier:${origin}`, token);
      })
      .catch(ignore);
  }

  /** Renew the TTL of every held domain that has one, often enough that it never lapses. */
  private lease(ttlMs: number): void {
    const every = Math.max(50, Math.floor(ttlMs / 3));
    if (every >= this.leaseEveryMs) return;
    this.leaseEveryMs = every;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    this.leaseTimer = setInterval(() => {
      if (this.down) return;
      for (const st of this.domains.values()) {
        if (st.ttlMs === 0) continue;
        this.client.pexpire(st.hash, st.ttlMs).catch(ignore);
        this.client.pexpire(st.versionKey, st.ttlMs).then((renewed) => {
          // the version key is made by the first load: gone means Redis lost the domain
          if (renewed === 0 && st.loading === undefined && st.mirror !== undefined) {
            this.lost(st, 'its version key is gone (a flush, an eviction or a restart)');
          }
        }, ignore);
      }
    }, every);
    this.leaseTimer.unref();
  }

  /**
   * Does Redis still hold what this process mirrors? The epoch token (made
   * when missing) and the version keys of the loaded domains without a TTL.
   * `adopt`: take the epoch as it is (the first read, and after a recovery,
   * which reloads everything anyway).
   */
  private async check(adopt: boolean): Promise<void> {
    if (!adopt && (this.down || this.disposed || this.checking)) return;
    this.checking = true;
    try {
      const held = adopt
        ? []
        : [...this.domains.values()].filter(
            (st) => st.ttlMs === 0 && st.loading === undefined && st.mirror !== undefined,
          );
      // what this process saw before asking: Redis's versions are at least that (the
      // process that finds a loss first makes the key again, from 0)
      const known = held.map((st) => Math.max(st.base, st.stored, st.heard));
      const reply = await this.client.databenchCheck(
        1 + held.length,
        this.epochKey,
        ...held.map((st) => st.versionKey),
        randomBytes(8).toString('hex'),
      );
      const epoch = String(reply[0]);
      const previous = this.epoch;
      this.epoch = epoch;
      if (adopt || this.down) return;
      if (epoch !== previous) {
        for (const st of this.domains.values()) {
          this.lost(
            st,
            'Redis lost its data (a new epoch: a FLUSHALL or a restart without persistence)',
          );
        }
        return;
      }
      for (let i = 0; i < held.length; i++) {
        const st = held[i]!;
        const version = Number(reply[i + 1]);
        if (this.domains.get(st.name) !== st || st.loading !== undefined) continue;
        if (version < 0) this.lost(st, 'its version key is gone (a flush or an eviction)');
        else if (version < known[i]!) {
          this.lost(st, `its version went back from ${known[i]} to ${version}`);
        }
      }
    } catch (error) {
      if (adopt) throw error;
      // Redis away: the recovery reloads everything
    } finally {
      this.checking = false;
    }
  }

  /**
   * Redis is back: subscribe again and reload every held domain, then report
   * `up`. Tried until it succeeds (Redis may go away again meanwhile, and
   * pages may attach domains while it runs).
   */
  private recover(): void {
    if (this.recovering || this.disposed) return;
    this.recovering = true;
    void (async () => {
      for (let attempt = 0; !this.disposed; attempt++) {
        const drops = this.drops;
        try {
          if (this.client.status !== 'ready' || this.sub.status !== 'ready') {
            throw new Error('not connected yet');
          }
          // a new connection: the channel starts afresh, what was heard before is void
          for (const st of this.domains.values()) {
            st.heard = 0;
            for (const pending of st.pending.values()) pending.remote = undefined;
          }
          const channels = [...this.byChannel.keys(), this.barrierChannel, this.takeOverChannel];
          await this.sub.subscribe(...channels);
          await this.check(true);
          await Promise.all([...this.domains.values()].map((st) => this.reload(st)));
          // lost again meanwhile: what was subscribed may be gone with that connection
          if (this.drops !== drops) throw new Error('Redis went away again');
          this.recovering = false;
          this.down = false;
          this.wake();
          this.emit({ type: 'up' });
          return;
        } catch {
          await delay(Math.min(100 * 2 ** attempt, 2000));
        }
      }
      this.recovering = false;
    })();
  }

  /** Wake what waits for the connection's state to change. */
  private wake(): void {
    const waiters = [...this.stateWaiters];
    this.stateWaiters.clear();
    for (const resolve of waiters) resolve();
  }

  /**
   * Resolves when every write made so far is in Redis and every change
   * published before now has been applied here (a round trip through
   * pub/sub). While Redis is away it waits for the recovery: a barrier is
   * only published once this process is subscribed again (Redis drops a
   * message nobody is subscribed to), and published again when a connection
   * drops before it came back. Rejects with `DATASTORE_CLOSED` once
   * disposed. For tests and benchmarks.
   */
  async sync(): Promise<void> {
    for (;;) {
      if (this.disposed) {
        throw new DatabenchError(
          'DATASTORE_CLOSED',
          'the Redis datastore backend was disposed before sync() completed',
        );
      }
      if (this.down) {
        await new Promise<void>((resolve) => this.stateWaiters.add(resolve));
        continue;
      }
      this.flush(true);
      if (this.inflight > 0 || this.dirty.size > 0) {
        await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
        if (this.down || this.disposed) continue;
      }
      // the barrier comes back on the subscriber connection (true), or a
      // connection drops before it does (false: it may be lost, send another)
      const token = randomBytes(8).toString('hex');
      let onChange!: () => void;
      const came = new Promise<boolean>((resolve, reject) => {
        this.barrierWaiters.set(token, () => resolve(true));
        onChange = () => resolve(false);
        this.stateWaiters.add(onChange);
        this.client.publish(this.barrierChannel, token).catch((error: unknown) => {
          if (this.down) resolve(false);
          else reject(error instanceof Error ? error : new Error(String(error)));
        });
      });
      try {
        if (await came) return;
      } finally {
        this.barrierWaiters.delete(token);
        this.stateWaiters.delete(onChange);
      }
    }
  }

  /** How many domains this process holds open (diagnostics). */
  get domainCount(): number {
    return this.domains.size;
  }

  /** The raw client, for diagnostics (`INFO memory`) and tests. */
  get redis(): RedisClient {
    return this.client;
  }

  /** Send what is queued, wait for the answers (at most 5 s), then disconnect. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.flush(true);
    if (this.inflight > 0 && !this.down) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000))),
      ]);
      clearTimeout(timer);
    }
    this.disposed = true;
    for (const resolve of this.drainWaiters) resolve();
    this.drainWaiters = [];
    // a sync() still waiting for writes or for Redis rejects now
    for (const resolve of this.idleWaiters) resolve();
    this.idleWaiters = [];
    this.wake();
    this.sub.disconnect();
    if (this.down) this.client.disconnect();
    else await this.client.quit().catch(() => this.client.disconnect());
  }
}

/**
 * Connect to Redis and return the backend. Fails with a DatabenchError:
 * `DATASTORE_URL` (a bad URL), `DATASTORE_CLIENT_MISSING` (the optional
 * dependency `ioredis` is not installed), `DATASTORE_AUTH` (Redis refused
 * the password or user) or `DATASTORE_UNREACHABLE` (no Redis answered within
 * `connectTimeoutMs`), each naming the URL without its password.
 *
 * @example
 * const backend = await createRedisBackend({ url: 'redis://127.0.0.1:6379/0', prefix: 'myapp:' });
 */
export async function createRedisBackend(
  options: RedisBackendOptions | string,
): Promise<RedisBackend> {
  const o = resolveRedisBackendOptions(options);
  let Redis: typeof import('ioredis').Redis;
  try {
    const mod = await import('ioredis');
    Redis = mod.Redis ?? (mod.default as unknown as typeof import('ioredis').Redis);
  } catch (error) {
    throw new DatabenchError(
      'DATASTORE_CLIENT_MISSING',
      'the Redis datastore needs the package ioredis (an optional dependency of databench): npm install ioredis',
      { cause: error },
    );
  }
  let started = false;
  const redisOptions: RedisOptions = {
    lazyConnect: true,
    enableAutoPipelining: true,
    connectTimeout: o.connectTimeoutMs,
    maxRetriesPerRequest: o.maxRetriesPerRequest,
    // at start, fail at once (the caller reports it); later, keep trying
    retryStrategy: (times) => (started ? Math.min(times * 100, 1000) : null),
    autoResubscribe: false,
    scripts: {
      databenchWrite: { numberOfKeys: 2, lua: WRITE_SCRIPT },
      databenchSnapshot: { numberOfKeys: 2, lua: SNAPSHOT_SCRIPT },
      databenchCheck: { lua: CHECK_SCRIPT },
    },
  };
  const client = new Redis(o.url, redisOptions) as Client;
  const sub = client.duplicate({ enableAutoPipelining: false });
  // ioredis rejects connect() with "Connection is closed" and says why in an 'error' event
  let why: Error | undefined;
  const remember = (error: Error): void => void (why ??= error);
  client.on('error', remember);
  sub.on('error', remember);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let backend: RedisBackend | undefined;
  try {
    await Promise.race([
      (async () => {
        await Promise.all([client.connect(), sub.connect()]);
        started = true;
        backend = new RedisBackend(o, client, sub);
        await backend.start();
      })(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${o.connectTimeoutMs} ms`)),
          o.connectTimeoutMs,
        );
      }),
    ]);
  } catch (error) {
    started = false;
    client.disconnect();
    sub.disconnect();
    throw startError(o.url, why ?? (error as Error));
  } finally {
    clearTimeout(timer);
    client.off('error', remember);
    sub.off('error', remember);
  }
  return backend!;
}

/**
 * Why the first connection failed, as a DatabenchError: a refused password
 * (Redis's `WRONGPASS` and `NOAUTH` replies) is `DATASTORE_AUTH`, anything
 * else `DATASTORE_UNREACHABLE`; both name the URL without its password.
 */
function startError(url: string, error: Error): DatabenchError {
  const at = redactUrl(url);
  // the first word of a Redis error reply is its code
  if (/^NOAUTH\b/.test(error.message)) {
    return new DatabenchError(
      'DATASTORE_AUTH',
      `Redis at ${at} asks for a password: give it in the URL (redis://:PASSWORD@HOST:PORT/DB, or redis://USER:PASSWORD@HOST:PORT/DB for an ACL user)`,
      { cause: error },
    );
  }
  if (/^(WRONGPASS\b|ERR invalid password)/.test(error.message)) {
    return new DatabenchError(
      'DATASTORE_AUTH',
      `Redis at ${at} refused the password (${error.message.replace(/\.+$/, '')}): check the user and password in the URL`,
      { cause: error },
    );
  }
  return new DatabenchError(
    'DATASTORE_UNREACHABLE',
    `cannot reach Redis at ${at}: ${error.message}`,
    {
      cause: error,
    },
  );
}
