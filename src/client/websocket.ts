import { DatabenchError } from '../protocol/index.js';

// Handlers are compared bivariantly, so both the DOM WebSocket and `ws`
// (whose events are richer types) satisfy the interfaces below.
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/** The part of the WebSocket API the client uses (the DOM one and `ws` both fit). */
export interface WebSocketLike {
  readonly readyState: number;
  /** Send one frame: text for a string, binary for bytes (upload chunks). */
  send(data: string | Uint8Array): void;
  /** Close with an optional code and reason. */
  close(code?: number, reason?: string): void;
  /** The socket opened. */
  onopen: Handler<unknown> | null;
  /** A frame arrived. */
  onmessage: Handler<{ data: unknown }> | null;
  /** The socket closed, with its code and reason. */
  onclose: Handler<{ code: number; reason: string }> | null;
  /** The socket failed (a close follows). */
  onerror: Handler<unknown> | null;
}

/** A WebSocket class: `globalThis.WebSocket` in a browser, `WebSocket` from `ws` in Node. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** `readyState` of an open socket (the same in every implementation). */
export const WS_OPEN = 1;

let defaultWebSocket: WebSocketConstructor | undefined;

/**
 * Set the WebSocket class that connections use when none is passed in their
 * options. `databench-ts/client` under Node (its `node` export condition) calls
 * this with `ws` when it loads.
 *
 * @example
 * import WebSocket from 'ws';
 * setDefaultWebSocket(WebSocket);
 */
export function setDefaultWebSocket(ctor: WebSocketConstructor | undefined): void {
  defaultWebSocket = ctor;
}

/** The WebSocket class to use: the given one, else the default, else the global one. */
export function resolveWebSocket(ctor?: WebSocketConstructor): WebSocketConstructor {
  const found =
    ctor ?? defaultWebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (found === undefined) {
    throw new DatabenchError(
      'NO_WEBSOCKET',
      'no WebSocket implementation: in Node 20 import the client as "databench-ts/client" with ' +
        'Node\'s own resolution (its "node" export condition uses the "ws" package), ' +
        'or pass one: new Connection(url, args, id, { WebSocket })',
    );
  }
  return found;
}
