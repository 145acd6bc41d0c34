/**
 * The contract a storage backend fulfils. It is small on purpose (like
 * unstorage's drivers): the Datastore keeps a process-local mirror of every
 * domain it has open, so reads stay synchronous, and a backend only has to
 * load a domain, persist writes and report writes made elsewhere.
 *
 * Values cross this boundary as encoded JSON strings; `undefined` means the
 * key was deleted.
 */
export interface DatastoreBackend {
  /** A short name for logs, e.g. `memory` or `redis`. */
  readonly name: string;
  /**
   * Open `domain` in this process: resolve to the map the Datastore uses as
   * its mirror (a backend may hand back its own storage map, as the memory
   * backend does), and from then on call `onRemoteChange` for every change
   * made to the domain by another process. Called once per domain while any
   * Datastore on it is open.
   */
  attach(
    domain: string,
    onRemoteChange: (key: string, encoded: string | undefined) => void,
    options?: AttachOptions,
  ): Map<string, string> | Promise<Map<string, string>>;
  /** Persist one change (the mirror already has it). */
  write(domain: string, key: string, encoded: string | undefined): void | Promise<void>;
  /**
   * The last Datastore on `domain` in this process closed. `release`: drop the
   * domain's data now; `releaseAfterMs`: drop it after that long unless the
   * domain is attached again (a backend with its own expiry may map it to a TTL).
   */
  detach(domain: string, options: DetachOptions): void | Promise<void>;
  /**
   * Whether `domain` holds data here (open, or detached and retained).
   * The server resumes only ids whose data it holds, so a client cannot pick
   * its own id. Optional: a backend without it lets every well-formed id resume.
   */
  has?(domain: string): boolean | Promise<boolean>;
  /**
   * Release what the backend holds (timers, connections). Datastores on it
   * must not be used afterwards.
   */
  dispose(): void | Promise<void>;
  /**
   * Optional: report the backend's health and failed writes (a networked
   * backend), so the server can tell the pages. Returns a function that
   * removes the listener.
   */
  onEvent?(listener: (event: BackendEvent) => void): () => void;
}

/** What {@link DatastoreBackend.attach} is told (an addition: older backends ignore it). */
export interface AttachOptions {
  /**
   * The domain will be dropped this long after it is detached (a page's
   * `data`): a backend whose storage outlives this process may keep it
   * expiring that long after the last time it was seen, so that the data of
   * a process that died still goes.
   */
  releaseAfterMs?: number | undefined;
}

/** What a networked backend reports through {@link DatastoreBackend.onEvent}. */
export type BackendEvent =
  /** The storage is unreachable; writes are kept and retried. */
  | { type: 'down'; error: Error }
  /** The storage is reachable again; every mirror has been reloaded from it. */
  | { type: 'up' }
  /** Writes to these keys of `domain` were given up; the mirror is reloaded from storage. */
  | { type: 'write-failed'; domain: string; keys: string[]; error: Error };

/** What {@link DatastoreBackend.detach} is told. */
export interface DetachOptions {
  release: boolean;
  releaseAfterMs?: number | undefined;
  /**
   * Who left the data behind (the server passes the page's remote address):
   * a backend that bounds how much detached data it keeps counts per owner
   * too, so one client cannot push everyone else's out.
   */
  owner?: string | undefined;
}

/**
 * @internal What {@link MemoryBackend.attach} returns for a domain that holds
 * nothing yet: one shared, never-written Map, so that the `data` of a page
 * that writes nothing costs no Map of its own. The first write asks the
 * backend for the domain's own Map ({@link MemoryBackend.materialize}).
 */
export const EMPTY_DOMAIN: ReadonlyMap<string, string> = new (class extends Map<string, string> {
  override set(): this {
    throw new Error('EMPTY_DOMAIN is shared by every empty domain: materialize() the domain first');
  }
})();

/**
 * The default backend: in this process's memory, not persistent. The map it
 * returns from `attach` is the storage itself, so a write costs one map set
 * (a domain with nothing in it shares one empty Map until its first write).
 */
export class MemoryBackend implements DatastoreBackend {
  readonly name = 'memory';
  private readonly domains = new Map<string, Map<string, string> | typeof EMPTY_DOMAIN>();
  /** Detached domains waiting for their release, oldest first. */
  private readonly retained = new Map<string, Retained>();
  /** The retained domains of each owner, oldest first. */
  private readonly owners = new Map<string, Set<string>>();

  /**
   * @param maxRetained how many detached domains with a `releaseAfterMs` are
   *   kept at most; past it the oldest goes at once (so pages that come and go
   *   cannot grow memory without bound). Default: 10000.
   * @param maxRetainedPerOwner how many of those one `owner` (a remote
   *   address) may have; past it that owner's oldest goes, so one client
   *   cannot evict everyone else's. Default: 1000.
   */
  constructor(
    private readonly maxRetained = 10_000,
    private readonly maxRetainedPerOwner = 1000,
  ) {}

  attach(domain: string): Map<string, string> {
    this.unretain(domain);
    let map = this.domains.get(domain);
    if (!map) {
      map = EMPTY_DOMAIN;
      this.domains.set(domain, map);
    }
    // a Datastore reads EMPTY_DOMAIN and materializes before its first write
    return map as Map<string, string>;
  }

  /** @internal The first write to a domain attached as the shared empty Map: its own Map. */
  materialize(domain: string): Map<string, string> {
    let map = this.domains.get(domain);
    if (map === undefined || map === EMPTY_DOMAIN) {
      map = new Map();
      this.domains.set(domain, map);
    }
    return map as Map<string, string>;
  }

  write(): void {
    // the mirror is the storage: nothing else to do
  }

  detach(domain: string, { release, releaseAfterMs, owner }: DetachOptions): void {
    const map = this.domains.get(domain);
    if (!map) return;
    // an empty domain costs memory and holds nothing: drop it either way
    if (release || map.size === 0) {
      this.domains.delete(domain);
      return;
    }
    if (releaseAfterMs === undefined) return;
    const timer = setTimeout(() => this.drop(domain), releaseAfterMs);
    timer.unref();
    this.retained.set(domain, { timer, owner });
    if (owner !== undefined) {
      let mine = this.owners.get(owner);
      if (!mine) {
        mine = new Set();
        this.owners.set(owner, mine);
      }
      mine.add(domain);
      if (mine.size > this.maxRetainedPerOwner) this.drop(mine.values().next().value as string);
    }
    if (this.retained.size > this.maxRetained) {
      this.drop(this.retained.keys().next().value as string);
    }
  }

  has(domain: string): boolean {
    return this.domains.has(domain);
  }

  /** Drop every domain and pending release. */
  dispose(): void {
    for (const { timer } of this.retained.values()) clearTimeout(timer);
    this.retained.clear();
    this.owners.clear();
    this.domains.clear();
  }

  /** How many domains hold data (for tests and diagnostics). */
  get domainCount(): number {
    return this.domains.size;
  }

  /** A retained domain goes: its data, its timer, its place in its owner's list. */
  private drop(domain: string): void {
    this.unretain(domain);
    this.domains.delete(domain);
  }

  private unretain(domain: string): void {
    const r = this.retained.get(domain);
    if (r === undefined) return;
    clearTimeout(r.timer);
    this.retained.delete(domain);
    if (r.owner === undefined) return;
    const mine = this.owners.get(r.owner);
    mine?.delete(domain);
    if (mine?.size === 0) this.owners.delete(r.owner);
  }
}

/** A detached domain waiting for its release. */
interface Retained {
  timer: ReturnType<typeof setTimeout>;
  owner: string | undefined;
}

/** The process-wide memory backend every Datastore uses unless told otherwise. */
export const defaultBackend = new MemoryBackend();

let current: DatastoreBackend = defaultBackend;

/** The backend a Datastore uses when its options name none. */
export function getDefaultBackend(): DatastoreBackend {
  return current;
}

/**
 * @internal Make `backend` the default of this thread. A kernel thread points
 * it at the server's backend (through the kernel boundary), so an unchanged
 * analysis class shares `data` and `classData` with the server.
 */
export function setDefaultBackend(backend: DatastoreBackend): void {
  current = backend;
}
