/**
 * The wire protocol of docs/reference/protocol.md: message types, the one parser per side,
 * the encoder and the constants. Shared by server, client and kernels.
 */
export { DatabenchError, ProtocolError } from './errors.js';
export type { DatabenchErrorCode } from './errors.js';
export { encodeValue } from './encode.js';
export { applyDelta, deltaFrame } from './delta.js';
export type { DeltaKind, DeltaLoad, PatchOperation, StoreSignal } from './delta.js';
export {
  PROTOCOL,
  RESERVED_SIGNALS,
  UPLOAD_CHUNK_HEADER_BYTES,
  parseClientMessage,
  parseServerMessage,
  frameFromEncoded,
  keyFrameFromEncoded,
  latestActionFrame,
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
  TypeErrorsLoad,
  ProcessLoad,
  ServerMessage,
  ShareMessage,
  ShareServerLoad,
  UploadCancelMessage,
  UploadFileInfo,
  UploadServerLoad,
  UploadStartMessage,
} from './messages.js';
