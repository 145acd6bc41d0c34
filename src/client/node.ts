/**
 * `databench-ts/client` as Node resolves it (the `node` export condition): the
 * client for Node (scripts, tests, notebooks). Node 20 has no global
 * WebSocket, so this entry makes `ws` the default implementation when it
 * loads; everything else is the browser entry's.
 *
 * @example
 * import { attach } from 'databench-ts/client';
 * const c = await attach('ws://localhost:5000/dummypi/ws');
 * c.emit('run');
 */
import { WebSocket } from 'ws';
import { setDefaultWebSocket } from './websocket.js';

setDefaultWebSocket(WebSocket);

export * from './index.js';
