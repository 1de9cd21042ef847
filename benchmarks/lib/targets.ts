// What a scenario runs against: the relay (Redis Streams adapter in cluster mode) or the seed baseline
// (classic Pub/Sub adapter), on either transport.
import { startRedis } from '../../test/helpers/redis.js';
import { type ServerProcess, startRelayProcess, startSeedProcess, type Transport } from './servers.js';

export interface Target {
  /** Key in the results: `uws`, `ws`, `pubsub-ws`, `pubsub-uws`. */
  key: string;
  kind: 'relay' | 'seed';
  transport: Transport;
}

export const RELAY_UWS: Target = { key: 'uws', kind: 'relay', transport: 'uws' };
export const RELAY_WS: Target = { key: 'ws', kind: 'relay', transport: 'ws' };
export const SEED_WS: Target = { key: 'pubsub-ws', kind: 'seed', transport: 'ws' };
export const SEED_UWS: Target = { key: 'pubsub-uws', kind: 'seed', transport: 'uws' };

export interface Cluster {
  servers: ServerProcess[];
  stop(): Promise<void>;
}

/**
 * Starts `instances` servers of `target`. The relay runs single-node (no Redis) when `cluster` is false;
 * the seed always uses its Redis adapter, as the seeds deploy it.
 */
export async function startCluster(
  target: Target,
  instances: number,
  opts: { cluster: boolean; relayArgs?: string[] },
): Promise<Cluster> {
  const redis = opts.cluster || target.kind === 'seed' ? await startRedis() : undefined;
  const servers: ServerProcess[] = [];
  try {
    for (let i = 0; i < instances; i++) {
      servers.push(
        target.kind === 'seed'
          ? await startSeedProcess(target.transport, redis?.url as string)
          : await startRelayProcess(target.transport, [
              ...(redis ? ['--redis-url', redis.url, '--instance-id', `bench-${i}`] : []),
              ...(opts.relayArgs ?? []),
            ]),
      );
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.kill()));
    await redis?.stop();
    throw err;
  }
  return {
    servers,
    async stop() {
      await Promise.all(servers.map((s) => s.kill('SIGKILL')));
      await redis?.stop();
    },
  };
}
