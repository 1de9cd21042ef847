// Redis under Sentinel: a master, a replica and a sentinel, all real processes. Two relays follow the
// master through the sentinel; the master is killed during traffic, and cross-instance delivery resumes
// on the promoted replica by itself.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'redis';
import { ask, client, closeClients, collect } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { track, waitFor } from '../helpers/processes.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { type RelayProcess, startRelay } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

async function info(port: number, command: string[]): Promise<unknown> {
  const c = createClient({ socket: { port, host: '127.0.0.1', reconnectStrategy: false } });
  c.on('error', () => {});
  try {
    await c.connect();
    return await c.sendCommand(command);
  } catch {
    return undefined;
  } finally {
    if (c.isOpen) await c.disconnect();
  }
}

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
      async () => String(await info(replicaPort, ['INFO', 'replication'])).includes('master_link_status:up'),
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
        const replicas = (await info(sentinelPort, ['SENTINEL', 'replicas', 'relaymaster'])) as
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
    const acked: number[] = [];
    let refused = 0;
    let n = 0;
    let killedAt = 0;
    let sentBeforeKill = 0;
    const publishing = (async () => {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        n++;
        const reply = await alice
          .timeout(2_000)
          .emitWithAck('publish', { room: 'room', event: 'n', data: n })
          .catch(() => ({ ok: false }));
        if (reply.ok) acked.push(n);
        else refused++;
        // Resumed: a message published after the kill has crossed to the other instance.
        if (killedAt && atBob.some((m) => m > sentBeforeKill)) return;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await waitFor('traffic before the failover', () => atBob.length >= 10);
    sentBeforeKill = n;
    killedAt = Date.now();
    await master.stop();
    await publishing;
    const resumedMs = Date.now() - killedAt;
    await waitFor(
      'relay A ready again',
      async () => (await fetch(`${a.adminUrl}/readyz`)).status === 200,
      15_000,
    );
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(atBob, [...new Set(atBob)], 'no duplicates');
    assert.deepEqual(
      atBob,
      [...atBob].sort((p, q) => p - q),
      'in order',
    );
    const lost = acked.filter((m) => !atBob.includes(m));
    assert.ok(
      acked.at(-1) !== undefined && atBob.includes(acked.at(-1) as number),
      'publishes after the failover are delivered across instances',
    );
    console.log(
      `# sentinel failover: cross-instance delivery resumed ${resumedMs} ms after kill -9 of the master; ${refused} publishes refused meanwhile (RLY_ERR_CLUSTER), ${lost.length} acked publishes lost`,
    );
    const promoted = (await info(sentinelPort, [
      'SENTINEL',
      'get-master-addr-by-name',
      'relaymaster',
    ])) as string[];
    assert.equal(Number(promoted[1]), replicaPort, 'the sentinel promoted the replica');
  });
});
