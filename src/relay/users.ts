import type { Socket } from 'socket.io';
import { ErrorCodes, RelayError } from '../errors.js';
import type { ConnectStep } from './pipeline.js';
import { assertJoinable, MAX_ROOM_LENGTH } from './validate.js';

/**
 * Every socket with a user is in the room `user:<id>`: one publish reaches all of that user's sockets on
 * every instance, recoverably, like any room. The relay alone puts sockets in these rooms.
 */
const USER_ROOM_PREFIX = 'user:';
/** The longest user id: its room must still be a valid room name. */
export const MAX_USER_ID_LENGTH = MAX_ROOM_LENGTH - USER_ROOM_PREFIX.length;

/** The verified identity room-pattern placeholders read: `{userId}` and `{claims.<name>}`. */
export interface Identity {
  userId: string | undefined;
  claims: Readonly<Record<string, unknown>> | undefined;
}

export function userRoom(userId: string): string {
  return `${USER_ROOM_PREFIX}${userId}`;
}

export function isUserRoom(room: string): boolean {
  return room.startsWith(USER_ROOM_PREFIX);
}

/**
 * A user id as a JWT claim or a backend gives it: a non-empty string that fits a room name, or an integer
 * (numeric ids are common in tokens) in its decimal form. Anything else is no user id.
 */
export function toUserId(raw: unknown): string | undefined {
  const id = typeof raw === 'number' && Number.isSafeInteger(raw) ? String(raw) : raw;
  return typeof id === 'string' && id !== '' && id.length <= MAX_USER_ID_LENGTH ? id : undefined;
}

/** The identity kept in `socket.data` (by JWT auth or a backend's connect reply), persisted with the session. */
export function identityOf(data: unknown): Identity {
  const d = (data !== null && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  const claims = d.claims;
  return {
    userId: typeof d.userId === 'string' ? d.userId : undefined,
    claims:
      claims !== null && typeof claims === 'object' && !Array.isArray(claims)
        ? (claims as Record<string, unknown>)
        : undefined,
  };
}

export function userIdOf(socket: Socket): string | undefined {
  return identityOf(socket.data).userId;
}

/**
 * Gives a socket without a user the user `userId` and puts it in the user's room (before or after it is
 * connected). False when the socket already has another user: a verified identity is never replaced.
 */
export async function assignUser(socket: Socket, userId: string): Promise<boolean> {
  const current = userIdOf(socket);
  if (current !== undefined && current !== userId) return false;
  if (current === undefined) {
    const data = socket.data as unknown;
    // A new object, not a mutation: policies cache per socket.data (see policy.ts).
    socket.data =
      data !== null && typeof data === 'object' && !Array.isArray(data) ? { ...data, userId } : { userId };
  }
  await socket.join(userRoom(userId));
  return true;
}

/**
 * Connect step: a socket whose user is known (JWT, or a backend's connect reply) is in its user room. A
 * recovered socket is in it already (its rooms are restored), so this is then a no-op.
 */
export const joinUserRoom: ConnectStep = (socket) => {
  const userId = userIdOf(socket);
  if (userId !== undefined && !socket.rooms.has(userRoom(userId))) void socket.join(userRoom(userId));
};

/**
 * The rules for a room a socket joins, whoever asks (the client or its backend): a joinable room
 * (validate.ts), and not another user's room, which carries messages meant for that user.
 */
export function assertJoinableBy(socket: Socket, room: unknown): string {
  const name = assertJoinable(socket.rooms, room);
  if (isOthersUserRoom(socket, name)) {
    throw new RelayError(ErrorCodes.FORBIDDEN, `${JSON.stringify(name)} is another user's room`);
  }
  return name;
}

/** True for a user room that is not this socket's own: no client or backend may put the socket there. */
function isOthersUserRoom(socket: Socket, room: string): boolean {
  if (!isUserRoom(room)) return false;
  const userId = userIdOf(socket);
  return userId === undefined || room !== userRoom(userId);
}
