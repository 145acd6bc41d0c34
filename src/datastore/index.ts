export { Datastore } from './datastore.js';
export type { DataProxy, DatastoreOptions, EncodedListener, ListItem } from './datastore.js';
export type { Delta } from './change.js';
export { MemoryBackend } from './backends/memory.js';
export { defaultBackend } from './default-backend.js';
export type { AttachOptions, BackendEvent, DatastoreBackend, DetachOptions } from './backend.js';
export { Change } from './change.js';
