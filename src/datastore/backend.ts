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
   * Whether `domain` holds data here: attached (even with nothing in it; in
   * any process, for storage several processes share), or detached with a
   * `releaseAfterMs` and data, until that time has passed (a detached domain
   * with nothing in it may be forgotten at once). Never true for a domain
   * that was never attached, nor after a release. The server resumes only
   * ids whose data it holds, so a client cannot pick its own id. Optional: a
   * backend without it lets every well-formed id resume.
   */
  has?(domain: string): boolean | Promise<boolean>;
  /**
   * Optional, for storage several processes share: a page of this process
   * resumes the session `domain`. Every other process that has a page on it
   * closes that page (as a resume within one process does) and has ended its
   * session; resolves when they all have, or after a bound, so that no two
   * pages share one session whichever process they reached.
   */
  takeOver?(domain: string): Promise<void>;
  /**
   * Optional, with {@link takeOver}: `listener(domain)` is called when a
   * page of another process resumes `domain`; it closes this process's page
   * on it and resolves when that session has ended. Returns a function that
   * removes the listener.
   */
  onTakeOver?(listener: (domain: string) => void | Promise<void>): () => void;
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
  | { type: 'write-failed'; domain: string; keys: string[]; error: Error }
  /**
   * The storage lost or rewound `domain` (a flush, an eviction, a restart
   * without persistence): its mirror was reloaded from what the storage holds.
   */
  | { type: 'reset'; domain: string; reason: string }
  /**
   * What the storage handed back for `domain` was malformed (a value that is
   * not one JSON value, a change message that does not parse): it was dropped.
   */
  | { type: 'dropped'; domain: string; reason: string };

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
