import type { DatastoreBackend } from './backend.js';
import { MemoryBackend } from './backends/memory.js';

/** The process-wide memory backend every Datastore uses unless told otherwise. */
export const defaultBackend = new MemoryBackend();

let current: DatastoreBackend = defaultBackend;

/** The backend a Datastore uses when its options name none. */
export function getDefaultBackend(): DatastoreBackend {
  return current;
}

/**
 * @internal Make `backend` the default of this thread. A kernel thread points
 * it at the server's backend (through the kernel boundary), so an unchanged
 * analysis class shares `data` and `classData` with the server.
 */
export function setDefaultBackend(backend: DatastoreBackend): void {
  current = backend;
}
