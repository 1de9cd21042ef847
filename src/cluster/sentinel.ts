import { createClient } from 'redis';
import { ErrorCodes, RelayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';

/** Where the current master is: one object, shared by every connection the relay opens to it. */
export interface MasterAddress {
  host: string;
  port: number;
}

export interface SentinelWatch {
  /** The master's address; node-redis reads it at every (re)connect, so a failover is followed. */
  readonly address: MasterAddress;
  close(): Promise<void>;
}

/** How often the sentinels are asked again, besides their `+switch-master` announcements. */
const POLL_MS = 1_000;

/**
 * Follows a Sentinel-managed master. node-redis 4 has no Sentinel support, but it reads its `socket`
 * options object at every connect and its duplicates share that object: keeping the master's address in
 * it, updated from the sentinels, makes every connection reconnect to the new master after a failover.
 * (A connection to an old master that stays up as a replica is not moved until it drops.)
 */
export async function watchSentinels(
  sentinels: readonly MasterAddress[],
  masterName: string,
  deps: { log: Logger; metrics: Metrics },
): Promise<SentinelWatch> {
  const address: MasterAddress = { host: '', port: 0 };
  let index = 0;
  let closed = false;
  let client: ReturnType<typeof createClient> | undefined;

  const ask = async (): Promise<MasterAddress | undefined> => {
    for (let tried = 0; tried < sentinels.length; tried++) {
      const sentinel = sentinels[index % sentinels.length] as MasterAddress;
      try {
        if (!client) {
          client = createClient({ socket: { ...sentinel, reconnectStrategy: false, connectTimeout: 1_000 } });
          client.on('error', () => deps.metrics.redisErrors.inc({ client: 'sentinel' }));
          await client.connect();
        }
        const reply = (await client.sendCommand(['SENTINEL', 'get-master-addr-by-name', masterName])) as
          | [string, string]
          | null;
        if (reply) return { host: reply[0], port: Number(reply[1]) };
      } catch {
        await client?.disconnect().catch(() => {});
      }
      client = undefined;
      index++;
    }
    return undefined;
  };

  const update = (next: MasterAddress | undefined) => {
    if (!next || (next.host === address.host && next.port === address.port)) return;
    const first = address.port === 0;
    address.host = next.host;
    address.port = next.port;
    deps.log.info(first ? 'redis master found by sentinel' : 'redis master switched', {
      master: `${next.host}:${next.port}`,
    });
  };

  update(await ask());
  if (address.port === 0) {
    throw new RelayError(
      ErrorCodes.CLUSTER,
      `no sentinel of ${sentinels.length} knows a master named ${JSON.stringify(masterName)}`,
    );
  }
  const poll = async () => {
    while (!closed) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS).unref());
      if (!closed) update(await ask());
    }
  };
  const polling = poll();
  return {
    address,
    async close() {
      closed = true;
      await polling;
      await client?.disconnect().catch(() => {});
    },
  };
}
