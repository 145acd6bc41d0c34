/**
 * The wire protocol of docs/reference/protocol.md: message types, the one parser per side,
 * the encoder and the constants. Shared by server, client and kernels.
 */
export { DatabenchError, ProtocolError } from './errors.js';
export type { DatabenchErrorCode } from './errors.js';
export { encodeValue } from './encode.js';
export { applyDelta, deltaFrame } from './delta.js';
export type { DeltaKind, DeltaLoad, PatchOperation } from './delta.js';
export {
  PROTOCOL,
  parseClientMessage,
  parseServerMessage,
  frameFromEncoded,
  keyFrameFromEncoded,
  parseQs,
} from './messages.js';
export type {
  ActionMessage,
  CancelMessage,
  CancelTarget,
  ClientMessage,
  ConnectMessage,
  ConnectReply,
  ErrorLoad,
  LoadErrorLoad,
  ProcessLoad,
  ServerMessage,
} from './messages.js';
