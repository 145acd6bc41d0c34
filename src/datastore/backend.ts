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
}

/**
 * The default backend: in this process's memory, not persistent. The map it
 * returns from `attach` is the storage itself, so a write costs one map set.
 */
export class MemoryBackend implements DatastoreBackend {
  readonly name = 'memory';
  private readonly domains = new Map<string, Map<string, string>>();
  /** Detached domains waiting for their release, oldest first. */
  private readonly retained = new Map<string, ReturnType<typeof setTimeout>>();

  /**
   * @param maxRetained how many detached domains with a `releaseAfterMs` are
   *   kept at most; past it the oldest goes at once (so pages that come and go
   *   cannot grow memory without bound). Default: 10000.
   */
  constructor(private readonly maxRetained = 10_000) {}

  attach(domain: string): Map<string, string> {
    const timer = this.retained.get(domain);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.retained.delete(domain);
    }
    let map = this.domains.get(domain);
    if (!map) {
      map = new Map();
      this.domains.set(domain, map);
    }
    return map;
  }

  write(): void {
    // the mirror is the storage: nothing else to do
  }

  detach(domain: string, { release, releaseAfterMs }: DetachOptions): void {
    const map = this.domains.get(domain);
    if (!map) return;
    // an empty domain costs memory and holds nothing: drop it either way
    if (release || map.size === 0) {
      this.domains.delete(domain);
      return;
    }
    if (releaseAfterMs === undefined) return;
    const timer = setTimeout(() => {
      this.retained.delete(domain);
      this.domains.delete(domain);
    }, releaseAfterMs);
    timer.unref();
    this.retained.set(domain, timer);
    if (this.retained.size > this.maxRetained) {
      const [oldest, oldestTimer] = this.retained.entries().next().value as [
        string,
        ReturnType<typeof setTimeout>,
      ];
      clearTimeout(oldestTimer);
      this.retained.delete(oldest);
      this.domains.delete(oldest);
    }
  }

  /** Drop every domain and pending release. */
  dispose(): void {
    for (const timer of this.retained.values()) clearTimeout(timer);
    this.retained.clear();
    this.domains.clear();
  }

  /** How many domains hold data (for tests and diagnostics). */
  get domainCount(): number {
    return this.domains.size;
  }
}

/** The process-wide memory backend every Datastore uses unless told otherwise. */
export const defaultBackend = new MemoryBackend();
