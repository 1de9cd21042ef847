// `npm run test:unit`: every test/unit/*.test.ts in this one process. `node --test` starts a process per
// file, and loading tsx, Socket.IO and Fastify again for each costs more than the tests themselves; the
// unit tier stays within seconds this way. One file alone still runs with `node --import tsx --test <file>`.
//
// The tier's contract, enforced here: no child processes and no network. Both are refused before any test
// file loads, so a test that starts a process or opens a socket fails at once, naming what it tried; it
// belongs in test/component/ (real Redis, in process) or test/e2e/ (processes). Fastify's inject() and
// fakes of a client interface need neither.
import childProcess from 'node:child_process';
import { readdirSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

function refuse(what: string): never {
  throw new Error(
    `the unit tier starts no process and opens no socket (${what}): move this test to test/component/ or test/e2e/`,
  );
}

const processApis = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const;
for (const name of processApis) {
  Object.defineProperty(childProcess, name, { value: () => refuse(`child_process.${name}`), writable: true });
}
net.Server.prototype.listen = () => refuse('listen');
net.Socket.prototype.connect = () => refuse('connect');
// `import { spawn } from 'node:child_process'` binds the ESM exports, which are synced from the object above.
syncBuiltinESMExports();

const here = new URL('./', import.meta.url);
const files = readdirSync(here)
  .filter((name) => name.endsWith('.test.ts'))
  .sort();
for (const name of files) await import(new URL(name, here).href);
