import type { Namespace, Socket } from 'socket.io';
import type { PresenceMember, PresenceStore, PresentUser } from '../cluster/presence.js';
import { ErrorCodes, RelayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { RelayOps } from './ops.js';
import type { ConnectStep } from './pipeline.js';
import { compilePattern } from './policy.js';
import { userIdOf } from './users.js';

const PRESENCE_JOIN = 'presence:join';
export const PRESENCE_LEAVE = 'presence:leave';

/** The reasons for which Socket.IO keeps a session for recovery (socket.io's own list). */
const RECOVERABLE_REASONS: ReadonlySet<string> = new Set([
  'transport error',
  'transport close',
  'forced close',
  'ping timeout',
  'server shutting down',
  'forced server close',
]);

export interface PresenceDeps {
  store: PresenceStore;
  ops: RelayOps;
  log: Logger;
  metrics: Metrics;
  /**
   * How long a socket that dropped with a recoverable reason keeps its presence (the recovery window):
   * a client that comes back within it, here or elsewhere, makes no leave and no join. 0: recovery is off.
   */
  keepMs: number;
}

/** The presence rooms of one namespace. */
export interface NamespacePresence {
  isPresenceRoom(room: string): boolean;
  /** Connect step: counts the socket in its presence rooms, and follows its joins, leaves and disconnect. */
  connected: ConnectStep;
  /** The distinct users in a presence room, cluster-wide (RLY_ERR_CLUSTER when Redis fails). */
  list(room: string): Promise<PresentUser[]>;
}

/** Sends `presence:join` / `presence:leave` with `{ userId }` to the room's members on every instance. */
export async function announce(ops: RelayOps, event: string, member: PresenceMember): Promise<void> {
  await ops.publish(
    { namespace: member.namespace, room: member.room, event, data: { userId: member.userId } },
    'presence',
  );
}

/**
 * Presence for the rooms of `nsp` matching `patterns`. Room membership is followed through the adapter's
 * `join-room` / `leave-room` events, so rooms a backend or the policy re-check adds or removes count as
 * much as the client's own `join` and `leave`. Sockets without a user do not count.
 */
export function createNamespacePresence(
  nsp: Namespace,
  patterns: readonly string[],
  deps: PresenceDeps,
): NamespacePresence {
  const namespace = nsp.name;
  const matchers = patterns.map(compilePattern);
  const isPresenceRoom = (room: string) => matchers.some((re) => re.test(room));
  /** Sockets past the connect step: before it, restored rooms are counted by the step itself. */
  const tracked = new WeakSet<Socket>();
  /** Sockets whose disconnect handles their rooms: their `leave-room` events are not leaves. */
  const closing = new WeakSet<Socket>();
  /** Deferred leaves of recoverably disconnected sockets, by socket id. */
  const pending = new Map<string, { timer: NodeJS.Timeout; members: PresenceMember[] }>();

  const failed = (what: string) => (err: unknown) => {
    deps.metrics.redisErrors.inc({ client: 'presence' });
    deps.log.error(`presence ${what} failed`, { namespace, error: err });
  };
  const add = (member: PresenceMember) => {
    deps.store
      .add(member)
      .then((first) => (first ? announce(deps.ops, PRESENCE_JOIN, member) : undefined))
      .catch(failed('join'));
  };
  const remove = (member: PresenceMember) => {
    deps.store
      .remove(member)
      .then((last) => (last ? announce(deps.ops, PRESENCE_LEAVE, member) : undefined))
      .catch(failed('leave'));
  };
  const memberOf = (socket: Socket, room: string): PresenceMember | undefined => {
    const userId = userIdOf(socket);
    // A socket's own id room has no one else to tell (a `*` presence pattern would otherwise count it).
    if (userId === undefined || room === socket.id) return undefined;
    return { namespace, room, socketId: socket.id, userId };
  };
  const live = (id: string) => {
    const socket = nsp.sockets.get(id);
    return socket && tracked.has(socket) && !closing.has(socket) ? socket : undefined;
  };

  nsp.adapter.on('join-room', (room: string, id: string) => {
    const socket = isPresenceRoom(room) ? live(id) : undefined;
    const member = socket && memberOf(socket, room);
    if (member) add(member);
  });
  nsp.adapter.on('leave-room', (room: string, id: string) => {
    const socket = isPresenceRoom(room) ? live(id) : undefined;
    const member = socket && memberOf(socket, room);
    if (member) remove(member);
  });

  const onDisconnecting = (socket: Socket, reason: string) => {
    closing.add(socket);
    const members = [...socket.rooms].flatMap(
      (room) => (isPresenceRoom(room) && memberOf(socket, room)) || [],
    );
    if (members.length === 0) return;
    if (deps.keepMs === 0 || !RECOVERABLE_REASONS.has(reason)) {
      for (const member of members) remove(member);
      return;
    }
    // Its session may be restored, here or on another instance (which then takes the members over, and
    // this instance's removal finds them no longer its own): only at the end of the window is it gone.
    const timer = setTimeout(() => {
      pending.delete(socket.id);
      if (nsp.sockets.has(socket.id)) return;
      for (const member of members) remove(member);
    }, deps.keepMs);
    timer.unref();
    clearTimeout(pending.get(socket.id)?.timer);
    pending.set(socket.id, { timer, members });
  };

  return {
    isPresenceRoom,
    connected(socket) {
      const dropped = pending.get(socket.id);
      if (dropped) {
        clearTimeout(dropped.timer);
        pending.delete(socket.id);
        // Restored here, without a room it had (the policy re-check left it before this step): it leaves.
        for (const member of dropped.members) if (!socket.rooms.has(member.room)) remove(member);
      }
      tracked.add(socket);
      // A recovered socket is in its restored rooms already: adding takes its members over (no join).
      for (const room of socket.rooms) {
        const member = isPresenceRoom(room) && memberOf(socket, room);
        if (member) add(member);
      }
      socket.once('disconnecting', (reason: string) => onDisconnecting(socket, reason));
    },
    async list(room) {
      try {
        return await deps.store.list(namespace, room);
      } catch (err) {
        deps.metrics.redisErrors.inc({ client: 'presence' });
        throw new RelayError(ErrorCodes.CLUSTER, `reading presence failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
    },
  };
}
