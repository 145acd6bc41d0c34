export { Datastore } from './datastore.js';
export type { DataProxy, DatastoreOptions, EncodedListener } from './datastore.js';
export { MemoryBackend, defaultBackend } from './backend.js';
export type { AttachOptions, BackendEvent, DatastoreBackend, DetachOptions } from './backend.js';
export { Change } from './change.js';
