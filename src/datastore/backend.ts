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
  ): Map<string, string> | Promise<Map<string, string>>;
  /** Persist one change (the mirror already has it). */
  write(domain: string, key: string, encoded: string | undefined): void | Promise<void>;
  /** The last Datastore on `domain` in this process closed. `release`: drop the domain's data. */
  detach(domain: string, options: { release: boolean }): void | Promise<void>;
}

/**
 * The default backend: in this process's memory, not persistent. The map it
 * returns from `attach` is the storage itself, so a write costs one map set.
 */
export class MemoryBackend implements DatastoreBackend {
  readonly name = 'memory';
  private readonly domains = new Map<string, Map<string, string>>();

  attach(domain: string): Map<string, string> {
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

  detach(domain: string, { release }: { release: boolean }): void {
    const map = this.domains.get(domain);
    // an empty domain costs memory and holds nothing: drop it either way
    if (map && (release || map.size === 0)) this.domains.delete(domain);
  }

  /** How many domains hold data (for tests and diagnostics). */
  get domainCount(): number {
    return this.domains.size;
  }
}

/** The process-wide memory backend every Datastore uses unless told otherwise. */
export const defaultBackend = new MemoryBackend();
