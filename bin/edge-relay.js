#!/usr/bin/env -S node --no-memory-reducer
// The `edge-relay` command: runs the compiled entry point (built by `npm run build`, run on `npm ci`).
// --no-memory-reducer: V8's memory reducer, after a full GC, runs up to three more to shrink the heap of
// a process it thinks idle, each a 9-32 ms pause in the middle of live traffic; on uWS, where fan-out
// allocates little, those pauses set the cross-instance p99 (docs/performance.md). The Dockerfile and the
// test and benchmark launchers pass the same flag (NODE_FLAGS in test/helpers/relay.ts).
await import('../dist/main.js');
