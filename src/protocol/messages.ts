import { ProtocolError } from './errors.js';
import { escapeLogText } from './log-text.js';

/** Wire constants shared by server, client and kernels. */
export const PROTOCOL = {
  /** The server pings every socket this often (docs/reference/protocol.md: 15 s). */
  pingIntervalMs: 15_000,
  /** Signal of the reply to `__connect`. */
  connectSignal: '__connect',
  /** Signal of the start/end frames of an action run with a `__process_id`. */
  processSignal: '__process',
  /** The key of an action's object load that asks for `__process` frames. */
  processIdKey: '__process_id',
  /**
   * How deep a client frame may nest arrays and objects (the frame's own
   * object counts as 1). Deeper frames are refused before they are parsed.
   */
  maxClientJsonDepth: 64,
  /**
   * Client → server (our addition): cancel a running or queued action,
   * `{"signal": "__cancel", "load": {"id": 123}}` by its `__process_id` or
   * `{"load": {"action": "run"}}` every call of an action. A 0.7 server
   * answers it with a `warn` ("no handler").
   */
  cancelSignal: '__cancel',
  /**
   * The longest process id (as a string) or action name a `__cancel` may
   * name, in characters: a longer one is refused with an `error` frame.
   */
  maxCancelTargetChars: 256,
  /**
   * Server → client (our addition, old clients ignore it): the details of a
   * handler's failure for the page's error panel, sent right after the
   * `error` frame (which stays as 0.7 sent it). See {@link ErrorLoad}.
   */
  errorSignal: '__error',
  /**
   * Server → client (our addition): the analysis failed to load (a save with
   * a syntax error, an import-time throw); see {@link LoadErrorLoad}. The
   * next good save reloads the page (a new `analyses_version`).
   */
  loadErrorSignal: '__load_error',
  /**
   * Server → client (our addition): the type check ended; the analysis's
   * type errors, or none any more. See {@link TypeErrorsLoad}.
   */
  typeErrorsSignal: '__type_errors',
  /** Close code of a frame larger than the server reads (`maxFrameBytes`, WebSocket's "message too big"). */
  messageTooBigCode: 1009,
  /**
   * Both ways (our addition): a file upload. Client → server `op` `start`
   * (the action, the files' names, types and sizes) and `cancel`; server →
   * client `ready` (chunk size and window), `progress` (bytes received),
   * `done` (handed to the action) and `error`. The bytes go as binary frames
   * (see {@link UPLOAD_CHUNK_HEADER_BYTES}). A 0.7 server answers `start`
   * with a `warn` ("no handler").
   */
  uploadSignal: '__upload',
  /**
   * Client → server (our addition): a `__connect` frame with `"__deltas": 1`
   * announces that the client applies {@link PROTOCOL.deltaSignal} frames.
   * A 0.7 server ignores the key; a client without it gets whole values.
   */
  deltasKey: '__deltas',
  /**
   * Server → client (our addition, sent only to a client that announced
   * `__deltas`): a change of one `data` / `class_data` key as a delta against
   * the value the client holds, `{"signal": "__delta", "load": {"signal":
   * "data", "key": "xs", "append": [4, 5]}}` or `… "ops": [<RFC 6902 JSON
   * Patch operations>]}`. See {@link DeltaLoad}.
   */
  deltaSignal: '__delta',
  /** Close code of a service restart (a reload replaced the analysis): the page reconnects at once. */
  serviceRestartCode: 1012,
  /**
   * Close code (our addition) of a session that another page resumed: the
   * older page does not reconnect, it says the analysis is open elsewhere.
   */
  takenOverCode: 4001,
  /**
   * Both ways (our addition): a live, read-only share link of a page's
   * session. Client → server `{"op": "create"}` (optionally `"expires_ms"`,
   * never longer than the server allows) and `{"op": "revoke", "share":
   * id}`; server → client `created` (`share`, `expires` in ms since the
   * epoch), `revoked` and `error` (`message`). See {@link ShareServerLoad}.
   * A 0.7 server answers `create` with a `warn` ("no handler").
   */
  shareSignal: '__share',
  /**
   * Client → server (our addition): a `__connect` frame with `"__share":
   * id` opens the page as a read-only viewer of the session that made the
   * link: the reply has `"view": true` and an empty `analysis_id`. A 0.7
   * server ignores the key and starts a new session.
   */
  shareKey: '__share',
  /**
   * Close code (our addition) of a viewer whose share link is unknown,
   * expired or revoked: the page does not reconnect; the reason says which.
   */
  shareEndedCode: 4003,
} as const;

/**
 * Every signal name the protocol reserves (both directions): an analysis's
 * own actions and signals never use these. `__process_id` is a key, not a
 * signal, and is not listed.
 */
export const RESERVED_SIGNALS: ReadonlySet<string> = new Set([
  PROTOCOL.connectSignal,
  PROTOCOL.processSignal,
  PROTOCOL.cancelSignal,
  PROTOCOL.errorSignal,
  PROTOCOL.loadErrorSignal,
  PROTOCOL.uploadSignal,
  PROTOCOL.shareSignal,
]);

/**
 * A binary frame of an upload: this many bytes of header (the upload's id,
 * an unsigned 32-bit big-endian integer), then the next bytes of its files,
 * one file after the other in the order `start` listed them.
 */
export const UPLOAD_CHUNK_HEADER_BYTES = 4;

/** Client → server: the first frame of a session. `connect` is null for a new instance. */
export interface ConnectMessage {
  readonly kind: 'connect';
  readonly analysisId: string | null;
  /** The `search` part of the page URL, possibly empty. */
  readonly requestArgs: string;
  /** The client applies `__delta` frames (it sent `"__deltas": 1`); false for a 0.7 client. */
  readonly deltas: boolean;
  /** Our addition: the share link to view (`"__share": id`); undefined for the owner's own page. */
  readonly share?: string | undefined;
}

/** Client → server: an action. `hasLoad` is false when the frame has no `load` key. */
export interface ActionMessage {
  readonly kind: 'action';
  readonly signal: string;
  readonly hasLoad: boolean;
  readonly load: unknown;
  /**
   * Our addition: the frame's `"concurrency": "latest"` (a wired slider's),
   * for an action that declares no concurrency; any other value is ignored.
   */
  readonly concurrency: 'latest' | undefined;
}

/** What a `__cancel` names: one call by its `__process_id`, or every call of an action. */
export type CancelTarget =
  | { readonly kind: 'process'; readonly id: string | number }
  | { readonly kind: 'action'; readonly action: string };

/** Client → server (our addition): cancel an action (PROTOCOL.cancelSignal). */
export interface CancelMessage {
  readonly kind: 'cancel';
  readonly target: CancelTarget;
}

/** One file an upload announces: its name, its MIME type (may be empty) and its size in bytes. */
export interface UploadFileInfo {
  readonly name: string;
  readonly type: string;
  readonly size: number;
}

/**
 * Client → server (our addition): start an upload (PROTOCOL.uploadSignal,
 * `op: "start"`). Once every byte has arrived, the action runs with the
 * file (a list of them when `multiple`) as its one argument.
 */
export interface UploadStartMessage {
  readonly kind: 'upload-start';
  /** Chosen by the page, unique among its open uploads (0 to 2^32 - 1). */
  readonly id: number;
  readonly action: string;
  readonly files: readonly UploadFileInfo[];
  /** The handler gets a list of files (an `<input multiple>`), not one file. */
  readonly multiple: boolean;
  /** The `__process_id` of the action run (its `__process` frames), or null. */
  readonly processId: string | number | null;
}

/** Client → server (our addition): drop an upload and every byte of it the server holds. */
export interface UploadCancelMessage {
  readonly kind: 'upload-cancel';
  readonly id: number;
}

/**
 * Client → server (our addition, PROTOCOL.shareSignal): make a share link of
 * this page's session (`expiresMs`: a shorter life than the server's
 * default), or revoke one.
 */
export type ShareMessage =
  | { readonly kind: 'share-create'; readonly expiresMs: number | undefined }
  | { readonly kind: 'share-revoke'; readonly share: string };

/** The longest share id a client frame may name, in characters. */
const MAX_SHARE_ID_CHARS = 64;

/** Every message a client can send as text. */
export type ClientMessage =
  | ConnectMessage
  | ActionMessage
  | CancelMessage
  | UploadStartMessage
  | UploadCancelMessage
  | ShareMessage;

/** Server → client: the load of a `__share` frame (see PROTOCOL.shareSignal). */
export type ShareServerLoad =
  | {
      op: 'created';
      /** The share id: the viewer's page opens with `?__share=<id>`. */
      share: string;
      /** When the link stops working, in ms since the epoch. */
      expires: number;
    }
  | { op: 'revoked'; share: string }
  /** `of`: what was refused, the `create` or the `revoke`. */
  | { op: 'error'; of: 'create' | 'revoke'; message: string };

/** Server → client: the load of an `__upload` frame (see PROTOCOL.uploadSignal). */
export type UploadServerLoad =
  | {
      op: 'ready';
      id: number;
      /** Send the bytes in binary frames of at most this many bytes of data (after the header). */
      chunk_bytes: number;
      /** Keep at most this many bytes sent and not yet acknowledged by a `progress`. */
      window_bytes: number;
    }
  | { op: 'progress'; id: number; received: number }
  | { op: 'done'; id: number }
  | { op: 'error'; id: number; message: string };

/** Server → client: one signal, with or without a load. */
export interface ServerMessage {
  readonly signal: string;
  readonly hasLoad: boolean;
  readonly load: unknown;
}

/** The load of the `__connect` reply, in wire names. */
export interface ConnectReply {
  analysis_id: string;
  databench_backend_version: string;
  analyses_version: string;
  /**
   * Our addition: the largest frame the server reads (`--max-frame-bytes`);
   * a larger one closes the socket with 1009, so the client refuses to send
   * it and says so instead.
   */
  max_frame_bytes?: number;
  /**
   * Our addition, sent only as `false`: the analysis opts out of resuming
   * across loads of the page (index.yaml `resume_on_reload: false`), so the
   * client keeps no id for the next load. A lost connection still resumes.
   */
  resume_on_reload?: false;
  /**
   * Our addition, sent only as `true`: the page connected with a share link
   * and is a read-only viewer (its actions are refused; `analysis_id` is
   * empty: a viewer never learns the owner's id).
   */
  view?: true;
}

/**
 * The load of `__type_errors` (server → client, our addition): the type
 * check of the analyses (`--typecheck`) ended. `text` lists the type errors
 * of `analysis` (`file:line:column - error TS…: …`, one a line), or is null
 * when it has none any more. Each frame replaces the one before; a page also
 * gets one right after the `__connect` reply while its analysis has errors.
 */
export interface TypeErrorsLoad {
  analysis: string;
  text: string | null;
}

/**
 * The load of `__process` frames. Our additions (old clients ignore them):
 * `error: true` on the end frame when a handler threw, `cancelled: true` on
 * the end frame of a cancelled (or dropped) call, `concurrency` on the start
 * frame of an action that is not `queue`, and `status: 'progress'` frames
 * (`action`, `fraction` from 0 to 1, `message`) sent by `this.progress()`.
 */
export interface ProcessLoad {
  id: unknown;
  status: 'start' | 'end' | 'progress';
  error?: true;
  cancelled?: true;
  concurrency?: 'latest' | 'parallel';
  /** Progress frames: the action's name (so `<progress data-process="run">` can follow it). */
  action?: string;
  /** Progress frames: from 0 to 1, or null when unknown. */
  fraction?: number | null;
  /** Progress frames: what the handler is doing. */
  message?: string;
}

/** The load of a `__error` frame: a handler (or timer) failed. */
export interface ErrorLoad {
  /** The action that failed; null for a timer or a datastore assignment. */
  action: string | null;
  /** Where it failed, in words (`action "count"`, `timer`, …). */
  where: string;
  /** `Name: message` of the error. */
  message: string;
  /** `file:line:column` of the user's code (source-mapped); null when error details are off or unknown. */
  location: string | null;
  /**
   * The lines around `location`, numbered, with a `>` mark and a caret (as
   * a load error's `frame`); sent by Python analyses, absent otherwise.
   */
  frame?: string | null;
}

/** The load of a `__load_error` frame: the analysis failed to load. */
export interface LoadErrorLoad {
  analysis: string;
  message: string;
  /** Null when error details are off or unknown. */
  file: string | null;
  line: number | null;
  column: number | null;
  /** The lines around `line`, with a `>` mark and a caret; null when unknown or details are off. */
  frame: string | null;
  /** True when the last good version keeps serving. */
  stale: boolean;
}

/** @internal Whether `value` is an object that is not an array (a frame's load, a spec). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Refuse JSON that nests arrays and objects deeper than `maxDepth`, in one
 * linear pass that allocates nothing: brackets are counted outside strings,
 * and a string is skipped with `indexOf` to its closing quote. A frame of
 * millions of brackets costs a scan, not a parse (a 15.6 MB one
 * would block every page for seconds). Malformed text is left for `JSON.parse`
 * to report.
 */
function assertJsonDepth(text: string, maxDepth: number, who = 'client'): void {
  // nesting deeper than maxDepth takes more than 2 * maxDepth brackets: most
  // frames (actions with small loads) are too short to need the scan
  if (text.length <= 2 * maxDepth) return;
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // a string: find the quote that ends it (one not escaped by an odd run of backslashes)
      let from = i + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q < 0) return;
        let b = q - 1;
        while (b >= from && text.charCodeAt(b) === 0x5c) b--;
        from = q + 1;
        if ((q - 1 - b) % 2 === 0) break;
      }
      i = from - 1;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) {
        throw new ProtocolError(
          `a ${who} frame may nest arrays and objects ${maxDepth} deep at most; this one goes deeper (at character ${i})`,
        );
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
}

function parseJsonObject(text: string, who: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // V8 quotes part of the text in its message: it came from the peer, so escape it
    throw new ProtocolError(
      `malformed JSON in ${who} frame: ${escapeLogText((error as Error).message, 200)}`,
      { cause: error },
    );
  }
  if (!isPlainObject(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value;
    throw new ProtocolError(`a ${who} frame must be a JSON object, got ${got}`);
  }
  return value;
}

/** Options of {@link parseClientMessage}. */
export interface ParseClientOptions {
  /** Deepest nesting of arrays and objects accepted. Default: `PROTOCOL.maxClientJsonDepth` (64). */
  maxDepth?: number;
}

/**
 * The one place the server turns a client frame into a typed message.
 * Throws {@link ProtocolError} for anything docs/reference/protocol.md does not allow,
 * and for a frame nested deeper than `maxDepth` (checked before parsing).
 */
export function parseClientMessage(text: string, options?: ParseClientOptions): ClientMessage {
  assertJsonDepth(text, options?.maxDepth ?? PROTOCOL.maxClientJsonDepth);
  const obj = parseJsonObject(text, 'client');
  if ('__connect' in obj) {
    const id = obj['__connect'];
    if (id !== null && typeof id !== 'string') {
      throw new ProtocolError('"__connect" must be null or an analysis id string');
    }
    const args = obj['__request_args'];
    if (args !== undefined && args !== null && typeof args !== 'string') {
      throw new ProtocolError('"__request_args" must be a string');
    }
    // any truthy value announces deltas: a later client may send a version number
    const deltas = Boolean(obj[PROTOCOL.deltasKey]);
    const share = obj[PROTOCOL.shareKey];
    if (share === undefined || share === null) {
      return { kind: 'connect', analysisId: id, requestArgs: args ?? '', deltas };
    }
    if (typeof share !== 'string' || share.length > MAX_SHARE_ID_CHARS) {
      throw new ProtocolError(
        `"${PROTOCOL.shareKey}" must be a share id string of at most ${MAX_SHARE_ID_CHARS} characters`,
      );
    }
    return { kind: 'connect', analysisId: null, requestArgs: args ?? '', deltas, share };
  }
  const signal = obj['signal'];
  if (typeof signal !== 'string' || signal === '') {
    throw new ProtocolError('an action frame needs a non-empty string "signal"');
  }
  // reserved names start with "__": one comparison for every other action
  if (signal.charCodeAt(0) === 0x5f && signal.charCodeAt(1) === 0x5f) {
    if (signal === PROTOCOL.cancelSignal)
      return { kind: 'cancel', target: cancelTarget(obj['load']) };
    if (signal === PROTOCOL.uploadSignal) return uploadMessage(obj['load']);
    if (signal === PROTOCOL.shareSignal) return shareMessage(obj['load']);
  }
  const hasLoad = 'load' in obj;
  const concurrency = obj['concurrency'] === 'latest' ? 'latest' : undefined;
  return { kind: 'action', signal, hasLoad, load: obj['load'], concurrency };
}

function cancelTarget(load: unknown): CancelTarget {
  if (isPlainObject(load)) {
    const id = load['id'];
    const action = load['action'];
    const name = typeof id === 'string' ? id : typeof action === 'string' ? action : '';
    if (name.length > PROTOCOL.maxCancelTargetChars) {
      throw new ProtocolError(
        `"${PROTOCOL.cancelSignal}" names a process id or an action of at most ${PROTOCOL.maxCancelTargetChars} characters, got ${name.length}`,
      );
    }
    if (typeof id === 'number' || typeof id === 'string') return { kind: 'process', id };
    if (typeof action === 'string' && action !== '') return { kind: 'action', action };
  }
  throw new ProtocolError(
    `"${PROTOCOL.cancelSignal}" needs a load {"id": <process id>} or {"action": "<name>"}`,
  );
}

/** A `__share` frame of a page: `create` or `revoke`. */
function shareMessage(load: unknown): ShareMessage {
  const op = isPlainObject(load) ? load['op'] : undefined;
  if (op === 'create') {
    const ms = (load as Record<string, unknown>)['expires_ms'];
    if (ms === undefined || ms === null) return { kind: 'share-create', expiresMs: undefined };
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
      throw new ProtocolError(
        `"${PROTOCOL.shareSignal}" create: "expires_ms" must be a positive number`,
      );
    }
    return { kind: 'share-create', expiresMs: ms };
  }
  if (op === 'revoke') {
    const share = (load as Record<string, unknown>)['share'];
    if (typeof share !== 'string' || share === '' || share.length > MAX_SHARE_ID_CHARS) {
      throw new ProtocolError(
        `"${PROTOCOL.shareSignal}" revoke needs "share": the id of a link this page made`,
      );
    }
    return { kind: 'share-revoke', share };
  }
  throw new ProtocolError(
    `"${PROTOCOL.shareSignal}" needs a load {"op": "create"} or {"op": "revoke", "share": id}`,
  );
}

const MAX_UPLOAD_ID = 0xffffffff;

function uploadId(load: Record<string, unknown>): number {
  const id = load['id'];
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > MAX_UPLOAD_ID) {
    throw new ProtocolError(
      `"${PROTOCOL.uploadSignal}" needs an "id" that is an integer from 0 to ${MAX_UPLOAD_ID}`,
    );
  }
  return id;
}

function uploadFile(value: unknown, index: number): UploadFileInfo {
  if (isPlainObject(value)) {
    const { name, type, size } = value;
    if (
      typeof name === 'string' &&
      (type === undefined || typeof type === 'string') &&
      typeof size === 'number' &&
      Number.isSafeInteger(size) &&
      size >= 0
    ) {
      return { name, type: type ?? '', size };
    }
  }
  throw new ProtocolError(
    `"${PROTOCOL.uploadSignal}" start: files[${index}] must be {"name": string, "type": string, "size": bytes}`,
  );
}

/** An `__upload` frame of a page: `start` or `cancel`. */
function uploadMessage(load: unknown): UploadStartMessage | UploadCancelMessage {
  if (!isPlainObject(load)) {
    throw new ProtocolError(
      `"${PROTOCOL.uploadSignal}" needs a load {"op": "start" | "cancel", "id": …}`,
    );
  }
  const op = load['op'];
  if (op === 'cancel') return { kind: 'upload-cancel', id: uploadId(load) };
  if (op !== 'start') {
    throw new ProtocolError(
      `"${PROTOCOL.uploadSignal}": unknown op ${JSON.stringify(op) ?? 'undefined'}; expected "start" or "cancel"`,
    );
  }
  const id = uploadId(load);
  const action = load['action'];
  if (typeof action !== 'string' || action === '' || RESERVED_SIGNALS.has(action)) {
    throw new ProtocolError(
      `"${PROTOCOL.uploadSignal}" start needs "action": the name of the analysis's action that gets the file`,
    );
  }
  const files = load['files'];
  if (!Array.isArray(files) || files.length === 0) {
    throw new ProtocolError(`"${PROTOCOL.uploadSignal}" start needs "files": a non-empty list`);
  }
  const multiple = load['multiple'] ?? false;
  if (typeof multiple !== 'boolean') {
    throw new ProtocolError(`"${PROTOCOL.uploadSignal}" start: "multiple" must be true or false`);
  }
  if (!multiple && files.length !== 1) {
    throw new ProtocolError(
      `"${PROTOCOL.uploadSignal}" start: ${files.length} files need "multiple": true`,
    );
  }
  const processId = load[PROTOCOL.processIdKey] ?? null;
  if (processId !== null && typeof processId !== 'string' && typeof processId !== 'number') {
    throw new ProtocolError(
      `"${PROTOCOL.uploadSignal}" start: "${PROTOCOL.processIdKey}" must be a number or a string`,
    );
  }
  return {
    kind: 'upload-start',
    id,
    action,
    files: files.map(uploadFile),
    multiple,
    processId,
  };
}

/** The one place the client turns a server frame into a typed message. */
export function parseServerMessage(text: string): ServerMessage {
  const obj = parseJsonObject(text, 'server');
  const signal = obj['signal'];
  if (typeof signal !== 'string') {
    throw new ProtocolError('a server frame needs a string "signal"');
  }
  const hasLoad = 'load' in obj;
  return { signal, hasLoad, load: obj['load'] };
}

/**
 * A frame from a signal and an already encoded load (see {@link encodeValue}).
 * With `encodedLoad` undefined the frame has no `load` key.
 */
export function frameFromEncoded(signal: string, encodedLoad?: string): string {
  const head = '{"signal":' + quoted(signal);
  return encodedLoad === undefined ? head + '}' : head + ',"load":' + encodedLoad + '}';
}

/**
 * `JSON.stringify(name)` for a signal or key: a short name with nothing to
 * escape (most are) is quoted as it is, without the encoder's set-up.
 */
function quoted(name: string): string {
  const n = name.length;
  if (n > 64) return JSON.stringify(name);
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    // control characters, `"`, `\` and surrogates (a lone one is escaped) take the encoder
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) {
      return JSON.stringify(name);
    }
  }
  return '"' + name + '"';
}

/**
 * An action frame asking to run as a `latest` call (our addition; a 0.7
 * server ignores the key): `{"signal":…,"load":…,"concurrency":"latest"}`.
 */
export function latestActionFrame(signal: string, encodedLoad?: string): string {
  return frameFromEncoded(signal, encodedLoad).slice(0, -1) + ',"concurrency":"latest"}';
}

/**
 * A `data` / `class_data` frame for one key whose value is already encoded:
 * no value is encoded again.
 */
export function keyFrameFromEncoded(signal: string, key: string, encodedValue: string): string {
  return '{"signal":' + quoted(signal) + ',"load":{' + quoted(key) + ':' + encodedValue + '}}';
}

/** One member of a store frame's load, its value already encoded: `"key":value`. */
export function keyMember(key: string, encodedValue: string): string {
  return quoted(key) + ':' + encodedValue;
}

/**
 * A `data`, `class_data` or `user_data` frame of several keys (a snapshot),
 * from their {@link keyMember}s.
 */
export function storeFrameFromMembers(signal: string, members: readonly string[]): string {
  return frameFromEncoded(signal, '{' + members.join(',') + '}');
}

/** The constructor of parsed query objects: its prototype has no prototype. */
function ParsedQuery(): void {}
ParsedQuery.prototype = Object.create(null) as object;

/**
 * Python's `urllib.parse.parse_qs`: every value is a list; keys given with an
 * empty value are left out; `+` is a space. A leading `?` is ignored.
 *
 * @example parseQs('?a=1&a=2&b=') // { a: ['1', '2'] }
 */
export function parseQs(search: string): Record<string, string[]> {
  // no inherited keys, yet a fast object (Object.create(null) starts as a slow
  // dictionary, costly per session); `__proto__` is defined as an own key
  const out = new (ParsedQuery as unknown as new () => Record<string, string[]>)();
  const text = search.startsWith('?') ? search.slice(1) : search;
  if (text === '') return out;
  // like Python >= 3.9.2: only `&` separates fields
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) continue; // parse_qs drops fields without "=" (strict_parsing=False)
    const key = decodeComponent(part.slice(0, eq));
    const value = decodeComponent(part.slice(eq + 1));
    if (value === '') continue;
    const list = Object.hasOwn(out, key) ? out[key] : undefined;
    if (list) list.push(value);
    else
      Object.defineProperty(out, key, {
        value: [value],
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
  return out;
}

const utf8 = new TextDecoder();

function decodeComponent(s: string): string {
  const spaced = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    // like parse_qs: a malformed escape stays as it is, every run of valid
    // escapes is still decoded (bytes that are not UTF-8 become U+FFFD)
    return spaced.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) =>
      utf8.decode(Uint8Array.from(run.slice(1).split('%'), (hex) => parseInt(hex, 16))),
    );
  }
}
