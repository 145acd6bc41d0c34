import { randomBytes } from 'node:crypto';
import { Analysis } from '../analysis/analysis.js';
import type { DatastoreBackend } from '../datastore/backend.js';
import type { Change } from '../datastore/change.js';
import { Datastore } from '../datastore/datastore.js';
import { getDefaultBackend } from '../datastore/default-backend.js';
import { keyMember, storeFrameFromMembers } from '../protocol/messages.js';

/**
 * Live, read-only share links of a page's session. A link is a random id
 * (144 bits, base64url) naming a record kept in the server's datastore
 * backend, in a domain of its own (`__share:<id>`): every process on the
 * same Redis resolves it, and the backend's retention expires it (the
 * record carries its expiry too, which is what is checked). Revoking writes
 * `revoked` into the record: every open viewer of the link, in any process,
 * hears the change and closes.
 */

/** Bytes of randomness in a share id: 144 bits, 24 base64url characters. */
const SHARE_ID_BYTES = 18;
const SHARE_ID = /^[A-Za-z0-9_-]{24}$/;
const DOMAIN_PREFIX = '__share:';
/** Viewers of one shared session in one process at most; one more is refused. */
export const MAX_VIEWERS_PER_SESSION = 100;
/** Links one page (one socket) may make at most. */
export const MAX_SHARES_PER_PAGE = 16;

/** What a link opens: one session of one analysis. */
export interface ShareTarget {
  /** The analysis name (the viewer's socket must be on the same analysis). */
  readonly analysis: string;
  /**
   * The domain of the owner's `data` (its analysis id, bound to its user
   * with a login); never sent to a viewer.
   */
  readonly id: string;
  /** The domain of the analysis's `classData`. */
  readonly classDomain: string;
}

/** The stored record of a link, in wire-style names. */
interface RecordValue {
  analysis: string;
  id: string;
  class_domain: string;
  /** In ms since the epoch. */
  expires: number;
}

interface ShareData {
  record: RecordValue;
  revoked: true;
}

function isRecord(value: unknown): value is RecordValue {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r['analysis'] === 'string' &&
    typeof r['id'] === 'string' &&
    typeof r['class_domain'] === 'string' &&
    typeof r['expires'] === 'number'
  );
}

/** The refusal a viewer gets, one text for every reason a link does not open (a guess learns nothing). */
export const UNKNOWN_SHARE = 'this share link is unknown, expired or revoked';

/** The share links of one server, kept in its datastore backend. */
export class ShareLinks {
  /**
   * @param backend The server's datastore backend; undefined: the process-wide memory backend.
   * @param maxExpiresMs How long a link works at most (`shareExpiresMs`).
   */
  constructor(
    private readonly backend: DatastoreBackend | undefined,
    readonly maxExpiresMs: number,
  ) {}

  private get storage(): DatastoreBackend {
    return this.backend ?? getDefaultBackend();
  }

  /**
   * A store on link `share`'s record. `lifeMs`: how long its storage may
   * outlive this process (a Redis TTL, renewed while attached), so that the
   * record of a process that died still goes; each close sets it to what is
   * left of the link's life.
   */
  private store(share: string, lifeMs = this.maxExpiresMs): Datastore<ShareData> {
    return new Datastore<ShareData>(
      DOMAIN_PREFIX + share,
      this.backend ? { backend: this.backend, releaseAfterMs: lifeMs } : { releaseAfterMs: lifeMs },
    );
  }

  /**
   * A new link to `target`, working for `expiresMs` (at most the server's
   * bound). `owner` (the page's address) is who the retained record counts
   * against in a backend that bounds retained data per owner.
   */
  async create(
    target: ShareTarget,
    expiresMs: number | undefined,
    owner: string,
  ): Promise<{ share: string; expires: number }> {
    const life = Math.min(expiresMs ?? this.maxExpiresMs, this.maxExpiresMs);
    const share = randomBytes(SHARE_ID_BYTES).toString('base64url');
    const expires = Date.now() + life;
    const store = this.store(share, life);
    try {
      await store.ready;
      await store.set('record', {
        analysis: target.analysis,
        id: target.id,
        class_domain: target.classDomain,
        expires,
      });
    } finally {
      // the backend drops it when it expires (Redis: a TTL)
      store._closeWith(false, life, owner);
    }
    return { share, expires };
  }

  /**
   * Open link `share` for a viewer on analysis `analysis`: its target and a
   * store that hears a revocation, or undefined when the link is malformed,
   * unknown, expired, revoked, for another analysis, or the session it
   * shows has no data any more.
   */
  async open(
    share: string,
    analysis: string,
  ): Promise<{ target: ShareTarget; expires: number; store: Datastore<ShareData> } | undefined> {
    // a malformed id never reaches the backend
    if (!SHARE_ID.test(share)) return undefined;
    const storage = this.storage;
    // attaching an unknown domain would make it: ask first
    if (storage.has !== undefined && !(await storage.has(DOMAIN_PREFIX + share))) return undefined;
    const store = this.store(share);
    let keep = false;
    try {
      await store.ready;
      const record = store.get('record');
      if (!isRecord(record) || store.get('revoked') === true) return undefined;
      if (record.expires <= Date.now() || record.analysis !== analysis) return undefined;
      // the session's data is gone (it expired, or was never kept): nothing to show
      if (storage.has !== undefined && !(await storage.has(record.id))) return undefined;
      keep = true;
      return {
        target: { analysis: record.analysis, id: record.id, classDomain: record.class_domain },
        expires: record.expires,
        store,
      };
    } finally {
      if (!keep) closeShareStore(store);
    }
  }

  /**
   * Revoke link `share` made by the session whose `data` domain is `id`: true when it was that
   * session's and is revoked now (open viewers of it close, in every process).
   */
  async revoke(share: string, id: string): Promise<boolean> {
    if (!SHARE_ID.test(share)) return false;
    const storage = this.storage;
    if (storage.has !== undefined && !(await storage.has(DOMAIN_PREFIX + share))) return false;
    const store = this.store(share);
    try {
      await store.ready;
      const record = store.get('record');
      if (!isRecord(record) || record.id !== id) return false;
      await store.set('revoked', true);
      return true;
    } finally {
      closeShareStore(store);
    }
  }
}

/** Close a store of a link: the record stays until its expiry (and goes at once after it). */
export function closeShareStore(store: Datastore<ShareData>): void {
  const record = store.get('record');
  const left = isRecord(record) ? record.expires - Date.now() : 0;
  store._closeWith(left <= 0, left > 0 ? left : undefined);
}

/** What a {@link ShareView} sends to its viewer's page (the Session). */
export interface ViewerPage {
  /** A change of the owner's `data` or `classData`. */
  viewChange(signal: 'data' | 'class_data', change: Change): void;
  /** The link was revoked or has expired: close the page with why. */
  viewEnded(reason: string): void;
}

/**
 * One viewer's feed of a shared session: the owner's `data` and
 * `classData` (their stored values: no analysis code, so no `data_<key>`
 * transforms, runs for a viewer), then every change of them as it happens,
 * until the link is revoked or expires.
 */
export class ShareView {
  private readonly data: Datastore<Record<string, unknown>>;
  private readonly classData: Datastore<Record<string, unknown>>;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    readonly target: ShareTarget,
    readonly expires: number,
    private readonly link: Datastore<ShareData>,
    backend: DatastoreBackend | undefined,
    /** Who the owner's data counts against if this viewer is the last to leave it. */
    private readonly owner: string,
  ) {
    const options = backend ? { backend } : {};
    this.data = new Datastore(target.id, {
      ...options,
      releaseAfterMs: Analysis.dataRetentionMs,
    });
    this.classData = new Datastore(target.classDomain, options);
  }

  /** Resolves when both stores have loaded (Redis). */
  get ready(): Promise<void> {
    return Promise.all([this.data.ready, this.classData.ready]).then(() => undefined);
  }

  /**
   * The frames of what the owner's page holds now (a `data` and a
   * `class_data` frame, each left out when empty); from this call on, every
   * change goes to `page`, and the link's end closes it. Called in the
   * same turn as the frames are sent, so that no change falls between.
   */
  start(page: ViewerPage): string[] {
    const frames: string[] = [];
    for (const [signal, store] of [
      ['data', this.data],
      ['class_data', this.classData],
    ] as const) {
      store.onEncodedChange((change) => page.viewChange(signal, change));
      if (store.size === 0) continue;
      const members: string[] = [];
      for (const [key, encoded] of store.encodedEntries()) members.push(keyMember(key, encoded));
      frames.push(storeFrameFromMembers(signal, members));
    }
    this.link.onChange((key) => {
      if (key === 'revoked') page.viewEnded('this share link was revoked');
    });
    this.timer = setTimeout(
      () => page.viewEnded('this share link has expired'),
      Math.max(0, this.expires - Date.now()),
    );
    this.timer.unref();
    return frames;
  }

  /** The viewer has gone: its stores close (the owner's data keeps its retention). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.data._closeWith(false, Analysis.dataRetentionMs, this.owner);
    this.classData.close();
    closeShareStore(this.link);
  }
}
