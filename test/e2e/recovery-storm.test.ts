// A restore storm under live traffic, sized for CI: 1,000 clients on one instance while a publisher on
// another sends 40 numbered messages per second to their room. The instance is killed (kill -9) and
// restarted on the same port; every client must come back recovered and hold every number exactly once,
// in order. Clients are the benchmark's lean load-generator clients, in processes of their own.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  collectStats,
  connectClients,
  type LoadWorker,
  startWorkers,
  stopWorkers,
  sum,
} from '../../benchmarks/lib/pool.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/processes.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { startRelay } from '../helpers/relay.js';
import { toolAvailable } from '../helpers/tools.js';

const CLIENTS = 1000;
const RATE = 40;
const MAX_SEQ = RATE * 60;

describe('recovery storm under live traffic', () => {
  let redis: RedisServer | undefined;
  before(async () => {
    if (toolAvailable('redis-server')) redis = await startRedis();
  });
  after(() => redis?.stop());

  for (const transport of ['uws', 'ws'] as const) {
    test(`${CLIENTS} clients at ${RATE} messages/s, kill -9 and restart on the same port: all recovered, every message once, in order (${transport})`, async (t) => {
      if (!redis) return t.skip('redis-server is not installed');
      const port = await freePort();
      const common = ['--redis-url', redis.url, '--transport', transport];
      const holderArgs = [...common, '--instance-id', 'holder', '--port', String(port)];
      let holder = await startRelay(holderArgs);
      const publisherRelay = await startRelay([...common, '--instance-id', 'publisher']);
      const subs = startWorkers(2);
      const [publisher] = startWorkers(1) as [LoadWorker];
      t.after(async () => {
        await stopWorkers([...subs, publisher]);
        await holder.stop('SIGKILL');
        await publisherRelay.stop('SIGKILL');
      });

      const conn = await connectClients(subs, {
        urls: [holder.url],
        count: CLIENTS,
        room: 'storm',
        reconnect: true,
        maxSeq: MAX_SEQ,
      });
      assert.equal(conn.connected, CLIENTS, `connected: ${conn.firstError ?? ''}`);
      const publishing = publisher.request({
        cmd: 'publish',
        urls: [publisherRelay.url],
        room: 'storm',
        rate: RATE,
        durationMs: 40_000,
        maxMessages: MAX_SEQ,
        publishers: 1,
        maxInFlight: 1000,
        seqStart: 0,
      });
      await waitFor(
        'live messages at every client',
        async () => (await collectStats(subs)).received >= CLIENTS * RATE,
      );

      await holder.stop('SIGKILL');
      holder = await startRelay(holderArgs);
      const back = await waitFor(
        'every client reconnected',
        async () => {
          const s = await collectStats(subs);
          return s.reconnects === CLIENTS ? s : undefined;
        },
        40_000,
      );
      assert.equal(back.recovered, CLIENTS, `${back.notRecovered} clients were not recovered`);

      // Traffic goes on past the storm, then stops; every client must then hold every number.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await publisher.request({ cmd: 'stop-publish' });
      const sent = await publishing;
      assert.equal(Number(sent.failed), 0, 'every publish was acknowledged');
      const expected = Number(sent.nextSeq);
      const report = await waitFor(
        'every message at every client',
        async () => {
          const reports = await Promise.all(subs.map((w) => w.request({ cmd: 'seq-report', expected })));
          return sum(reports, 'lost') === 0 ? reports : undefined;
        },
        20_000,
      );
      assert.equal(sum(report, 'duplicated'), 0, 'no message twice');
      assert.equal(sum(report, 'outOfOrder'), 0, 'every client got its messages in order');
      assert.equal(sum(report, 'disconnected'), 0);
    });
  }
});
