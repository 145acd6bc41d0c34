import { isPlainObject } from '../protocol/messages.js';
import { isDeltaLoad } from '../protocol/delta.js';
import {
  DatabenchError,
  PROTOCOL,
  applyDelta,
  encodeValue,
  frameFromEncoded,
  latestActionFrame,
  parseServerMessage,
  type ConnectReply,
  type ErrorLoad,
  type ProcessLoad,
  type ServerMessage,
  type ShareServerLoad,
} from '../protocol/index.js';
import type {
  CheckedAction,
  ClassDataKey,
  ClassDataOf,
  UserDataKey,
  UserDataOf,
  DataKey,
  DataOf,
  EmitArgs,
  IsAny,
  SignalValue,
} from './contract.js';
import { Uploader, type Upload, type UploadOptions, type UploadSource } from './upload.js';
import {
  WS_OPEN,
  resolveWebSocket,
  type WebSocketConstructor,
  type WebSocketLike,
} from './websocket.js';

/** Where a Connection writes: `console` by default. */
export interface ClientConsole {
  /** The analysis's `log` signals. */
  log(...args: unknown[]): void;
  /** `warn` signals and connection problems. */
  warn(...args: unknown[]): void;
  /** `error` signals. */
  error(...args: unknown[]): void;
}

/** Options of {@link Connection} (the fourth constructor argument). */
export interface ConnectionOptions {
  /**
   * The WebSocket class. Default: the one given to `setDefaultWebSocket`
   * (`databench-ts/client` in Node, its `node` export condition, sets `ws`), else
   * `globalThis.WebSocket`.
   */
  WebSocket?: WebSocketConstructor;
  /**
   * How many emits are kept while the connection is not ready; beyond this
   * the oldest is dropped and reported through `errorCB`. Default: 256.
   */
  maxQueuedEmits?: number;
  /** The first reconnect delay; it doubles on every failed attempt. Default: 500. */
  reconnectInitialDelayMs?: number;
  /** The largest reconnect delay. Default: 10_000. */
  reconnectMaxDelayMs?: number;
  /** Where `log`/`warn`/`error` signals and failing callbacks are written. Default: `console`. */
  console?: ClientConsole;
  /**
   * Called when the server's `analyses_version` differs from the one of the
   * previous connect (the analyses were reloaded). Default: `location.reload()`
   * in a browser; elsewhere a warning.
   */
  onAnalysesVersionChange?: (previous: string, current: string) => void;
  /**
   * The `sessionStorage` key under which a browser page keeps its analysis
   * id, so that the page loaded again in the same tab (reloaded by a save
   * of the analysis, or refreshed) resumes its session and gets its `data`
   * back. Per tab and per analysis; never in the URL or a cookie. A tab
   * duplicated from an open page starts a session of its own. `null`: keep
   * nothing (each load of the page starts a new session). Default:
   * `databench:` and the path of the socket's URL, in a browser.
   */
  sessionKey?: string | null;
  /**
   * Announce in `__connect` that this client applies `__delta` frames: a
   * server then sends a change of a large value (an append, a patch, a
   * small change of a big list or object) as a delta, which the client
   * applies to the value it holds, so listeners and widgets still get the
   * whole new value. The client keeps the last value of every `data` and
   * `class_data` key for it (the objects listeners got: treat them as
   * read-only). Default: true.
   */
  deltas?: boolean;
  /**
   * Open the page as a read-only viewer of the session that made this share
   * link (see {@link Connection.share}): it gets that session's `data` and
   * `classData`, live, and cannot act. `null`: never. Default: the page
   * address's `__share` parameter, in a browser.
   */
  share?: string | null;
}

/** {@link ConnectionOptions} with every default filled in. */
export interface ResolvedConnectionOptions {
  WebSocket: WebSocketConstructor | undefined;
  maxQueuedEmits: number;
  reconnectInitialDelayMs: number;
  reconnectMaxDelayMs: number;
  console: ClientConsole;
  /** Called when the server's analyses changed between two connects (default: reload the page). */
  onAnalysesVersionChange: ((previous: string, current: string) => void) | undefined;
  /** The `sessionStorage` key of the page's analysis id; undefined: the default (from the socket's URL), null: none. */
  sessionKey: string | null | undefined;
  /** Announce and apply `__delta` frames. */
  deltas: boolean;
  /** The share link to view; undefined: the page address's, null: none. */
  share: string | null | undefined;
}

/** A live, read-only link to a page's session (see {@link Connection.share}). */
export interface ShareLink {
  /** The link's id (unguessable: whoever has it, and may open the analysis, can watch). */
  readonly id: string;
  /** The page's address with the link: `http://host/analysis/?__share=<id>`. */
  readonly url: string;
  /** When it stops working. */
  readonly expires: Date;
}

/** The query parameter of a page address that opens it as a viewer of a share link. */
export const SHARE_PARAM = '__share';

/** The share link in a query string (`?__share=<id>`), if any. */
function shareParam(search: string): string | undefined {
  for (const part of search.replace(/^\?/, '').split('&')) {
    if (part.startsWith(SHARE_PARAM + '=')) {
      const id = part.slice(SHARE_PARAM.length + 1);
      if (id !== '') return id;
    }
  }
  return undefined;
}

/** A signal to listen to: a name, or `{signal: key}` with a key or RegExp of a `data`-like frame. */
export type SignalPattern = string | { [signal: string]: string | RegExp | undefined };

/** Status of an action started with a `__process_id`. */
export type ProcessStatus = ProcessLoad['status'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Callback = (value: any, key: any) => void;

interface Listener {
  /** undefined: the whole signal; else a key (or RegExp) of the load object. */
  readonly pattern: string | RegExp | undefined;
  readonly callback: Callback;
  readonly original: Callback;
}

// `{data: 'typo'}` must not slip through the catch-all overload of a typed Connection.
type OtherPattern<A> =
  IsAny<A> extends true
    ? { [signal: string]: string | RegExp }
    : {
        [signal: string]: string | RegExp | undefined;
        data?: never;
        class_data?: never;
        user_data?: never;
      };

type AnyValue<A> =
  IsAny<A> extends true
    ? // eslint-disable-next-line @typescript-eslint/no-explicit-any
      any
    : unknown;

type PreEmitFn<A, N extends string> = (
  message: IsAny<A> extends true ? AnyValue<A> : EmitArgs<A, N>[0],
) => unknown;

/** Defaults of {@link ConnectionOptions}. */
export const CONNECTION_DEFAULTS = {
  maxQueuedEmits: 256,
  reconnectInitialDelayMs: 500,
  reconnectMaxDelayMs: 10_000,
} as const;

/** At most this many process ids wait for their `end` (ids whose `end` never came are forgotten first). */
const MAX_PROCESS_IDS = 1024;

function checkNumber(name: string, value: unknown, min: number, integer: boolean): number {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    (integer && !Number.isInteger(value))
  ) {
    throw new DatabenchError(
      'INVALID_OPTION',
      `option ${name}: expected ${integer ? 'an integer' : 'a number'} >= ${min}, got ${String(value)}`,
    );
  }
  return value;
}

/** Validate and fill in {@link ConnectionOptions}. */
export function resolveConnectionOptions(
  options: ConnectionOptions = {},
): ResolvedConnectionOptions {
  const initial = checkNumber(
    'reconnectInitialDelayMs',
    options.reconnectInitialDelayMs ?? CONNECTION_DEFAULTS.reconnectInitialDelayMs,
    0,
    false,
  );
  const max = checkNumber(
    'reconnectMaxDelayMs',
    options.reconnectMaxDelayMs ?? CONNECTION_DEFAULTS.reconnectMaxDelayMs,
    initial,
    false,
  );
  if (options.WebSocket !== undefined && typeof options.WebSocket !== 'function') {
    throw new DatabenchError('INVALID_OPTION', 'option WebSocket: expected a WebSocket class');
  }
  const share = options.share;
  if (share !== undefined && share !== null && (typeof share !== 'string' || share === '')) {
    throw new DatabenchError(
      'INVALID_OPTION',
      `option share: expected a share link id or null, got ${String(share)}`,
    );
  }
  const sessionKey = options.sessionKey;
  if (sessionKey !== undefined && sessionKey !== null && typeof sessionKey !== 'string') {
    throw new DatabenchError(
      'INVALID_OPTION',
      `option sessionKey: expected a string or null, got ${String(sessionKey)}`,
    );
  }
  return {
    WebSocket: options.WebSocket,
    maxQueuedEmits: checkNumber(
      'maxQueuedEmits',
      options.maxQueuedEmits ?? CONNECTION_DEFAULTS.maxQueuedEmits,
      1,
      true,
    ),
    reconnectInitialDelayMs: initial,
    reconnectMaxDelayMs: max,
    console: options.console ?? globalThis.console,
    onAnalysesVersionChange: options.onAnalysesVersionChange,
    share,
    sessionKey,
    deltas: options.deltas ?? true,
  };
}

interface PageLocation {
  protocol: string;
  host: string;
  pathname: string;
  search: string;
  hash?: string;
  reload(): void;
}

function pageLocation(): PageLocation | undefined {
  const loc = (globalThis as { location?: PageLocation }).location;
  return loc && typeof loc.host === 'string' && loc.host !== '' ? loc : undefined;
}

/**
 * The query flag that starts a page with a new session instead of resuming
 * the one its tab kept (`/hello/?fresh`). The client takes it out of the
 * address at once, so that the next reload resumes again.
 */
export const FRESH_FLAG = 'fresh';

/**
 * Whether the page's address asks for a new session (`?fresh`): if so, the
 * flag is removed from the address (history.replaceState) and from the
 * query string returned, which becomes the page's request args.
 */
function takeFreshFlag(loc: PageLocation): { fresh: boolean; search: string } {
  const search = loc.search;
  if (search.length < 2) return { fresh: false, search };
  const params = search.slice(1).split('&');
  const rest = params.filter((p) => p !== FRESH_FLAG && !p.startsWith(FRESH_FLAG + '='));
  if (rest.length === params.length) return { fresh: false, search };
  const cleaned = rest.length > 0 ? '?' + rest.join('&') : '';
  const history = (
    globalThis as {
      history?: { state: unknown; replaceState(s: unknown, t: string, u: string): void };
    }
  ).history;
  try {
    history?.replaceState(history.state, '', loc.pathname + cleaned + (loc.hash ?? ''));
  } catch {
    // an address that cannot be rewritten (a sandboxed frame) keeps the flag
  }
  return { fresh: true, search: cleaned };
}

/** The part of `sessionStorage` a Connection uses. */
interface SessionStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** The page's `sessionStorage`, or undefined (not a browser; storage refused, as in a sandboxed frame). */
function sessionStore(): SessionStore | undefined {
  try {
    const store = (globalThis as { sessionStorage?: SessionStore }).sessionStorage;
    return store !== undefined && store !== null ? store : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a tab keeps of its session: the id, and whether a page of this tab
 * is open on it. A page that unloads marks it not open, so the next load
 * resumes it; a tab duplicated from an open page finds it still open and
 * starts a session of its own (two pages never share one).
 */
interface StoredSession {
  id: string;
  open: boolean;
}

function readStored(store: SessionStore, key: string): StoredSession | undefined {
  try {
    const value = JSON.parse(store.getItem(key) ?? 'null') as Partial<StoredSession> | null;
    return value !== null && typeof value.id === 'string' && typeof value.open === 'boolean'
      ? { id: value.id, open: value.open }
      : undefined;
  } catch {
    return undefined;
  }
}

function writeStored(store: SessionStore, key: string, value: StoredSession | undefined): void {
  try {
    if (value === undefined) store.removeItem(key);
    else store.setItem(key, JSON.stringify(value));
  } catch {
    // storage full or refused: the next load starts a new session
  }
}

/** UTF-8 length of a string, counted without encoding it. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      // a surrogate pair: one code point of four bytes
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** A byte count for people: `1.9 MB`, `1 MiB` limits as `1 MiB`. */
function byteSize(bytes: number): string {
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`;
  if (bytes >= 1 << 10 && bytes % (1 << 10) === 0 && bytes < 1 << 20) return `${bytes / 1024} KiB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} bytes`;
}

/**
 * The WebSocket URL of the page's analysis: `ws(s)://<host><dir>/ws`, where
 * `<dir>` is the page's directory (`/dummypi/` → `/dummypi/ws`, `/` → `/ws`).
 * Empty outside a browser.
 */
export function guessWSUrl(): string {
  const loc = pageLocation();
  if (loc === undefined) return '';
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  const dir = loc.pathname.substring(0, loc.pathname.lastIndexOf('/'));
  return `${scheme}://${loc.host}${dir}/ws`;
}

function samePattern(a: string | RegExp | undefined, b: string | RegExp): boolean {
  if (a === b) return true;
  return a instanceof RegExp && b instanceof RegExp && a.source === b.source && a.flags === b.flags;
}

/**
 * A connection to one analysis instance on a databench server (docs/reference/protocol.md),
 * compatible with databench 0.7's `Databench.Connection`.
 *
 * Register listeners and wire the page first, then `connect()`. A lost
 * connection is reopened with randomised exponential backoff and resumes the
 * same analysis id, so the page keeps its state.
 *
 * Give the analysis class as type parameter to check action names, payloads
 * and data keys at compile time (see `contract.ts`).
 *
 * @example
 * const databench = new Connection<Pi>();
 * Databench.ui.wire(databench);
 * databench.on({ data: 'pi' }, (pi) => console.log(pi.estimate));
 * databench.connect();
 * databench.emit('run', { samples: 1000 });
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class Connection<A = any> {
  /** The WebSocket URL (guessed from the page's location when not given). */
  wsUrl: string;
  /** Sent as `__request_args`: the page's query string by default. */
  requestArgs: string;
  /** The analysis instance's id, from the server's `__connect` reply; resumed on reconnect. */
  analysisId: string | undefined;
  /** From the server's `__connect` reply. */
  databenchBackendVersion: string | undefined;
  /** From the server's `__connect` reply; a change between connects reloads the page. */
  analysesVersion: string | undefined;
  /**
   * From the server's `__connect` reply: the largest frame the server reads.
   * An emit larger than that is not sent (it would close the connection);
   * it is reported instead, as an `__error` of its action.
   */
  maxFrameBytes: number | undefined;
  /**
   * Reports connection problems (a message) and clears them (no argument).
   * `ui.wire` points it at the page's `#databench-alerts`.
   */
  errorCB: (message?: string) => void;

  private readonly options: ResolvedConnectionOptions;
  private readonly listeners = new Map<string, Listener[]>();
  private readonly preEmits = new Map<string, Array<(message: unknown) => unknown>>();
  private lastRestart = 0;
  private readonly processCallbacks = new Map<
    unknown,
    Array<(status: ProcessStatus, load: ProcessLoad) => void>
  >();
  private readonly queue: Array<{ signal: string; frame: string }> = [];
  private connectCallback: ((connection: this) => void) | undefined;
  private socket: WebSocketLike | undefined;
  private ready = false;
  private active = false;
  private attempt = 0;
  private hasConnected = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** The `sessionStorage` key of this page's session (undefined: none is kept). */
  private readonly storageKey: string | undefined;
  /** The analysis keeps the page's session across loads (the last reply did not opt out). */
  private keepsSession = true;
  /** {@link startFresh} was called: the page unloads without keeping its id. */
  private forgetting = false;
  /** The id sent in the last `__connect` (null: a new session was asked for). */
  private sentId: string | null = null;
  private wasResumed = false;
  /** The share link this page views (read-only); undefined: the page's own session. */
  private readonly shareId: string | undefined;
  /** Share requests waiting for the server's answer, by what they asked. */
  private readonly shareWaits = {
    create: [] as Array<{ resolve(link: ShareLink): void; reject(error: Error): void }>,
    revoke: [] as Array<{ resolve(): void; reject(error: Error): void }>,
  };
  /** The links this connection made, newest last (what {@link revokeShare} revokes by default). */
  private readonly madeShares: ShareLink[] = [];
  /** The uploads of this connection; made by the first `upload`. */
  private uploader: Uploader | undefined;
  /** The last value of each `data` / `class_data` / `user_data` key, which `__delta` frames change (with `deltas`). */
  private readonly values = {
    data: new Map<string, unknown>(),
    class_data: new Map<string, unknown>(),
    user_data: new Map<string, unknown>(),
  };

  /**
   * @param wsUrl       the WebSocket URL; guessed from the page's location when absent
   * @param requestArgs the `search` part of the page URL; `location.search` when absent
   * @param analysisId  an earlier analysis id to resume; a new instance when absent
   * @param options     see {@link ConnectionOptions}
   */
  constructor(
    wsUrl?: string | null,
    requestArgs?: string | null,
    analysisId?: string | null,
    options?: ConnectionOptions,
  ) {
    this.options = resolveConnectionOptions(options);
    this.wsUrl = wsUrl || guessWSUrl();
    const loc = pageLocation();
    const page = loc !== undefined ? takeFreshFlag(loc) : { fresh: false, search: '' };
    this.requestArgs = requestArgs ?? page.search;
    this.shareId =
      this.options.share === undefined
        ? shareParam(page.search)
        : (this.options.share ?? undefined);
    this.analysisId = this.shareId === undefined ? (analysisId ?? undefined) : undefined;
    this.databenchBackendVersion = undefined;
    this.analysesVersion = undefined;
    this.maxFrameBytes = undefined;
    // a viewer has no session of its own to keep
    this.storageKey =
      this.shareId === undefined ? this.resumeStored(loc, page.fresh, analysisId) : undefined;
    const out = this.options.console;
    this.errorCB = (message) => {
      if (message != null) out.warn(`databench connection: ${message}`);
    };
    for (const level of ['log', 'warn', 'error'] as const) {
      this.addListener(level, undefined, (message: unknown) => out[level]('backend:', message));
      this.addPreEmit(level, (message) => {
        out[level]('frontend:', message);
        return message;
      });
    }
  }

  /**
   * In a browser: take the id this tab kept for the analysis (unless the
   * page was given one, or asked for a new session with `?fresh`), and keep
   * the id up to date from now on. Returns the storage key in use.
   */
  private resumeStored(
    loc: PageLocation | undefined,
    fresh: boolean,
    given: string | null | undefined,
  ): string | undefined {
    const option = this.options.sessionKey;
    if (option === null || loc === undefined || !this.wsUrl) return undefined;
    const store = sessionStore();
    if (store === undefined) return undefined;
    const key = option ?? 'databench:' + this.wsUrl.replace(/^wss?:\/\/[^/]*/, '');
    if (fresh) {
      writeStored(store, key, undefined);
    } else if (given === undefined || given === null) {
      const stored = readStored(store, key);
      // a stored id marked open belongs to a page still open (this tab was duplicated from it)
      if (stored !== undefined && !stored.open) {
        this.analysisId = stored.id;
        // claimed at once: another Connection made now does not take it too
        writeStored(store, key, { id: stored.id, open: true });
      }
    }
    const events = globalThis as {
      addEventListener?: (type: string, listener: (event: { persisted?: boolean }) => void) => void;
    };
    events.addEventListener?.('pagehide', () => this.keep(false));
    events.addEventListener?.('pageshow', (event) => {
      if (event.persisted === true) this.keep(true);
    });
    return key;
  }

  /** Write this page's session to the tab's storage: `open` while the page shows. */
  private keep(open: boolean): void {
    const key = this.storageKey;
    const store = key !== undefined ? sessionStore() : undefined;
    if (key === undefined || store === undefined) return;
    if (this.forgetting || !this.keepsSession || this.analysisId === undefined) {
      writeStored(store, key, undefined);
      return;
    }
    writeStored(store, key, { id: this.analysisId, open });
  }

  /**
   * Whether the server resumed the session this connection asked for (the
   * page's kept id, or the one it had before a lost connection): its `data`
   * came back. False before the first `__connect` reply.
   */
  get resumed(): boolean {
    return this.wasResumed;
  }

  /** Whether this page's session is kept in the tab for its next load (a save, a refresh). */
  get resumesOnReload(): boolean {
    return this.storageKey !== undefined && this.keepsSession;
  }

  /**
   * Start over with a new session: the one this tab kept is forgotten (its
   * `data` is not resumed) and, in a browser, the page loads again;
   * elsewhere the connection reconnects with a new id. The "Start fresh"
   * button of the page's status line calls it.
   */
  startFresh(): void {
    this.forgetting = true;
    this.keep(false);
    const loc = pageLocation();
    if (this.storageKey !== undefined && loc !== undefined && typeof loc.reload === 'function') {
      loc.reload();
      return;
    }
    const active = this.active;
    this.disconnect();
    this.analysisId = undefined;
    this.forgetting = false;
    if (active) this.connect();
  }

  /** The URL guessed from the page's location (databench 0.7 had it here); see {@link guessWSUrl}. */
  static guessWSUrl(): string {
    return guessWSUrl();
  }

  /**
   * Whether this page is a read-only view of another page's session (it
   * opened a share link): it shows that session's `data` and `classData`
   * as they change; the server refuses its actions, and `ui.wire` disables
   * its controls.
   */
  get viewing(): boolean {
    return this.shareId !== undefined;
  }

  /**
   * Make a live, read-only link to this page's session: whoever opens its
   * `url` (and may open the analysis: the same token or login and `allow`
   * rule) sees this page's `data` and `classData` as they change, and
   * cannot act. It works until it expires (24 h by default, at most the
   * server's `shareExpiresMs`; `expiresMs` asks for less) or is revoked.
   * Rejects (`DatabenchError` `SHARE`) when not connected, in a viewer, or
   * when the server refuses.
   *
   * @example
   * const link = await databench.share();
   * await navigator.clipboard.writeText(link.url);
   */
  share(options: { expiresMs?: number } = {}): Promise<ShareLink> {
    const load: Record<string, unknown> = { op: 'create' };
    if (options.expiresMs !== undefined) load['expires_ms'] = options.expiresMs;
    return new Promise((resolve, reject) => {
      if (this.sendShare(load, reject)) this.shareWaits.create.push({ resolve, reject });
    });
  }

  /**
   * Revoke a share link this page's session made (by default the last one
   * this connection made): its open viewers close and it opens no more.
   */
  revokeShare(link?: ShareLink | string): Promise<void> {
    const id = typeof link === 'string' ? link : (link ?? this.madeShares.at(-1))?.id;
    return new Promise((resolve, reject) => {
      if (id === undefined) {
        reject(new DatabenchError('SHARE', 'no share link to revoke: this page made none'));
        return;
      }
      if (this.sendShare({ op: 'revoke', share: id }, reject)) {
        this.shareWaits.revoke.push({ resolve, reject });
      }
    });
  }

  /** Send a `__share` request now; false (and `reject` called) when it cannot go. */
  private sendShare(load: Record<string, unknown>, reject: (error: Error) => void): boolean {
    if (this.viewing) {
      reject(new DatabenchError('SHARE', 'a read-only view cannot share or revoke links'));
      return false;
    }
    if (!this.ready || this.socket === undefined) {
      reject(
        new DatabenchError(
          'SHARE',
          'not connected: share once the server has answered __connect (the connect callback)',
        ),
      );
      return false;
    }
    this.socket.send(frameFromEncoded(PROTOCOL.shareSignal, encodeValue(load)));
    return true;
  }

  /** A `__share` frame from the server: the answer to the oldest request of its kind. */
  private handleShare(load: unknown): void {
    if (!isPlainObject(load)) return;
    const reply = load as unknown as ShareServerLoad;
    if (reply.op === 'created' && typeof reply.share === 'string') {
      const link: ShareLink = {
        id: reply.share,
        url:
          this.wsUrl.replace(/^ws/, 'http').replace(/ws$/, '') + `?${SHARE_PARAM}=${reply.share}`,
        expires: new Date(reply.expires),
      };
      this.madeShares.push(link);
      this.shareWaits.create.shift()?.resolve(link);
    } else if (reply.op === 'revoked') {
      const i = this.madeShares.findIndex((l) => l.id === reply.share);
      if (i >= 0) this.madeShares.splice(i, 1);
      this.shareWaits.revoke.shift()?.resolve();
    } else if (reply.op === 'error') {
      const waits = reply.of === 'revoke' ? this.shareWaits.revoke : this.shareWaits.create;
      waits.shift()?.reject(new DatabenchError('SHARE', String(reply.message)));
    }
  }

  /** The socket closed: share requests it carried get no answer. */
  private dropShareWaits(): void {
    const error = new DatabenchError(
      'SHARE',
      'the connection closed before the server answered the share request',
    );
    for (const waits of [this.shareWaits.create, this.shareWaits.revoke]) {
      for (const wait of waits.splice(0)) wait.reject(error);
    }
  }

  /** Whether the server has answered `__connect` on the current socket (emits go out at once). */
  get connected(): boolean {
    return this.ready;
  }

  /**
   * Open the connection (and keep it open until {@link disconnect}).
   * `callback` runs after every `__connect` reply, reconnects included.
   */
  connect(callback?: (connection: this) => void): this {
    if (!this.wsUrl) {
      throw new DatabenchError(
        'NO_URL',
        'Connection needs a wsUrl (it can only be guessed in a browser page)',
      );
    }
    if (callback) this.connectCallback = callback;
    this.active = true;
    if (this.socket === undefined && this.reconnectTimer === undefined) this.open();
    return this;
  }

  /** Close the connection and stop reconnecting. Queued emits stay for the next {@link connect}. */
  disconnect(): this {
    this.active = false;
    this.attempt = 0;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const socket = this.socket;
    this.socket = undefined;
    this.ready = false;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = null;
      socket.onerror = () => undefined;
      socket.close(1000);
    }
    return this;
  }

  /**
   * Listen to a signal. `callback(value, key)` gets the load and the signal
   * name; with `{signal: key}` it gets, for each key of the load object that
   * equals `key` (or matches the RegExp), that key's value and the key.
   *
   * @example
   * c.on('log', (message) => …);
   * c.on({ data: 'pi' }, (pi) => …);
   * c.on({ data: /^run_/ }, (value, key) => …);
   */
  on<K extends DataKey<A>>(
    signal: { data: K },
    callback: (value: DataOf<A>[K], key: K) => void,
  ): this;
  on(
    signal: { data: RegExp },
    callback: (value: DataOf<A>[DataKey<A>], key: DataKey<A>) => void,
  ): this;
  on<K extends ClassDataKey<A>>(
    signal: { class_data: K },
    callback: (value: ClassDataOf<A>[K], key: K) => void,
  ): this;
  on(
    signal: { class_data: RegExp },
    callback: (value: ClassDataOf<A>[ClassDataKey<A>], key: ClassDataKey<A>) => void,
  ): this;
  on<K extends UserDataKey<A>>(
    signal: { user_data: K },
    callback: (value: UserDataOf<A>[K], key: K) => void,
  ): this;
  on(
    signal: { user_data: RegExp },
    callback: (value: UserDataOf<A>[UserDataKey<A>], key: UserDataKey<A>) => void,
  ): this;
  on<S extends string>(signal: S, callback: (value: SignalValue<A, S>, key: S) => void): this;
  on(signal: OtherPattern<A>, callback: (value: AnyValue<A>, key: string) => void): this;
  on(signal: SignalPattern, callback: Callback): this {
    if (typeof callback !== 'function') {
      throw new DatabenchError(
        'INVALID_ARGUMENT',
        'on(signal, callback): callback must be a function',
      );
    }
    if (typeof signal === 'string') {
      this.addListener(signal, undefined, callback);
      return this;
    }
    if (!isPlainObject(signal)) {
      throw new DatabenchError(
        'INVALID_ARGUMENT',
        'on(signal, callback): signal must be a name or an object like {data: "key"}',
      );
    }
    for (const [name, pattern] of Object.entries(signal)) {
      if (typeof pattern !== 'string' && !(pattern instanceof RegExp)) {
        throw new DatabenchError(
          'INVALID_ARGUMENT',
          `on({${name}: …}): the key must be a string or a RegExp, got ${String(pattern)}`,
        );
      }
      this.addListener(name, pattern, callback);
    }
    return this;
  }

  /** Remove listeners added with {@link on} (the same signal and callback). */
  off(signal: SignalPattern, callback: Callback): this {
    const names = typeof signal === 'string' ? [signal] : Object.keys(signal);
    for (const name of names) {
      const list = this.listeners.get(name);
      if (!list) continue;
      const pattern = typeof signal === 'string' ? undefined : signal[name];
      const rest = list.filter(
        (l) =>
          l.original !== callback || (pattern !== undefined && !samePattern(l.pattern, pattern)),
      );
      if (rest.length === 0) this.listeners.delete(name);
      else this.listeners.set(name, rest);
    }
    return this;
  }

  /**
   * The next value of a signal, as a Promise (for `{signal: key}` patterns:
   * the next matching key's value). With `timeoutMs`, it rejects after that
   * long with a {@link DatabenchError} of code `TIMEOUT`.
   *
   * @example
   * await c.once({ data: 'pi' });
   */
  once<K extends DataKey<A>>(signal: { data: K }, options?: OnceOptions): Promise<DataOf<A>[K]>;
  once(signal: { data: RegExp }, options?: OnceOptions): Promise<DataOf<A>[DataKey<A>]>;
  once<K extends ClassDataKey<A>>(
    signal: { class_data: K },
    options?: OnceOptions,
  ): Promise<ClassDataOf<A>[K]>;
  once(
    signal: { class_data: RegExp },
    options?: OnceOptions,
  ): Promise<ClassDataOf<A>[ClassDataKey<A>]>;
  once<K extends UserDataKey<A>>(
    signal: { user_data: K },
    options?: OnceOptions,
  ): Promise<UserDataOf<A>[K]>;
  once(
    signal: { user_data: RegExp },
    options?: OnceOptions,
  ): Promise<UserDataOf<A>[UserDataKey<A>]>;
  once<S extends string>(signal: S, options?: OnceOptions): Promise<SignalValue<A, S>>;
  once(signal: OtherPattern<A>, options?: OnceOptions): Promise<AnyValue<A>>;
  once(signal: SignalPattern, options: OnceOptions = {}): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const callback: Callback = (value) => {
        if (timer !== undefined) clearTimeout(timer);
        this.off(signal, callback);
        resolve(value);
      };
      (this.on as (s: SignalPattern, cb: Callback) => this)(signal, callback);
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.off(signal, callback);
          reject(
            new DatabenchError(
              'TIMEOUT',
              `no ${describePattern(signal)} within ${options.timeoutMs} ms`,
            ),
          );
        }, options.timeoutMs);
      }
    });
  }

  /**
   * Transform the message of an action before it is sent (hooks run in the
   * order they were added; each gets the previous one's result).
   *
   * @example
   * c.preEmit('run', (message) => ({ ...message, seed: 42 }));
   */
  preEmit<const N extends string>(action: CheckedAction<A, N>, fn: PreEmitFn<A, N>): this {
    if (typeof fn !== 'function') {
      throw new DatabenchError('INVALID_ARGUMENT', 'preEmit(action, fn): fn must be a function');
    }
    this.addPreEmit(action, fn);
    return this;
  }

  /**
   * Send an action to the analysis. With no message the frame has no `load`.
   * While the connection is not ready, emits wait in a queue (bounded by
   * `maxQueuedEmits`; the oldest is dropped and reported via `errorCB`).
   * The message is encoded at once (NaN/Infinity become strings, Sets lists);
   * a cycle throws a {@link DatabenchError}.
   */
  emit<const N extends string>(action: CheckedAction<A, N>, ...message: EmitArgs<A, N>): this {
    return this.sendAction(action, message[0], frameFromEncoded);
  }

  /**
   * Send an action asking the server to run it as a `latest` call, what a
   * wired slider sends: beside the page's queue (it answers while a long
   * action runs), a newer call replacing the older ones. An action whose
   * handler declares its concurrency runs as it declares; a 0.7 server
   * ignores the request. Otherwise as {@link emit}.
   *
   * @example slider.changeCB = (value) => d.emitLatest('samples', value);
   */
  emitLatest<const N extends string>(
    action: CheckedAction<A, N>,
    ...message: EmitArgs<A, N>
  ): this {
    return this.sendAction(action, message[0], latestActionFrame);
  }

  private sendAction(
    action: string,
    message: unknown,
    toFrame: (signal: string, encodedLoad?: string) => string,
  ): this {
    if (typeof action !== 'string' || action === '') {
      throw new DatabenchError(
        'INVALID_ARGUMENT',
        'emit(action): action must be a non-empty string',
      );
    }
    let load: unknown = message;
    for (const fn of this.preEmits.get(action) ?? []) load = fn(load);
    const frame = load === undefined ? toFrame(action) : toFrame(action, encodeValue(load));
    if (!this.fits(action, frame)) return this;
    const socket = this.socket;
    if (this.ready && socket && socket.readyState === WS_OPEN) {
      socket.send(frame);
      return this;
    }
    this.queue.push({ signal: action, frame });
    if (this.queue.length > this.options.maxQueuedEmits) {
      const dropped = this.queue.shift();
      this.errorCB(
        `too many actions waiting for the connection: dropped "${dropped?.signal ?? ''}" ` +
          `(at most ${this.options.maxQueuedEmits} are kept)`,
      );
    }
    return this;
  }

  /**
   * Whether `frame` is within the server's frame limit. A larger one would
   * close the connection (1009) and lose what is queued behind it: it is not
   * sent, and the page's error panel, the console and the server's log (a
   * `warn` action) say what happened and what the limit is.
   */
  private fits(action: string, frame: string): boolean {
    const limit = this.maxFrameBytes;
    // a UTF-8 byte is at most 3 per UTF-16 unit: short frames are not counted
    if (limit === undefined || frame.length * 3 <= limit) return true;
    const bytes = utf8Length(frame);
    if (bytes <= limit) return true;
    const text =
      `"${action}" was not sent: its message is ${byteSize(bytes)}, more than the ` +
      `${byteSize(limit)} the server reads in one message (its --max-frame-bytes). ` +
      'Send less at once, or start the server with a larger --max-frame-bytes.';
    this.options.console.error(`databench: ${text}`);
    const load: ErrorLoad = { action, where: `sending "${action}"`, message: text, location: null };
    this.dispatch(PROTOCOL.errorSignal, load);
    // the server's log says it too (the analysis's `warn` action logs what a page reports)
    if (action !== 'warn') (this as Connection).emit('warn', text);
    return false;
  }

  /**
   * Cancel the action emitted with `{__process_id: processId}`: a queued
   * call is dropped, a running one has its `actionSignal` aborted. Its
   * `end` frame says `cancelled: true` (a handler that ignores the signal
   * runs to its end). Does nothing while not connected.
   *
   * @example d.cancel(processId);
   */
  cancel(processId: number | string): this {
    return this.sendCancel({ id: processId });
  }

  /** Cancel every queued and running call of `action` (see {@link cancel}). */
  cancelAction<const N extends string>(action: CheckedAction<A, N>): this {
    return this.sendCancel({ action });
  }

  private sendCancel(load: { id: number | string } | { action: string }): this {
    const socket = this.socket;
    if (this.ready && socket && socket.readyState === WS_OPEN) {
      socket.send(frameFromEncoded(PROTOCOL.cancelSignal, encodeValue(load)));
    }
    return this;
  }

  /**
   * Upload a file (a `File` or `Blob`) for `action`: its bytes go in binary
   * frames, and once every byte has arrived the action's handlers get it as
   * their one argument (a list of files when given a list). The server's
   * limits (`--max-upload-mb`) refuse a larger file before any of it is
   * sent. Needs an open connection; a lost connection fails the upload.
   *
   * @example
   * const upload = d.upload('load_csv', input.files[0], {
   *   onProgress: (received, total) => (bar.value = received / total),
   * });
   * await upload.done;
   */
  upload<const N extends string>(
    action: CheckedAction<A, N>,
    file: UploadSource | readonly UploadSource[],
    options?: UploadOptions,
  ): Upload {
    return this.uploads().start(action, file, options);
  }

  private uploads(): Uploader {
    if (this.uploader !== undefined) return this.uploader;
    const uploader = new Uploader({
      sendFrame: (frame) => {
        const socket = this.socket;
        if (!this.ready || !socket || socket.readyState !== WS_OPEN) return false;
        socket.send(frame);
        return true;
      },
    });
    this.addListener(PROTOCOL.uploadSignal, undefined, (load: unknown) => uploader.handle(load));
    this.addListener('warn', undefined, (message: unknown) => uploader.warned(message));
    this.uploader = uploader;
    return uploader;
  }

  /**
   * Call `callback(status, load)` with `'start'`, every `'progress'` and
   * `'end'` of the action emitted with `{__process_id: id}` (docs/reference/protocol.md).
   * Buttons use this to show "busy" and progress. A progress load has
   * `fraction` (0 to 1, or null) and `message`; an end load has
   * `cancelled: true` when the call was cancelled, `error: true` when a
   * handler failed.
   */
  onProcess(
    id: number | string,
    callback: (status: ProcessStatus, load: ProcessLoad) => void,
  ): this {
    let list = this.processCallbacks.get(id);
    if (!list) {
      list = [];
      this.processCallbacks.set(id, list);
      if (this.processCallbacks.size > MAX_PROCESS_IDS) {
        const oldest = this.processCallbacks.keys().next().value;
        this.processCallbacks.delete(oldest);
      }
    }
    list.push(callback);
    return this;
  }

  /**
   * Handle a signal as if the server had sent it: listeners, `onProcess`
   * callbacks and the `__connect` bookkeeping all run.
   */
  trigger(signal: string, message?: unknown): this {
    this.handleMessage({ signal, hasLoad: message !== undefined, load: message });
    return this;
  }

  // internals --------------------------------------------------------------

  private addListener(
    signal: string,
    pattern: string | RegExp | undefined,
    callback: Callback,
  ): void {
    const listener: Listener = { pattern, callback, original: callback };
    const list = this.listeners.get(signal);
    if (list) list.push(listener);
    else this.listeners.set(signal, [listener]);
  }

  private addPreEmit(action: string, fn: (message: unknown) => unknown): void {
    const list = this.preEmits.get(action);
    if (list) list.push(fn);
    else this.preEmits.set(action, [fn]);
  }

  private open(): void {
    const Ctor = resolveWebSocket(this.options.WebSocket);
    const socket = new Ctor(this.wsUrl);
    this.socket = socket;
    this.ready = false;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      if (this.socket !== socket) return;
      this.errorCB(); // clear earlier connection problems
      this.sentId = this.analysisId ?? null;
      const hello: Record<string, unknown> = {
        __connect: this.sentId,
        __request_args: this.requestArgs,
      };
      if (this.options.deltas) hello[PROTOCOL.deltasKey] = 1;
      if (this.shareId !== undefined) hello[PROTOCOL.shareKey] = this.shareId;
      socket.send(JSON.stringify(hello));
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this.handleFrame(event.data);
    };
    // without an error handler `ws` throws; the close event that follows reports it
    socket.onerror = () => undefined;
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.ready = false;
      // their end frames went to this socket: busy buttons must not stay busy
      this.endPendingProcesses();
      if (event.code === PROTOCOL.messageTooBigCode) this.closedTooBig();
      // the server dropped this page's uploads with the socket
      this.uploader?.lost();
      this.dropShareWaits();
      if (this.active && event.code === PROTOCOL.shareEndedCode) {
        // the link was revoked or expired (or never worked): reconnecting would not open it
        this.active = false;
        this.errorCB(
          `This shared view has ended: ${event.reason || 'the link is unknown, expired or revoked'}.`,
        );
        return;
      }
      if (this.active && event.code === PROTOCOL.takenOverCode) {
        // another page resumed this session: reconnecting would take it back
        this.active = false;
        this.errorCB('This analysis was opened in another page. Reload to continue here.');
        return;
      }
      if (this.active) {
        this.scheduleReconnect(event.code);
        // a browser hides why an upgrade was refused: ask the server over HTTP
        if (!opened) this.checkAnalysisExists();
      }
    };
  }

  /**
   * A socket that never opened: when the server answers 404 for its URL
   * over HTTP, no analysis is served there (the server runs other
   * analyses now, or the page's URL is wrong); say so and stop retrying,
   * instead of "Retrying…" forever.
   */
  private checkAnalysisExists(): void {
    const loc = pageLocation();
    const fetchFn = (
      globalThis as {
        fetch?: (
          url: string,
          init?: object,
        ) => Promise<{ status: number; headers?: { get(name: string): string | null } }>;
      }
    ).fetch;
    if (loc === undefined || typeof fetchFn !== 'function') return;
    const url = this.wsUrl.replace(/^ws(s?):/, 'http$1:');
    fetchFn(url, { method: 'GET', cache: 'no-store' }).then(
      (response) => {
        // only a databench server says so (another server's 404 may be a WebSocket route it has)
        const marked = response.headers?.get('x-databench-no-analysis') === '1';
        if (response.status !== 404 || !marked || !this.active || this.socket !== undefined) {
          return;
        }
        this.disconnect();
        this.errorCB(); // not "Retrying…": it will not
        const path = url.replace(/^https?:\/\/[^/]+/, '').replace(/ws$/, '');
        this.errorCB(
          `There is no analysis at ${path} on this server. Check the address, or open the list of analyses at /.`,
        );
      },
      () => undefined, // the server is down: keep retrying
    );
  }

  /**
   * The server closed the socket on a frame larger than it reads (sent by
   * code that bypassed {@link emit}'s check, or before the limit was known):
   * say so in the error panel; the connection reopens and resumes.
   */
  private closedTooBig(): void {
    const limit = this.maxFrameBytes;
    const text =
      'the server closed the connection: a message from this page was larger than ' +
      (limit !== undefined ? `the ${byteSize(limit)} ` : 'what ') +
      'it reads in one message (its --max-frame-bytes). Reconnecting; send less at once.';
    this.options.console.error(`databench: ${text}`);
    const load: ErrorLoad = {
      action: null,
      where: 'sending a message',
      message: text,
      location: null,
    };
    this.dispatch(PROTOCOL.errorSignal, load);
  }

  /** Every process still waiting for its `end`: end it here (with `lost: true`). */
  private endPendingProcesses(): void {
    const pending = [...this.processCallbacks];
    this.processCallbacks.clear();
    for (const [id, callbacks] of pending) {
      const load = { id, status: 'end', lost: true } as ProcessLoad & { lost: true };
      for (const callback of callbacks) {
        this.guard(`onProcess(${String(id)})`, () => callback('end', load));
      }
    }
  }

  private scheduleReconnect(code: number): void {
    this.attempt += 1;
    const { reconnectInitialDelayMs: initial, reconnectMaxDelayMs: max } = this.options;
    let delay = 0;
    const now = Date.now();
    // a restart (1012) reconnects at once, but at most once a second: a server
    // that keeps closing with 1012 must not get a reconnect loop
    if (
      code === PROTOCOL.serviceRestartCode &&
      this.attempt === 1 &&
      now - this.lastRestart > 1000
    ) {
      this.lastRestart = now;
    } else {
      const base = Math.min(max, initial * 2 ** (this.attempt - 1));
      delay = Math.min(max, base * (0.75 + 0.5 * Math.random()));
    }
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.active || this.socket !== undefined) return;
      try {
        this.open();
      } catch (error) {
        this.errorCB(`cannot open ${this.wsUrl}: ${(error as Error).message}`);
        this.scheduleReconnect(0);
      }
    }, delay);
    // after the timer: an errorCB that calls disconnect() must be able to clear it
    this.errorCB(
      !this.hasConnected
        ? 'Cannot connect to the server. Retrying…'
        : this.attempt === 1 && code === PROTOCOL.serviceRestartCode
          ? 'The server is restarting. Reconnecting…'
          : 'Connection lost. Reconnecting…',
    );
  }

  private handleFrame(data: unknown): void {
    if (typeof data !== 'string') {
      this.errorCB('ignored a binary frame from the server');
      return;
    }
    let message: ServerMessage;
    try {
      message = parseServerMessage(data);
    } catch (error) {
      this.errorCB(`bad frame from the server: ${(error as Error).message}`);
      return;
    }
    this.handleMessage(message);
  }

  private handleMessage(message: ServerMessage): void {
    if (message.signal === PROTOCOL.connectSignal) {
      if (!this.handleConnectReply(message.load)) return;
    } else if (message.signal === PROTOCOL.processSignal) {
      this.handleProcess(message.load);
    } else if (message.signal === PROTOCOL.shareSignal) {
      this.handleShare(message.load);
    } else if (this.options.deltas) {
      if (
        message.signal === 'data' ||
        message.signal === 'class_data' ||
        message.signal === 'user_data'
      ) {
        this.keepValues(this.values[message.signal], message.load);
      } else if (message.signal === PROTOCOL.deltaSignal) {
        this.handleDelta(message.load);
        return;
      }
    }
    this.dispatch(message.signal, message.load);
  }

  /** Keep the values of a `data` / `class_data` frame: a later `__delta` changes them. */
  private keepValues(values: Map<string, unknown>, load: unknown): void {
    if (!isPlainObject(load)) return;
    for (const key of Object.keys(load)) values.set(key, load[key]);
  }

  /**
   * A `__delta` frame: applied to the value this client holds for its key,
   * and dispatched as the `data` / `class_data` frame of the whole new value.
   */
  private handleDelta(load: unknown): void {
    if (!isDeltaLoad(load)) {
      this.errorCB('bad __delta frame from the server');
      return;
    }
    const values = this.values[load.signal];
    if (!values.has(load.key)) {
      this.errorCB(`a __delta for "${load.key}", which this client holds no value of`);
      return;
    }
    let value: unknown;
    try {
      value = applyDelta(values.get(load.key), load);
    } catch (error) {
      this.errorCB((error as Error).message);
      return;
    }
    values.set(load.key, value);
    // computed: a key named __proto__ is an own key, as JSON.parse makes it
    this.dispatch(load.signal, { [load.key]: value });
  }

  /** Take in a `__connect` reply; false when it is not to be dispatched (bad, or the page reloads). */
  private handleConnectReply(load: unknown): boolean {
    if (!isPlainObject(load) || typeof load['analysis_id'] !== 'string') {
      this.errorCB('bad __connect reply from the server: no analysis_id');
      return false;
    }
    const reply = load as unknown as ConnectReply;
    const previous = this.analysesVersion;
    // a viewer's reply has no id (it never learns the owner's)
    this.analysisId = reply.analysis_id === '' ? undefined : reply.analysis_id;
    this.databenchBackendVersion =
      typeof reply.databench_backend_version === 'string'
        ? reply.databench_backend_version
        : undefined;
    this.analysesVersion =
      typeof reply.analyses_version === 'string' ? reply.analyses_version : undefined;
    const limit = reply.max_frame_bytes;
    this.maxFrameBytes =
      typeof limit === 'number' && Number.isFinite(limit) && limit > 0 ? limit : undefined;
    this.wasResumed = this.sentId !== null && this.sentId === reply.analysis_id;
    this.keepsSession = reply.resume_on_reload !== false;
    this.keep(true);
    this.ready = true;
    this.hasConnected = true;
    this.attempt = 0;
    if (
      previous !== undefined &&
      this.analysesVersion !== undefined &&
      previous !== this.analysesVersion
    ) {
      // the page is about to reload: send nothing more to the old code's
      // instance, and tell no listener (one that reloads too would load it twice)
      if (this.analysesChanged(previous, this.analysesVersion)) return false;
    }
    // what was queued while offline goes out before anything the callback emits
    this.flush();
    if (this.connectCallback)
      this.guard('the connect callback', () => this.connectCallback?.(this));
    return true;
  }

  /** The analyses changed: reload the page. True when it is reloading. */
  private analysesChanged(previous: string, current: string): boolean {
    const hook = this.options.onAnalysesVersionChange;
    if (hook) {
      this.guard('onAnalysesVersionChange', () => hook(previous, current));
      return false;
    }
    const loc = pageLocation();
    if (loc && typeof loc.reload === 'function') {
      loc.reload();
      return true;
    }
    this.options.console.warn(`databench: the analyses changed (${previous} → ${current})`);
    return false;
  }

  private flush(): void {
    while (this.queue.length > 0 && this.ready) {
      const socket = this.socket;
      if (!socket || socket.readyState !== WS_OPEN) return;
      const next = this.queue.shift();
      // queued before the server's limit was known
      if (next && this.fits(next.signal, next.frame)) socket.send(next.frame);
    }
  }

  private handleProcess(load: unknown): void {
    const status = isPlainObject(load) ? load['status'] : undefined;
    if (status !== 'start' && status !== 'end' && status !== 'progress') {
      this.errorCB('bad __process frame from the server');
      return;
    }
    const process = load as ProcessLoad;
    const callbacks = this.processCallbacks.get(process.id);
    if (!callbacks) return;
    if (process.status === 'end') this.processCallbacks.delete(process.id);
    for (const callback of callbacks.slice()) {
      this.guard(`onProcess(${String(process.id)})`, () => callback(process.status, process));
    }
  }

  private dispatch(signal: string, load: unknown): void {
    const list = this.listeners.get(signal);
    if (!list) return;
    // a copy: callbacks may add or remove listeners (once)
    for (const listener of list.slice()) {
      const { pattern, callback } = listener;
      if (pattern === undefined) {
        this.guard(`a callback for "${signal}"`, () => callback(load, signal));
        continue;
      }
      if (!isPlainObject(load)) continue;
      for (const key of Object.keys(load)) {
        if (typeof pattern === 'string') {
          if (key !== pattern) continue;
        } else {
          pattern.lastIndex = 0;
          if (!pattern.test(key)) continue;
        }
        this.guard(`a callback for "${signal}"`, () => callback(load[key], key));
      }
    }
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.options.console.error(`databench: ${what} threw:`, error);
    }
  }
}

/** Options of {@link Connection.once}. */
export interface OnceOptions {
  /** Reject with a `TIMEOUT` DatabenchError after this long. Default: wait forever. */
  timeoutMs?: number;
}

function describePattern(signal: SignalPattern): string {
  if (typeof signal === 'string') return `"${signal}" signal`;
  return Object.entries(signal)
    .map(([name, key]) => `"${name}" signal with key ${String(key)}`)
    .join(' or ');
}

/**
 * Create a Connection and connect it: `new Connection(...).connect(callback)`.
 * Register listeners before connecting when they must see the first frames.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function connect<A = any>(
  wsUrl?: string | null,
  requestArgs?: string | null,
  analysisId?: string | null,
  callback?: (connection: Connection<A>) => void,
  options?: ConnectionOptions,
): Connection<A> {
  return new Connection<A>(wsUrl, requestArgs, analysisId, options).connect(callback);
}

/**
 * A Promise of a connected Connection: it resolves on the server's
 * `__connect` reply.
 *
 * @example
 * const c = await attach('ws://localhost:5000/dummypi/ws');
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function attach<A = any>(
  wsUrl?: string | null,
  requestArgs?: string | null,
  analysisId?: string | null,
  options?: ConnectionOptions,
): Promise<Connection<A>> {
  const connection = new Connection<A>(wsUrl, requestArgs, analysisId, options);
  return new Promise((resolve) => {
    connection.connect(resolve);
  });
}
