import { ErrorCodes, RelayError } from '../errors.js';

export const MAX_ROOM_LENGTH = 256;
export const MAX_EVENT_LENGTH = 128;
/**
 * Deepest nesting of arrays and objects in published data. Socket.IO and the streams adapter walk the
 * data recursively (looking for binary), so far deeper data would overflow the stack.
 */
export const MAX_DATA_DEPTH = 64;

/**
 * Socket ids (20 characters of base64url) are rooms of their own: the direct-message channel of that socket.
 * Rooms of that shape are reserved so no client can join another socket's private room.
 */
const SOCKET_ID_SHAPE = /^[A-Za-z0-9_-]{20}$/;

/** Event names Socket.IO refuses to emit (emitting one throws). */
const RESERVED_EVENTS = new Set([
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
]);

export function looksLikeSocketId(room: string): boolean {
  return SOCKET_ID_SHAPE.test(room);
}

/** Named rooms one socket may be in (its own id room aside): bounds memory and session size. */
export const MAX_ROOMS_PER_SOCKET = 100;

/**
 * The rules for a room a socket joins, whoever asks (the client or its backend): a valid name, not shaped
 * like a socket id (those rooms are for direct messages), within the socket's room cap.
 */
export function assertJoinable(rooms: ReadonlySet<string>, room: unknown): string {
  const name = assertRoom(room);
  if (looksLikeSocketId(name)) {
    throw new RelayError(
      ErrorCodes.ROOM_RESERVED,
      'rooms shaped like socket ids are reserved for direct messages',
    );
  }
  if (!rooms.has(name) && rooms.size > MAX_ROOMS_PER_SOCKET) {
    throw new RelayError(
      ErrorCodes.TOO_MANY_ROOMS,
      `a socket may join at most ${MAX_ROOMS_PER_SOCKET} rooms`,
    );
  }
  return name;
}

export function assertRoom(room: unknown): string {
  if (typeof room !== 'string' || room.length === 0 || room.length > MAX_ROOM_LENGTH) {
    throw new RelayError(
      ErrorCodes.BAD_REQUEST,
      `room must be a string of 1 to ${MAX_ROOM_LENGTH} characters`,
    );
  }
  return room;
}

export function assertEvent(event: unknown): string {
  if (typeof event !== 'string' || event.length === 0 || event.length > MAX_EVENT_LENGTH) {
    throw new RelayError(
      ErrorCodes.BAD_REQUEST,
      `event must be a string of 1 to ${MAX_EVENT_LENGTH} characters`,
    );
  }
  if (RESERVED_EVENTS.has(event)) {
    throw new RelayError(ErrorCodes.BAD_REQUEST, `event "${event}" is reserved by Socket.IO`);
  }
  return event;
}

/** The `{ room, event, data }` argument of the `publish` built-in. */
export function assertPublish(payload: unknown): { room: string; event: string; data: unknown } {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new RelayError(ErrorCodes.BAD_REQUEST, 'publish expects an object { room, event, data }');
  }
  const p = payload as Record<string, unknown>;
  return { room: assertRoom(p.room), event: assertEvent(p.event), data: p.data };
}

/**
 * Most binary values one published event may carry: socket.io-client refuses a packet with more than 10
 * attachments and disconnects, so more would knock every member of the room offline, and keep doing it
 * at each recovery that replays the packet.
 */
export const MAX_ATTACHMENTS = 10;

/**
 * Published data: anything JSON or binary, nested at most MAX_DATA_DEPTH levels, with at most
 * MAX_ATTACHMENTS binary values, and at most `maxBytes` once decoded. The frame limit (--max-payload)
 * does not bound the decoded event: placeholders can refer to one attachment many times, and each
 * reference is stored and sent as a copy.
 */
export function assertData(data: unknown, maxBytes: number): unknown {
  let attachments = 0;
  let bytes = 0;
  // Iterative on purpose: a recursive check would overflow on the very input it must refuse.
  const pending: Array<[object, number]> = [];
  const visit = (value: unknown, depth: number) => {
    if (typeof value === 'string') bytes += value.length;
    else if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
      attachments++;
      bytes += value.byteLength;
    } else if (value !== null && typeof value === 'object') {
      if (depth > MAX_DATA_DEPTH) {
        throw new RelayError(
          ErrorCodes.BAD_REQUEST,
          `data is nested more than ${MAX_DATA_DEPTH} levels deep`,
        );
      }
      pending.push([value, depth]);
    } else bytes += 8;
  };
  const withinLimits = () => {
    if (attachments > MAX_ATTACHMENTS) {
      throw new RelayError(ErrorCodes.BAD_REQUEST, `data carries more than ${MAX_ATTACHMENTS} binary values`);
    }
    if (bytes > maxBytes) {
      throw new RelayError(
        ErrorCodes.BAD_REQUEST,
        `data is larger than --max-payload (${maxBytes} bytes) once decoded`,
      );
    }
  };
  visit(data, 1);
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [value, depth] = next;
    if (Array.isArray(value)) for (const child of value) visit(child, depth + 1);
    else {
      for (const [key, child] of Object.entries(value)) {
        bytes += key.length;
        visit(child, depth + 1);
      }
    }
    // Checked as it grows: a few thousand references to one attachment must not be walked to the end.
    withinLimits();
  }
  withinLimits();
  return data;
}
