// What eager session persistence costs Redis, per connection: memory, and commands at connect + join and
// per refresh period. Usage: node --import tsx benchmarks/session-cost.ts [connections] (default 2000).
import { createClient } from 'redis';
import { ask, client, closeClients } from '../test/helpers/clients.js';
import { startRedis } from '../test/helpers/redis.js';
import { startRelay } from '../test/helpers/relay.js';

const connections = Number(process.argv[2] ?? 2000);
const recoveryWindowMs = 20_000; // refresh period = min(30 s, window / 2) = 10 s

const redis = await startRedis();
const probe = createClient({ url: redis.url });
await probe.connect();
const relay = await startRelay(['--redis-url', redis.url, '--recovery-window', String(recoveryWindowMs)]);

async function snapshot() {
  const memory = Number(/used_memory:(\d+)/.exec(await probe.info('memory'))?.[1]);
  const stats = await probe.info('commandstats');
  const calls = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  return {
    memory,
    set: calls('set'),
    del: calls('del'),
    sessionKeys: (await probe.keys('relay:session:*')).length,
  };
}

try {
  const before = await snapshot();
  for (let i = 0; i < connections; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, connections - i) }, () =>
        client(relay.url, { transports: ['websocket'] }),
      ),
    );
    await Promise.all(
      batch.map(async (s, j) => {
        await ask(s, 'join', `room-${(i + j) % 50}`);
        await ask(s, 'join', 'everyone');
      }),
    );
  }
  await new Promise((r) => setTimeout(r, 500));
  const connected = await snapshot();
  await new Promise((r) => setTimeout(r, recoveryWindowMs / 2 + 1000));
  const refreshed = await snapshot();
  const result = {
    connections,
    sessionKeys: connected.sessionKeys,
    redisBytesPerConnection: Math.round((connected.memory - before.memory) / connections),
    setCommandsPerConnectionAtConnectAndTwoJoins: +((connected.set - before.set) / connections).toFixed(2),
    setCommandsPerConnectionPerRefresh: +((refreshed.set - connected.set) / connections).toFixed(2),
    refreshPeriodMs: recoveryWindowMs / 2,
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  closeClients();
  await relay.stop('SIGKILL');
  await probe.quit();
  await redis.stop();
}
