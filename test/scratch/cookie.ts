import { ask, client, closeClients, collect } from '../helpers/clients.js';
import { startLoadBalancer } from '../helpers/lb.js';
import { freePort } from '../helpers/ports.js';
import { startRedis } from '../helpers/redis.js';
import { startRelay } from '../helpers/relay.js';

const redis = await startRedis();
const relays = await Promise.all(
  [1, 2, 3].map(async (i) => {
    const port = await freePort();
    const adminPort = await freePort();
    const r = await startRelay([
      '--redis-url',
      redis.url,
      '--instance-id',
      `relay-${i}`,
      '--port',
      String(port),
      '--admin-port',
      String(adminPort),
    ]);
    return { name: `relay-${i}`, host: '127.0.0.1', port, adminPort, r };
  }),
);
const lb = await startLoadBalancer(
  'haproxy',
  relays.map(({ name, host, port, adminPort }) => ({ name, host, port, adminPort })),
);
for (const name of relays.map((r) => r.name)) await lb.waitServerUp(name);
console.log(await lb.serverStates());
for (const withCredentials of [false, true]) {
  const s = await Promise.race([
    client(lb.url, { transports: ['polling'], withCredentials }),
    new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no connect ' + withCredentials)), 5000)),
  ]).catch((e) => {
    console.log(String(e));
    return undefined;
  });
  if (!s) continue;
  let errors = 0;
  s.on('disconnect', (r) => {
    errors++;
    console.log('disconnect', r);
  });
  const ids = new Set();
  for (let i = 0; i < 10; i++) {
    try {
      const me = await ask(s, 'whoami');
      ids.add(me.instanceId);
    } catch (e) {
      console.log('err', String(e));
      break;
    }
  }
  console.log({ withCredentials, instances: [...ids], connected: s.connected, errors });
  s.disconnect();
}
closeClients();
await lb.stop();
for (const r of relays) await r.r.stop('SIGKILL');
await redis.stop();
