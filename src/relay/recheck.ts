import type { Logger } from '../log.js';
import type { ConnectStep } from './pipeline.js';
import type { CompiledPolicy } from './policy.js';
import { isUserRoom, userIdOf, userRoom } from './users.js';

/**
 * Connect step for recovered sockets: the rooms a session brings back were allowed when they were joined;
 * the policy (or the socket's identity) may have changed since. Rooms the current `join` patterns do not
 * allow are left, so a narrowed policy also holds for clients that were away during the change. The
 * socket's own id room and its user room are the relay's, not the policy's, and stay.
 */
export function recheckRooms(policy: CompiledPolicy, log: Logger): ConnectStep {
  return (socket) => {
    if (!socket.recovered) return;
    const userId = userIdOf(socket);
    const own = userId === undefined ? undefined : userRoom(userId);
    const dropped = [...socket.rooms].filter(
      (room) => room !== socket.id && room !== own && (isUserRoom(room) || !policy.allowsJoin(room, socket)),
    );
    if (dropped.length === 0) return;
    for (const room of dropped) void socket.leave(room);
    log.info('recovered socket left rooms the policy no longer allows', {
      namespace: socket.nsp.name,
      socketId: socket.id,
      rooms: dropped,
    });
  };
}
