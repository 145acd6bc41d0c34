/**
 * The wire protocol of PROTOCOL.md: message types, the one parser per side,
 * the encoder and the constants. Shared by server, client and kernels.
 */
export { DatabenchError, ProtocolError } from './errors.js';
export { encodeValue } from './encode.js';
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
  ClientMessage,
  ConnectMessage,
  ConnectReply,
  ProcessLoad,
  ServerMessage,
} from './messages.js';
