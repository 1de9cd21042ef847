#!/usr/bin/env node
// The `edge-relay` command: runs the compiled entry point (built by `npm run build`, run on `npm ci`).
await import('../dist/main.js');
