#!/usr/bin/env node
// databench 0.7's scaffold-databench NAME: a Python analysis in 0.7's layout
// (`databench new NAME` is the TypeScript-first scaffold).
process.argv.splice(2, 0, 'scaffold-databench');
await import('./databench.js');
