/**
 * `databench-ts/client`: the browser (and Node) client. Browser-safe: it uses
 * `globalThis.WebSocket` unless another implementation is injected. Node
 * resolves this entry through its `node` export condition to `./node.js`,
 * which injects `ws` (Node 20 has no global WebSocket).
 *
 * @example
 * import { Connection, ui } from 'databench-ts/client';
 * const databench = ui.wire(new Connection());
 * databench.connect();
 */
import * as ui from './ui/index.js';

/** The widgets of pages without a framework; `ui.wire(connection)` wires them all. */
export { ui };
export {
  Connection,
  CONNECTION_DEFAULTS,
  SHARE_PARAM,
  attach,
  connect,
  guessWSUrl,
  resolveConnectionOptions,
} from './connection.js';
export type {
  ClientConsole,
  ConnectionOptions,
  OnceOptions,
  ProcessStatus,
  ResolvedConnectionOptions,
  ShareLink,
  SignalPattern,
} from './connection.js';
export type {
  ActionName,
  ActionParams,
  ClassDataKey,
  ClassDataOf,
  DataKey,
  DataOf,
  EmitArgs,
  LoadFor,
  ProcessIdField,
  SignalValue,
  UserDataKey,
  UserDataOf,
} from './contract.js';
export type { Upload, UploadOptions, UploadSource } from './upload.js';
export { setDefaultWebSocket } from './websocket.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket.js';
export { DatabenchError, ProtocolError } from '../protocol/index.js';
export type { ConnectReply, DatabenchErrorCode, ProcessLoad } from '../protocol/index.js';
