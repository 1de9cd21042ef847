// What a scenario runs against: the relay (Redis Streams adapter in cluster mode) or the seed baseline
// (classic Pub/Sub adapter), on either transport.
import { startRedis } from '../../test/helpers/redis.js';
import {
  type ServerProcess,
  startFloorProcess,
  startRelayProcess,
  startSeedProcess,
  type Transport,
} from './servers.js';

export interface Target {
  /** Key in the results: `uws`, `ws`, `pubsub-ws`, `pubsub-uws`. */
  key: string;
  /**
   * `seed`: benchmarks/seed-server.ts, plain Socket.IO with the classic adapter, none of the relay's code.
   * `floor`: benchmarks/floor-server.ts, plain uWS topics (and Redis Pub/Sub), no Socket.IO at all.
   */
  kind: 'relay' | 'seed' | 'floor';
  transport: Transport;
  /** The cluster bus: Redis Streams (the relay's) or classic Pub/Sub (`@socket.io/redis-adapter`). */
  adapter: 'streams' | 'pubsub';
}

export const RELAY_UWS: Target = { key: 'uws', kind: 'relay', transport: 'uws', adapter: 'streams' };
export const RELAY_WS: Target = { key: 'ws', kind: 'relay', transport: 'ws', adapter: 'streams' };
/** The seeds' deployment, the baseline of every figure. */
export const SEED_WS: Target = { key: 'pubsub-ws', kind: 'seed', transport: 'ws', adapter: 'pubsub' };
/** The Pub/Sub side of Streams vs Pub/Sub on cross-instance: the relay itself with `--adapter pubsub`. */
export const PUBSUB_UWS: Target = { key: 'pubsub-uws', kind: 'relay', transport: 'uws', adapter: 'pubsub' };

/** The raw floor the uws relay's figures are divided by: uWS topics, over Redis Pub/Sub between instances. */
export const FLOOR_UWS: Target = { key: 'floor-uws', kind: 'floor', transport: 'uws', adapter: 'pubsub' };

/** How reports name a target. */
export function labelOf(target: Target): string {
  const bus = target.adapter === 'streams' ? 'Streams' : 'classic Pub/Sub';
  if (target.kind === 'relay') return `relay, ${target.transport} (${bus})`;
  if (target.kind === 'floor') return 'floor: raw uWS topics + Redis Pub/Sub';
  return `seed: Socket.IO + ${target.transport} + ${bus}`;
}

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
  opts: { cluster: boolean; relayArgs?: string[]; env?: Record<string, string> },
): Promise<Cluster> {
  const redis = opts.cluster || target.kind === 'seed' ? await startRedis() : undefined;
  const start = (i: number) => {
    if (target.kind === 'seed') return startSeedProcess(target.transport, redis?.url as string);
    if (target.kind === 'floor') return startFloorProcess(redis?.url);
    return startRelayProcess(
      target.transport,
      [
        ...(redis ? ['--redis-url', redis.url, '--instance-id', `bench-${i}`] : []),
        ...(redis && target.adapter === 'pubsub' ? ['--adapter', 'pubsub'] : []),
        ...(opts.relayArgs ?? []),
      ],
      opts.env,
    );
  };
  const servers: ServerProcess[] = [];
  try {
    for (let i = 0; i < instances; i++) servers.push(await start(i));
  } catch (err) {
    await Promise.all(servers.map((s) => s.kill()));
    await redis?.stop();
    throw err;
  }
  return {
    servers,
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
      await redis?.stop();
    },
  };
}
