import type { Namespace, Server } from 'socket.io';
import type { BroadcastOptions } from 'socket.io-adapter';
import { PacketType } from 'socket.io-parser';
import type { RelayConfig } from '../config/schema.js';
import { ErrorCodes, RelayError } from '../errors.js';
import { namespacesOf } from '../internals.js';
import type { Metrics } from '../metrics/registry.js';
import { assertData, assertEvent, assertRoom, looksLikeSocketId } from './validate.js';

/** A publish of `event` with one argument (`data`) or several (`args`). */
export type PublishRequest = {
  namespace?: string | undefined;
  room?: string | undefined;
  event: string;
} & ({ data: unknown } | { args: unknown[] });

/** Who asked for a publish: a client's built-in, the admin API, a namespace backend's reply, or presence. */
export type PublishSource = 'client' | 'admin' | 'backend' | 'presence';

export interface LocalStats {
  connections: number;
  rooms: number;
}

/** Cluster-wide operations on sockets and rooms, shared by the built-in events and the admin API. */
export interface RelayOps {
  /**
   * Broadcasts `event(data)` (or `event(...args)`) to `room` (or the whole namespace) on every instance. Resolves once the
   * message is in the cluster bus, so acks order publishes across publishers. Without the bus (Redis
   * down) only this instance's sockets get it, and it rejects with RLY_ERR_CLUSTER.
   */
  publish(req: PublishRequest, source: PublishSource): Promise<void>;
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
  deps: {
    metrics: Metrics;
    clusterReady: () => boolean;
    /**
     * The cluster's broadcast, which rejects with RLY_ERR_CLUSTER when the bus refused the packet (it was
     * then delivered locally only); the adapter's own broadcast when there is no such cluster.
     */
    broadcast?: (
      nsp: Namespace,
      packet: { type: number; data: unknown[] },
      opts: BroadcastOptions,
    ) => Promise<void>;
  },
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
    async publish(req, source) {
      const namespace = req.namespace ?? '/';
      const nsp = namespaceOf(namespace);
      const event = assertEvent(req.event);
      const rooms = new Set(req.room === undefined ? [] : [assertRoom(req.room)]);
      // What BroadcastOperator.emit does, without dropping the adapter's promise.
      const args = assertData('args' in req ? req.args : [req.data], config.maxPayload) as unknown[];
      const packet = { type: PacketType.EVENT, data: [event, ...args] };
      // Without Redis, local delivery goes on: this instance's sockets get the message, and the error
      // tells the publisher that other instances did not and that it is not kept for recovery.
      const localOnly = !deps.clusterReady();
      // uWS: a fan-out done here and now leaves from a fresh macrotask, not from inside the transport's
      // message callback, where uWS holds the publisher's socket corked: there every subscriber's copy
      // takes its own send() instead of being coalesced per socket with the iteration's other broadcasts
      // (docs/performance.md). Through the Redis Streams bus a publish is an XADD, and the fan-out comes
      // later from the stream reader: the hop would only delay it. `ws` has nothing to coalesce and measured
      // slower with the extra hop.
      const fanOutHere = !deps.broadcast || localOnly;
      if (config.transport === 'uws' && fanOutHere) await new Promise((resolve) => setImmediate(resolve));
      const opts = { rooms, except: new Set<string>(), ...(localOnly ? { flags: { local: true } } : {}) };
      if (deps.broadcast) await deps.broadcast(nsp, packet, opts);
      else await nsp.adapter.broadcast(packet, opts);
      if (localOnly) {
        throw new RelayError(
          ErrorCodes.CLUSTER,
          'the cluster bus (Redis) is unavailable: only sockets on this instance got the message',
        );
      }
      deps.metrics.publishes.inc({ namespace, source });
    },
    async roomSockets(namespace, room) {
      const nsp = namespaceOf(namespace);
      const sockets = await clusterCall('listing sockets', () => nsp.in(assertRoom(room)).fetchSockets());
      return sockets.map((s) => s.id).sort();
    },
    async disconnectSocket(namespace, socketId) {
      const nsp = namespaceOf(namespace);
      // A socket id is a room too: without this check, a room name would disconnect the whole room.
      if (!looksLikeSocketId(socketId)) {
        throw new RelayError(ErrorCodes.BAD_REQUEST, `${JSON.stringify(socketId)} is not a socket id`);
      }
      const found = await clusterCall('finding the socket', () => nsp.in(socketId).fetchSockets());
      if (!found.some((s) => s.id === socketId)) return false;
      // Through the adapter, awaited: the cluster adapter first writes the request to the cluster and only
      // then disconnects a local socket, and BroadcastOperator drops that promise. Awaited, a listing made
      // after this answer no longer shows the socket (its request follows this one in the stream).
      await nsp.adapter.disconnectSockets({ rooms: new Set([socketId]), except: new Set() }, true);
      return true;
    },
    localStats() {
      let connections = 0;
      let rooms = 0;
      for (const nsp of namespacesOf(io)) {
        connections += nsp.sockets.size;
        for (const room of nsp.adapter.rooms.keys()) if (!nsp.adapter.sids.has(room)) rooms++;
      }
      return { connections, rooms };
    },
  };
}
