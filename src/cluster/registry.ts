import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { RedisClient } from './redis.js';

/** What an instance says about itself in `/v1/instances`. */
export interface InstanceInfo {
  instanceId: string;
  /** Changes at every start: tells a restarted instance from its previous life. */
  bootId: string;
  transport: string;
  adapter: string;
  connections: number;
  draining: boolean;
  startedAt: string;
  /** The instance's own clock at its last beat, like `startedAt`; liveness never reads it. */
  lastSeen: string;
  /** Named rooms on this instance (socket-id rooms excluded). */
  rooms: number;
  /** Publishes into the cluster from this instance since it started (clients and admin). */
  publishesTotal: number;
  /** Reconnects recovered by this instance since it started. */
  recoveriesTotal: number;
  /** Reconnects that asked for recovery here and got a new session instead, since start. */
  recoveryFailuresTotal: number;
  /** This instance's largest named rooms by local members, largest first (a bounded list). */
  topRooms: RoomSize[];
}

/** Members of one room on one instance. */
export interface RoomSize {
  namespace: string;
  room: string;
  members: number;
}

/** The live instances of the cluster. */
export interface InstanceRegistry {
  /** Starts heartbeating; resolves after the first beat was attempted. */
  start(): Promise<void>;
  /** Publishes this instance's state now (call on state changes such as draining). */
  beat(): Promise<void>;
  list(): Promise<InstanceInfo[]>;
  /** Removes this instance from the registry and stops heartbeating. */
  stop(): Promise<void>;
}

// Each instance beats its own key with a TTL of the instance timeout: Redis's clock alone decides when
// it is lost (hosts' clocks are never compared), and a crashed instance's key expires by itself. Keyed by
// instance id, not boot: a restarted instance replaces its previous life at once, whose holdings are then
// swept. A set indexes the keys (SCAN would have to visit every node of a Redis Cluster); one hash tag
// puts set and keys in one slot, which the beat's MULTI and the list script need on a Redis Cluster.
const INDEX_KEY = 'relay:{instances}:index';
const INSTANCE_PREFIX = 'relay:{instances}:instance:';

// Reads the live instances and drops the ids whose key expired, in one step: a beat landing between
// finding a key gone and dropping its id would otherwise leave a live instance out of the index.
const LIST = `
local live = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local info = redis.call('GET', ARGV[1] .. id)
  if info then table.insert(live, info) else redis.call('SREM', KEYS[1], id) end
end
return live`;

/** Every 5 s, or often enough that an instance misses at least two beats before it is found lost. */
export function heartbeatMs(staleMs: number): number {
  return Math.min(5_000, Math.floor(staleMs / 3));
}

/** Single-node mode: the only live instance is this one. */
export function createMemoryRegistry(self: () => Promise<InstanceInfo>): InstanceRegistry {
  return {
    async start() {},
    async beat() {},
    async list() {
      return [await self()];
    },
    async stop() {},
  };
}

/** Cluster mode: each instance heartbeats a key in Redis that expires when it falls silent. */
export function createRedisRegistry(
  client: RedisClient,
  self: () => Promise<InstanceInfo>,
  deps: { log: Logger; metrics: Metrics },
  /** An instance silent for this long is not listed as live. */
  staleMs: number,
): InstanceRegistry {
  let timer: NodeJS.Timeout | undefined;
  const beat = async () => {
    const info = await self();
    await client
      .multi()
      .set(`${INSTANCE_PREFIX}${info.instanceId}`, JSON.stringify(info), { PX: staleMs })
      .sAdd(INDEX_KEY, info.instanceId)
      .exec();
  };
  const beatQuietly = () =>
    // Readiness already reports a lost Redis; a missed beat only needs counting.
    beat().catch(() => deps.metrics.redisErrors.inc({ client: 'registry' }));
  return {
    async start() {
      timer = setInterval(beatQuietly, heartbeatMs(staleMs));
      timer.unref();
      await beatQuietly();
    },
    beat,
    async list() {
      const all = (await client.eval(LIST, { keys: [INDEX_KEY], arguments: [INSTANCE_PREFIX] })) as string[];
      const live: InstanceInfo[] = [];
      for (const raw of all) {
        try {
          live.push(JSON.parse(raw) as InstanceInfo);
        } catch {
          deps.log.warn('ignoring unparsable instance record', { keys: `${INSTANCE_PREFIX}*` });
        }
      }
      return live.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
    },
    async stop() {
      clearInterval(timer);
      // Its id leaves the index at the next list.
      await client.del(`${INSTANCE_PREFIX}${(await self()).instanceId}`);
    },
  };
}
