// Redis under Sentinel: a master, a replica and a sentinel, all real processes. Two relays follow the
// master through the sentinel; the master is killed during traffic, and cross-instance delivery resumes
// on the promoted replica by itself.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ask, client, closeClients, collect } from '../helpers/clients.js';
import { publishThroughFailover } from '../helpers/failover.js';
import { freePort } from '../helpers/ports.js';
import { track, waitFor } from '../helpers/processes.js';
import { type RedisServer, redisCommand, startRedis } from '../helpers/redis.js';
import { type RelayProcess, startRelay } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

describe('Redis Sentinel failover', () => {
  let master: RedisServer | undefined;
  let replicaPort: number;
  let sentinelPort: number;
  let a: RelayProcess;
  let b: RelayProcess;
  const stops: Array<() => void> = [];

  before(async () => {
    if (!toolAvailable('redis-server')) return;
    master = await startRedis();
    replicaPort = await freePort();
    const replica = track(
      spawn(
        'redis-server',
        [
          '--port',
          String(replicaPort),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          tmpdir(),
          '--replicaof',
          '127.0.0.1',
          String(master.port),
        ],
        { stdio: 'ignore' },
      ),
    );
    stops.push(() => replica.kill('SIGKILL'));
    await waitFor(
      'replica in sync',
      async () =>
        String(await redisCommand(replicaPort, ['INFO', 'replication'])).includes('master_link_status:up'),
      15_000,
    );
    sentinelPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'relay-sentinel-'));
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor relaymaster 127.0.0.1 ${master.port} 1`,
        'sentinel down-after-milliseconds relaymaster 1000',
        'sentinel failover-timeout relaymaster 5000',
        '',
      ].join('\n'),
    );
    const sentinel = track(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
    stops.push(() => sentinel.kill('SIGKILL'));
    await waitFor(
      'the sentinel to know the replica',
      async () => {
        const replicas = (await redisCommand(sentinelPort, ['SENTINEL', 'replicas', 'relaymaster'])) as
          | unknown[]
          | undefined;
        return Array.isArray(replicas) && replicas.length === 1;
      },
      20_000,
    );
    const common = ['--redis-sentinel', `127.0.0.1:${sentinelPort}`, '--redis-sentinel-name', 'relaymaster'];
    [a, b] = await Promise.all([
      startRelay([...common, '--instance-id', 'A']),
      startRelay([...common, '--instance-id', 'B', '--transport', 'ws']),
    ]);
  });
  after(async () => {
    closeClients();
    await a?.stop('SIGKILL');
    await b?.stop('SIGKILL');
    for (const stop of stops) stop();
    await master?.stop();
  });

  test('the master is killed during traffic: the relays follow the promoted replica and delivery resumes', async (t) => {
    if (!master) return t.skip('redis-server is not installed');
    const alice = await client(a.url);
    const bob = await client(b.url, { transports: ['websocket'] });
    await ask(alice, 'join', 'room');
    await ask(bob, 'join', 'room');
    const atBob = collect<number>(bob, 'n');
    const traffic = await publishThroughFailover(alice, atBob, () => (master as RedisServer).stop(), 30_000);
    await waitFor(
      'relay A ready again',
      async () => (await fetch(`${a.adminUrl}/readyz`)).status === 200,
      15_000,
    );
    console.log(
      `# sentinel failover: cross-instance delivery resumed ${traffic.resumedMs} ms after kill -9 of the master; ${traffic.refused} publishes refused meanwhile (RLY_ERR_CLUSTER), ${traffic.lost.length} acked publishes lost`,
    );
    const promoted = (await redisCommand(sentinelPort, [
      'SENTINEL',
      'get-master-addr-by-name',
      'relaymaster',
    ])) as string[];
    assert.equal(Number(promoted[1]), replicaPort, 'the sentinel promoted the replica');
  });
});
