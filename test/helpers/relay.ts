import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { exited, track } from './processes.js';

export const BIN = fileURLToPath(new URL('../../bin/edge-relay.js', import.meta.url));

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
export function startRelay(args: string[] = [], env: Record<string, string> = {}): Promise<RelayProcess> {
  const child = track(
    spawn(
      process.execPath,
      [BIN, 'start', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', ...args],
      {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  );
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
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
        if (entry.msg === 'listening') {
          const port = entry.port as number;
          const adminPort = entry.adminPort as number;
          resolve({
            child,
            port,
            adminPort,
            url: `http://127.0.0.1:${port}`,
            adminUrl: `http://127.0.0.1:${adminPort}`,
            logs,
            exited: () => exited(child),
            async stop(signal: NodeJS.Signals = 'SIGTERM') {
              if (child.exitCode === null && child.signalCode === null) child.kill(signal);
              return exited(child);
            },
          });
        }
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`relay exited with ${code} before listening: ${stderr.trim()}`)),
    );
    setTimeout(() => reject(new Error(`relay did not listen within 15 s: ${stderr.trim()}`)), 15_000).unref();
  });
}

/** Sets `--port` for a relay that must come back on the same port after a restart. */
export function onPort(port: number, args: string[]): string[] {
  return [...args, '--port', String(port)];
}
