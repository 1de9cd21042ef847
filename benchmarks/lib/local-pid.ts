// The pid of the local process listening on a TCP port, from /proc (Linux), so --compare can read the
// server's RSS when the URL it was given is on this machine. Undefined when not found or not ours to see.
import { readdir, readFile, readlink } from 'node:fs/promises';

/** Socket inodes of TCP listeners (state 0A) on `port`, from /proc/net/tcp and tcp6. */
async function listenerInodes(port: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      if (!local || f[3] !== '0A') continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.add(f[9] as string);
    }
  }
  return inodes;
}

export async function listeningPid(port: number): Promise<number | undefined> {
  const inodes = await listenerInodes(port);
  if (inodes.size === 0) return undefined;
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode && inodes.has(inode)) return Number(pid);
    }
  }
  return undefined;
}
