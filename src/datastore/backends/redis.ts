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
 * - `databench:version:NAME`: the domain's write counter (see "Convergence");
 * - channel `databench:changes:NAME`: every write to the domain, as it happened.
 *
 * A page's `data` domain (opened with `releaseAfterMs`) expires that long after
 * the last process let go of it: while a process holds it, it renews the TTL
 * (a lease), so the data of a process that died goes too, and a page that
 * reconnects to any process within that time finds its data.
 */
import { randomBytes } from 'node:crypto';
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import { DatabenchError } from '../../protocol/errors.js';
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
}

/** Resolved {@link RedisBackendOptions}: every field set. */
export interface ResolvedRedisBackendOptions {
  url: string;
  prefix: string;
  connectTimeoutMs: number;
  maxRetriesPerRequest: number;
  maxInflightBatches: number;
  maxQueuedBytes: number;
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
 */
const WRITE_SCRIPT = `
local v = redis.call('INCR', KEYS[2])
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

/** The domain's entries and the version they are at, in one atomic read (and its lease renewed). */
const SNAPSHOT_SCRIPT = `
if ARGV[1] ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return {redis.call('GET', KEYS[2]) or '0', redis.call('HGETALL', KEYS[1])}
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
};

/** A key with local writes that Redis has not answered yet. */
interface PendingKey {
  /** Batches (queued or in flight) that hold a write of this key. */
  batches: number;
  /** The newest remote change seen meanwhile. */
  remote: { version: number; encoded: string | undefined } | undefined;
}

/** One decoded published batch. */
interface Batch {
  origin: string;
  version: number;
  entries: Array<[string, string | undefined]>;
}

/** What this process knows about one attached domain. */
class DomainState {
  readonly hash: string;
  readonly versionKey: string;
  readonly channel: string;
  /** The mirror the Datastore reads (the map `attach` resolved to). */
  mirror: Map<string, string> | undefined;
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

function parseBatch(buf: Buffer): Batch | undefined {
  const s1 = buf.indexOf(32);
  const s2 = buf.indexOf(32, s1 + 1);
  if (s1 < 0 || s2 < 0) return undefined;
  const origin = buf.toString('latin1', 0, s1);
  const version = Number(buf.toString('latin1', s1 + 1, s2));
  const nl = buf.indexOf(10, s2 + 1);
  const count = Number(buf.toString('latin1', s2 + 1, nl < 0 ? buf.length : nl));
  const entries: Array<[string, string | undefined]> = [];
  let pos = nl;
  for (let i = 0; i < count && pos >= 0; i++) {
    // "\n" op " " keyBytes " " valueBytes " " key value
    const op = buf[pos + 1];
    const a = buf.indexOf(32, pos + 3);
    const b = buf.indexOf(32, a + 1);
    const keyBytes = Number(buf.toString('latin1', pos + 3, a));
    const valueBytes = Number(buf.toString('latin1', a + 1, b));
    const keyStart = b + 1;
    const valueStart = keyStart + keyBytes;
    const key = buf.toString('utf8', keyStart, valueStart);
    const value = buf.toString('utf8', valueStart, valueStart + valueBytes);
    entries.push([key, op === 0x64 /* d */ ? undefined : value]);
    pos = valueStart + valueBytes;
  }
  return { origin, version, entries };
}

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
  private readonly domains = new Map<string, DomainState>();
  private readonly byChannel = new Map<string, DomainState>();
  private readonly dirty = new Set<DomainState>();
  private flushScheduled = false;
  private inflight = 0;
  private queuedBytes = 0;
  private drainWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];
  private readonly listeners = new Set<(event: BackendEvent) => void>();
  private down = false;
  private disposed = false;
  private leaseTimer: ReturnType<typeof setInterval> | undefined;
  private leaseEveryMs = Infinity;
  private readonly barrierChannel: string;
  private barrierWaiters = new Map<string, () => void>();

  /** @internal Use {@link createRedisBackend}. */
  constructor(
    readonly options: ResolvedRedisBackendOptions,
    private readonly client: Client,
    private readonly sub: RedisClient,
  ) {
    this.barrierChannel = `${options.prefix}barrier:${this.origin}`;
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onMessage(channel, message));
    const onDown = (): void => {
      if (this.disposed || this.down) return;
      this.down = true;
      this.emit({
        type: 'down',
        error: new Error(`Redis at ${redactUrl(options.url)} is unreachable`),
      });
    };
    client.on('close', onDown);
    sub.on('close', onDown);
    // ioredis reports every failed reconnection as an 'error': 'down' says it once
    client.on('error', () => undefined);
    sub.on('error', () => undefined);
    sub.on('ready', () => {
      if (this.down && !this.disposed) void this.recover();
    });
  }

  /** Listen for `down`, `up` and `write-failed`; returns the function that stops listening. */
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
    const map = await this.load(st);
    st.mirror = map;
    return map;
  }

  /**
   * Read the domain and its version; apply what arrived meanwhile. The first
   * load returns the map; a reload (after Redis was away) brings the mirror
   * to Redis's state through `onRemoteChange`.
   */
  private async load(st: DomainState): Promise<Map<string, string>> {
    st.buffer ??= [];
    const [version, flat] = await this.client.databenchSnapshot(
      st.hash,
      st.versionKey,
      String(st.ttlMs),
    );
    const snapshot = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) snapshot.set(flat[i]!, flat[i + 1]!);
    st.base = Number(version);
    st.seen.clear();
    const buffered = st.buffer;
    st.buffer = undefined;
    const mirror = st.mirror;
    if (mirror === undefined) {
      // first load: the Datastore puts its own early writes over this map
      for (const batch of buffered) this.applyBatch(st, batch, snapshot);
      return snapshot;
    }
    const local = (key: string): boolean => st.pending.has(key) || st.queued.has(key);
    for (const key of [...mirror.keys()]) {
      if (!snapshot.has(key) && !local(key)) st.onRemoteChange(key, undefined);
    }
    for (const [key, encoded] of snapshot) {
      if (!local(key)) st.onRemoteChange(key, encoded);
    }
    for (const batch of buffered) this.applyBatch(st, batch, undefined);
    return mirror;
  }

  private onMessage(channelBuf: Buffer, message: Buffer): void {
    const channel = channelBuf.toString();
    if (channel === this.barrierChannel) {
      const token = message.toString();
      const waiter = this.barrierWaiters.get(token);
      this.barrierWaiters.delete(token);
      waiter?.();
      return;
    }
    const st = this.byChannel.get(channel);
    if (st === undefined) return;
    // our own batches: the mirror has them already
    if (message.toString('latin1', 0, this.origin.length + 1) === this.origin + ' ') return;
    const batch = parseBatch(message);
    if (batch === undefined) return;
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

  private written(st: DomainState, batch: Map<string, unknown>, version: number): void {
    this.inflight--;
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
    if (!st.detached && !this.down && !this.disposed && st.buffer === undefined) {
      this.load(st).catch(() => undefined);
    }
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
        this.client.pexpire(st.hash, st.ttlMs).catch(() => undefined);
        this.client.pexpire(st.versionKey, st.ttlMs).catch(() => undefined);
      }
    }, every);
    this.leaseTimer.unref();
  }

  /** Redis is back: subscribe again and reload every held domain, then report `up`. */
  private async recover(): Promise<void> {
    try {
      for (const st of this.domains.values()) st.buffer ??= [];
      const channels = [...this.byChannel.keys(), this.barrierChannel];
      await this.sub.subscribe(...channels);
      await Promise.all([...this.domains.values()].map((st) => this.load(st)));
      this.down = false;
      this.emit({ type: 'up' });
    } catch {
      // lost again before it was done: the next 'ready' starts over
    }
  }

  /**
   * Resolves when every write made so far is in Redis and every change
   * published before now has been applied here (a round trip through
   * pub/sub). For tests and benchmarks.
   */
  async sync(): Promise<void> {
    this.flush(true);
    if (this.inflight > 0 || this.dirty.size > 0) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    const token = randomBytes(8).toString('hex');
    const arrived = new Promise<void>((resolve) => this.barrierWaiters.set(token, resolve));
    await this.client.publish(this.barrierChannel, token);
    await arrived;
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
    this.sub.disconnect();
    if (this.down) this.client.disconnect();
    else await this.client.quit().catch(() => this.client.disconnect());
  }
}

/**
 * Connect to Redis and return the backend. Fails with a DatabenchError:
 * `DATASTORE_URL` (a bad URL), `DATASTORE_CLIENT_MISSING` (the optional
 * dependency `ioredis` is not installed) or `DATASTORE_UNREACHABLE` (no Redis
 * answered within `connectTimeoutMs`), each naming the URL.
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
    },
  };
  const client = new Redis(o.url, redisOptions) as Client;
  const sub = client.duplicate({ enableAutoPipelining: false });
  const quiet = (): undefined => undefined;
  client.on('error', quiet);
  sub.on('error', quiet);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      Promise.all([client.connect(), sub.connect()]),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${o.connectTimeoutMs} ms`)),
          o.connectTimeoutMs,
        );
      }),
    ]);
  } catch (error) {
    client.disconnect();
    sub.disconnect();
    throw new DatabenchError(
      'DATASTORE_UNREACHABLE',
      `cannot reach Redis at ${redactUrl(o.url)}: ${(error as Error).message}`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
    client.off('error', quiet);
    sub.off('error', quiet);
  }
  started = true;
  const backend = new RedisBackend(o, client, sub);
  await sub.subscribe(`${o.prefix}barrier:${backend.origin}`);
  return backend;
}
