// The cluster's wire format, shared by the adapter, the restore, the emitter and the backend SDK: stream
// names, stream entry encoding, Pub/Sub payloads, offsets. It is `@socket.io/redis-streams-adapter`'s
// format, so its emitters and tools interoperate with a relay cluster.
import { decode, encode } from '@msgpack/msgpack';
import { type ClusterMessage, type ClusterResponse, MessageType } from 'socket.io-adapter';
import { PacketType } from 'socket.io-parser';

/** The broadcast stream's base name (the streams adapter's default). */
export const STREAM_BASE = 'socket.io';
/** Prefix of the Pub/Sub channels that carry requests and responses (the streams adapter's default). */
const CHANNEL_PREFIX = 'socket.io';
/** What an emitter writes as the sender of its entries: never equal to an adapter's uid. */
export const EMITTER_UID = 'emitter';

/** A stream entry's fields as Redis stores them. */
export type StreamFields = Record<string, string>;

/** The rooms a cluster broadcast selects, as it travels. */
export interface EncodedSelection {
  rooms: string[];
  except: string[];
  flags?: { volatile?: boolean; local?: boolean } | undefined;
}

/** A broadcast packet as it travels: a Socket.IO packet whose `data` is the event's arguments. */
export interface WirePacket {
  type: number;
  id?: number;
  nsp?: string;
  data: unknown[];
}

/**
 * The stream that carries a namespace's broadcasts, computed exactly as the streams adapter does: with
 * several streams (to spread load over a Redis Cluster's masters), a hash of the namespace name picks one.
 */
export function streamOf(namespace: string, streamCount: number): string {
  if (streamCount === 1) return STREAM_BASE;
  return `${STREAM_BASE}-${hashCode(namespace) % streamCount}`;
}

/** The adapter's string hash (Java's `String.hashCode`). */
function hashCode(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) {
    hash = hash * 31 + text.charCodeAt(i);
    hash |= 0;
  }
  return hash;
}

/** The channel every instance of a namespace listens on for requests. */
export function publicChannel(namespace: string): string {
  return `${CHANNEL_PREFIX}#${namespace}#`;
}

/** The channel one adapter instance listens on for responses to its requests. */
export function privateChannel(namespace: string, uid: string): string {
  return `${CHANNEL_PREFIX}#${namespace}#${uid}#`;
}

/** Requests and responses that need no history go over Pub/Sub, everything else into the stream. */
export function isEphemeral(message: ClusterMessage): boolean {
  if (message.type === MessageType.BROADCAST) return message.data.requestId !== undefined;
  return message.type === MessageType.SERVER_SIDE_EMIT || message.type === MessageType.FETCH_SOCKETS;
}

/** A stream entry: JSON data, or base64 MessagePack when it carries binary. */
export function encodeEntry(message: ClusterMessage | ClusterResponse): StreamFields {
  const fields: StreamFields = { uid: message.uid, nsp: message.nsp, type: String(message.type) };
  if ('data' in message && message.data !== undefined) {
    fields.data = hasBinary(message.data)
      ? Buffer.from(encode(message.data)).toString('base64')
      : JSON.stringify(message.data);
  }
  return fields;
}

/** The message of a stream entry; throws on an entry that is not in this format. */
export function decodeEntry(fields: StreamFields): ClusterMessage {
  const type = Number.parseInt(fields.type ?? '', 10);
  if (!Number.isInteger(type) || typeof fields.nsp !== 'string') throw new TypeError('not a cluster entry');
  const message = { uid: fields.uid ?? '', nsp: fields.nsp, type } as ClusterMessage & { data?: unknown };
  const raw = fields.data;
  if (raw) message.data = raw.startsWith('{') ? JSON.parse(raw) : decode(Buffer.from(raw, 'base64'));
  return message;
}

/** A Pub/Sub payload (MessagePack, as the streams adapter sends it). */
export function encodePubSub(message: ClusterMessage | ClusterResponse): Buffer {
  return Buffer.from(encode(message));
}

export function decodePubSub(payload: Buffer): ClusterMessage | ClusterResponse {
  return decode(payload) as ClusterMessage | ClusterResponse;
}

/**
 * The packet and selection of a broadcast that clients can recover: an event without an ack, not volatile
 * (the rule of Socket.IO's cluster adapter for appending an offset). Undefined for anything else.
 */
export function recoverableBroadcast(
  message: ClusterMessage,
): { packet: WirePacket; opts: EncodedSelection } | undefined {
  if (message.type !== MessageType.BROADCAST || message.data.requestId !== undefined) return undefined;
  const packet = message.data.packet as WirePacket | undefined;
  const opts = message.data.opts as EncodedSelection | undefined;
  if (!packet || !opts || !Array.isArray(packet.data)) return undefined;
  if (packet.type !== PacketType.EVENT || packet.id !== undefined) return undefined;
  if (opts.flags?.volatile !== undefined) return undefined;
  return { packet, opts };
}

/** Whether a broadcast to `opts` reaches a socket in `rooms` (the in-memory adapter's rule). */
export function reaches(rooms: readonly string[], opts: EncodedSelection): boolean {
  const included = opts.rooms.length === 0 || rooms.some((room) => opts.rooms.includes(room));
  return included && rooms.every((room) => !opts.except.includes(room));
}

/** Redis stream entry ids (`<ms>-<seq>`): the recovery offsets clients hold. */
const STREAM_ID = /^(\d{1,16})-(\d{1,16})$/;

export function isStreamId(value: unknown): value is string {
  return typeof value === 'string' && STREAM_ID.test(value);
}

/** Negative, zero or positive as `a` is before, equal to or after `b`. Both must be stream ids. */
export function compareStreamIds(a: string, b: string): number {
  const dashA = a.indexOf('-');
  const dashB = b.indexOf('-');
  return (
    Number(a.slice(0, dashA)) - Number(b.slice(0, dashB)) ||
    Number(a.slice(dashA + 1)) - Number(b.slice(dashB + 1))
  );
}

function hasBinary(value: unknown): boolean {
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return true;
  if (Array.isArray(value)) return value.some(hasBinary);
  if (value && typeof value === 'object') return Object.values(value).some(hasBinary);
  return false;
}
