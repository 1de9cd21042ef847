// Real nginx / HAProxy processes in front of relay instances, configured from the templates in infra/ with
// the same renderer users run (infra/render.mjs).
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, type LoadBalancerKind, renderConfig } from '../../infra/render.mjs';
import { freePort } from './ports.js';
import { exited, track, waitFor } from './processes.js';

export type { Backend, LoadBalancerKind };

/** The command that runs each kind (for toolAvailable). */
export const LB_COMMAND: Record<LoadBalancerKind, string> = { haproxy: 'haproxy', nginx: 'nginx' };

export interface RenderedConfig {
  kind: LoadBalancerKind;
  /** Working directory: config, pid file, logs, temp files, stats socket. */
  dir: string;
  configPath: string;
  /** HAProxy only: the admin socket. */
  statsSocket: string;
}

/**
 * Renders the kind's template into `dir` (a new temp dir by default) with every path kept inside it, so
 * the process needs nothing outside the directory.
 */
export function renderInto(
  kind: LoadBalancerKind,
  backends: Backend[],
  listen: string,
  dir = mkdtempSync(join(tmpdir(), `edge-relay-${kind}-`)),
): RenderedConfig {
  // nginx workers run as an unprivileged user when nginx is started as root: they must reach the temp dirs.
  chmodSync(dir, 0o755);
  const statsSocket = join(dir, 'stats.sock');
  const text =
    kind === 'haproxy'
      ? renderConfig('haproxy', { backends, listen, statsSocket })
      : renderConfig('nginx', {
          backends,
          listen,
          workerProcesses: '1',
          pidFile: join(dir, 'nginx.pid'),
          errorLog: join(dir, 'error.log'),
          // LB_DEBUG=1 keeps an access log (which relay served each request) for output().
          accessLog: process.env.LB_DEBUG ? join(dir, 'access.log') : 'off',
          tempDir: dir,
        });
  const configPath = join(dir, kind === 'haproxy' ? 'haproxy.cfg' : 'nginx.conf');
  writeFileSync(configPath, text);
  return { kind, dir, configPath, statsSocket };
}

/** The command line that checks a rendered config without starting anything (`haproxy -c`, `nginx -t`). */
export function checkCommand(rendered: RenderedConfig): [string, string[]] {
  return rendered.kind === 'haproxy'
    ? ['haproxy', ['-c', '-f', rendered.configPath]]
    : ['nginx', ['-t', '-p', rendered.dir, '-c', rendered.configPath, '-e', join(rendered.dir, 'error.log')]];
}

export interface LoadBalancer extends RenderedConfig {
  port: number;
  /** The public URL clients connect to. */
  url: string;
  /** The last 64 KiB the process printed (HAProxy logs requests on stdout) and, for nginx, its error log. */
  output(): string;
  /** HAProxy only: the state of each server of the `relay` backend (`UP`, `DOWN`, `UP 1/2`, `MAINT`...). */
  serverStates(): Promise<Map<string, string>>;
  /** HAProxy only: waits until the stats socket reports `name` as UP. */
  waitServerUp(name: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `haproxy` or `nginx` in the foreground on a free loopback port; resolves once it answers. */
export async function startLoadBalancer(kind: LoadBalancerKind, backends: Backend[]): Promise<LoadBalancer> {
  const port = await freePort();
  const rendered = renderInto(kind, backends, `127.0.0.1:${port}`);
  const [command, args] =
    kind === 'haproxy'
      ? ['haproxy', ['-f', rendered.configPath, '-db']]
      : [
          'nginx',
          [
            '-p',
            rendered.dir,
            '-c',
            rendered.configPath,
            '-e',
            join(rendered.dir, 'error.log'),
            '-g',
            'daemon off;',
          ],
        ];
  const child = track(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-65_536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited(child);
      clearTimeout(timer);
    }
    rmSync(rendered.dir, { recursive: true, force: true });
  };

  try {
    await waitFor(`${kind} answering on port ${port}`, async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${kind} exited with ${child.exitCode ?? child.signalCode}: ${output.trim()}`);
      }
      try {
        return (await fetch(`${url}/lb-health`)).status === 200;
      } catch {
        return false;
      }
    });
  } catch (err) {
    await stop();
    throw err;
  }

  const serverStates = async () => {
    if (kind !== 'haproxy') throw new Error('serverStates: only HAProxy has a stats socket');
    const csv = await socketCommand(rendered.statsSocket, 'show stat');
    const lines = csv.split('\n').filter((line) => line.length > 0);
    const header = (lines.shift() ?? '').replace(/^# /, '').split(',');
    const [proxy, server, status] = ['pxname', 'svname', 'status'].map((name) => header.indexOf(name)) as [
      number,
      number,
      number,
    ];
    const states = new Map<string, string>();
    for (const line of lines) {
      const fields = line.split(',');
      const name = fields[server] ?? '';
      if (fields[proxy] === 'relay' && name !== 'BACKEND') states.set(name, fields[status] ?? '');
    }
    return states;
  };

  return {
    ...rendered,
    port,
    url,
    output: () => {
      if (kind !== 'nginx') return output;
      const files = ['error.log', 'access.log'].map((name) => {
        try {
          return readFileSync(join(rendered.dir, name), 'utf8').slice(-262_144);
        } catch {
          return '';
        }
      });
      return output + files.join('');
    },
    serverStates,
    async waitServerUp(name, timeoutMs = 10_000) {
      await waitFor(
        `${kind} to see ${name} UP`,
        async () => (await serverStates()).get(name) === 'UP',
        timeoutMs,
      );
    },
    stop,
  };
}

/** Sends one command to HAProxy's admin socket and resolves with the whole answer. */
function socketCommand(path: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = createConnection({ path }, () => socket.end(`${command}\n`));
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no answer to "${command}" on ${path}`)));
    socket.on('data', (chunk) => {
      answer += chunk;
    });
    socket.once('error', reject);
    socket.once('close', () => resolve(answer));
  });
}
