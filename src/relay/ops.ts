import type { Server } from 'socket.io';
import type { RelayConfig } from '../config/schema.js';
import { ErrorCodes, RelayError } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import { assertEvent, assertRoom } from './validate.js';

export interface PublishRequest {
  namespace?: string | undefined;
  room?: string | undefined;
  event: string;
  data: unknown;
}

export interface LocalStats {
  connections: number;
  rooms: number;
}

/** Cluster-wide operations on sockets and rooms, shared by the built-in events and the admin API. */
export interface RelayOps {
  /** Broadcasts `event(data)` to `room` (or the whole namespace) on every instance. */
  publish(req: PublishRequest, source: 'client' | 'admin'): void;
  /** Socket ids in `room`, cluster-wide. */
  roomSockets(namespace: string, room: string): Promise<string[]>;
  /** Disconnects the socket wherever it is; false when no instance holds it. */
  disconnectSocket(namespace: string, socketId: string): Promise<boolean>;
  /** Connections and named rooms (socket-id rooms excluded) on this instance. */
  localStats(): LocalStats;
}

export function createRelayOps(
  io: Server,
  config: RelayConfig,
  deps: { metrics: Metrics; clusterReady: () => boolean },
): RelayOps {
  const namespaceOf = (name: string) => {
    if (!Object.hasOwn(config.namespaces, name)) {
      throw new RelayError(
        ErrorCodes.UNKNOWN_NAMESPACE,
        `namespace ${JSON.stringify(name)} is not configured`,
      );
    }
    return io.of(name);
  };
  const clusterCall = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      throw new RelayError(ErrorCodes.CLUSTER, `${what} failed: ${(err as Error).message ?? err}`, {
        cause: err,
      });
    }
  };

  return {
    publish(req, source) {
      const namespace = req.namespace ?? '/';
      const nsp = namespaceOf(namespace);
      const event = assertEvent(req.event);
      if (!deps.clusterReady()) {
        throw new RelayError(
          ErrorCodes.CLUSTER,
          'the cluster bus (Redis) is unavailable; nothing was published',
        );
      }
      if (req.room === undefined) nsp.emit(event, req.data);
      else nsp.to(assertRoom(req.room)).emit(event, req.data);
      deps.metrics.publishes.inc({ namespace, source });
    },
    async roomSockets(namespace, room) {
      const nsp = namespaceOf(namespace);
      const sockets = await clusterCall('listing sockets', () => nsp.in(assertRoom(room)).fetchSockets());
      return sockets.map((s) => s.id).sort();
    },
    async disconnectSocket(namespace, socketId) {
      const nsp = namespaceOf(namespace);
      const found = await clusterCall('finding the socket', () =>
        nsp.in(assertRoom(socketId)).fetchSockets(),
      );
      if (found.length === 0) return false;
      nsp.in(socketId).disconnectSockets(true);
      return true;
    },
    localStats() {
      let connections = 0;
      let rooms = 0;
      for (const nsp of io._nsps.values()) {
        connections += nsp.sockets.size;
        for (const room of nsp.adapter.rooms.keys()) if (!nsp.adapter.sids.has(room)) rooms++;
      }
      return { connections, rooms };
    },
  };
}
