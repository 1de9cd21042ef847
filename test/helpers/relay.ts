import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exited, track } from './processes.js';

export const BIN = fileURLToPath(new URL('../../bin/edge-relay.js', import.meta.url));
/** The Node flags of the relay command's first line (and the Dockerfile's), for launchers that run `node BIN`. */
export const NODE_FLAGS = ['--no-memory-reducer'];

/** Writes a `--config` file (JSON) into a fresh temporary folder; returns its path. */
export function writeConfig(config: object): string {
  const file = join(mkdtempSync(join(tmpdir(), 'relay-config-')), 'relay.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

/** A server process that printed its JSON "listening" log line. */
export interface Listening {
  child: ChildProcess;
  port: number;
  /** Absent for servers without an admin port. */
  adminPort: number | undefined;
  /** Every JSON log line printed so far (only the latest `maxLogs` when set). */
  logs: Array<Record<string, unknown>>;
}

/**
 * Runs `node <nodeArgs>` and resolves once it logs `{"msg":"listening","port":…}` (the relay's format,
 * which the benchmark's seed server follows too); the process is tracked so it never outlives the run.
 */
export function spawnListening(
  name: string,
  nodeArgs: string[],
  opts: { env?: Record<string, string>; maxLogs?: number; timeoutMs?: number } = {},
): Promise<Listening> {
  const child = track(
    spawn(process.execPath, nodeArgs, {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (chunk) => {
      buffered += chunk;
      let nl = buffered.indexOf('\n');
      while (nl !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line);
        } catch {
          continue;
        }
        logs.push(entry);
        if (opts.maxLogs !== undefined && logs.length > opts.maxLogs)
          logs.splice(0, logs.length - opts.maxLogs);
        if (entry.msg === 'listening') {
          resolve({
            child,
            port: entry.port as number,
            adminPort: entry.adminPort as number | undefined,
            logs,
          });
        }
      }
    });
    // A failed start is logged as JSON on stdout ("start failed" with its error), not on stderr.
    const why = () => [stderr.trim(), ...logs.slice(-3).map((l) => JSON.stringify(l))].join(' ');
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before listening: ${why()}`)));
    const timeoutMs = opts.timeoutMs ?? 15_000;
    setTimeout(
      () => reject(new Error(`${name} did not listen within ${timeoutMs} ms: ${why()}`)),
      timeoutMs,
    ).unref();
  });
}

export interface RelayProcess {
  child: ChildProcess;
  port: number;
  adminPort: number;
  url: string;
  adminUrl: string;
  /** Every JSON log line the relay printed so far. */
  logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code once the relay exits by itself. */
  exited(): Promise<number | string>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Runs the real `edge-relay start` CLI on loopback and waits for its "listening" log line. */
export async function startRelay(
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<RelayProcess> {
  const { child, port, adminPort, logs } = await spawnListening(
    'relay',
    [...NODE_FLAGS, BIN, 'start', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', ...args],
    { env },
  );
  return {
    child,
    port,
    adminPort: adminPort as number,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    logs,
    exited: () => exited(child),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited(child);
    },
  };
}
