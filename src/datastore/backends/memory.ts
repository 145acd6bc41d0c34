import type { DatastoreBackend, DetachOptions } from '../backend.js';

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
