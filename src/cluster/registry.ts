import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { RedisConnection } from './redis.js';

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

const INSTANCES_KEY = 'relay:instances';

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

/** Cluster mode: each instance heartbeats a hash field in Redis; silent ones age out of the list. */
export function createRedisRegistry(
  redis: RedisConnection,
  self: () => Promise<InstanceInfo>,
  deps: { log: Logger; metrics: Metrics },
  /** An instance silent for this long is not listed as live. */
  staleMs: number,
): InstanceRegistry {
  let timer: NodeJS.Timeout | undefined;
  const beat = async () => {
    const info = await self();
    await redis.client.hSet(INSTANCES_KEY, info.instanceId, JSON.stringify(info));
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
      const all = await redis.client.hGetAll(INSTANCES_KEY);
      const now = Date.now();
      const live: InstanceInfo[] = [];
      for (const raw of Object.values(all)) {
        try {
          const info = JSON.parse(raw) as InstanceInfo;
          if (now - Date.parse(info.lastSeen) <= staleMs) live.push(info);
        } catch {
          deps.log.warn('ignoring unparsable instance record', { key: INSTANCES_KEY });
        }
      }
      return live.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
    },
    async stop() {
      clearInterval(timer);
      await redis.client.hDel(INSTANCES_KEY, (await self()).instanceId);
    },
  };
}
