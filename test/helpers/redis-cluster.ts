import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { exited, track, waitFor } from './processes.js';
import { redisCommand } from './redis.js';

export interface RedisClusterNodes {
  /** `host:port` of every node, masters first. */
  addresses: string[];
  ports: number[];
  /** Kills the node on `port` (kill -9). */
  kill(port: number): Promise<void>;
  /** The port of the master that serves `key`'s slot now. */
  masterOf(key: string): Promise<number>;
  stop(): Promise<void>;
}

/**
 * A real Redis Cluster on loopback: `masters` masters with one replica each, joined by
 * `redis-cli --cluster create`, with a 1 s node timeout so a dead master fails over quickly.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterNodes> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-redis-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < masters * 2; i++) ports.push(await freePort());
  const children = new Map(
    ports.map((port) => [
      port,
      track(
        spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--save',
            '',
            '--appendonly',
            'no',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
            '--cluster-node-timeout',
            '1000',
            '--dir',
            dir,
            '--repl-diskless-sync-delay',
            '0',
          ],
          { stdio: 'ignore' },
        ),
      ),
    ]),
  );
  const addresses = ports.map((port) => `127.0.0.1:${port}`);
  for (const port of ports) await waitFor(`cluster node ${port}`, () => ping(port));
  const created = spawnSync(
    'redis-cli',
    ['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes'],
    {
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  if (created.status !== 0)
    throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
  await waitFor(
    'cluster state ok on every node',
    async () => {
      for (const port of ports)
        if (!String(await redisCommand(port, ['CLUSTER', 'INFO'])).includes('cluster_state:ok')) return false;
      return true;
    },
    20_000,
  );
  // A replica that has not synced yet cannot take over: wait for every link to be up.
  await waitFor(
    'every replica in sync',
    async () => {
      let synced = 0;
      for (const port of ports) {
        if (String(await redisCommand(port, ['INFO', 'replication'])).includes('master_link_status:up'))
          synced++;
      }
      return synced === masters;
    },
    20_000,
  );
  return {
    addresses,
    ports,
    async kill(port) {
      const child = children.get(port);
      child?.kill('SIGKILL');
      if (child) await exited(child);
    },
    async masterOf(key) {
      for (const port of ports) {
        const reply = await redisCommand(port, ['CLUSTER', 'KEYSLOT', key]);
        if (reply === undefined) continue;
        const slots = (await redisCommand(port, ['CLUSTER', 'SLOTS'])) as Array<
          [number, number, [string, number]]
        >;
        const range = slots.find(([from, to]) => Number(reply) >= from && Number(reply) <= to);
        if (range) return Number(range[2][1]);
      }
      throw new Error(`no live node knows the slot of ${key}`);
    },
    async stop() {
      for (const child of children.values()) child.kill('SIGKILL');
      await Promise.all([...children.values()].map((child) => exited(child)));
    },
  };
}

async function ping(port: number): Promise<boolean> {
  return (await redisCommand(port, ['PING'])) === 'PONG';
}
