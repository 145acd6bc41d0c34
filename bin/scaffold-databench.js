#!/usr/bin/env node
// Alias of `databench new NAME`, like the original's scaffold-databench.
process.argv.splice(2, 0, 'new');
await import('./databench.js');
