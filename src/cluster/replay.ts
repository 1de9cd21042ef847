import { decode } from '@msgpack/msgpack';
import { MessageType } from 'socket.io-adapter';
import { PacketType } from 'socket.io-parser';
import type { RedisClient } from './redis.js';
import type { SessionStore, StoredSession } from './session-store.js';
import { compareStreamIds, isStreamId } from './stream-ids.js';

/** The parts of a Socket.IO cluster broadcast message that recovery looks at. */
export interface BroadcastMessage {
  type: number;
  nsp?: string;
  data?: { packet?: { type: number; id?: number; data: unknown[] }; opts?: EncodedOpts; requestId?: unknown };
}
interface EncodedOpts {
  rooms: string[];
  except: string[];
  flags?: { volatile?: boolean };
}

/** A recovered session as Socket.IO's `restoreSession` must return it. */
export interface RestoredSession extends StoredSession {
  missedPackets: unknown[][];
  /** Stream ids of the replayed packets, for RestoredSockets. */
  replayedIds: string[];
}

/** Why a restore was refused; becomes the `reason` label of `relay_recovery_failures_total`. */
export class RestoreRefused extends Error {
  constructor(
    readonly reason:
      | 'invalid-offset'
      | 'session-missing'
      | 'offset-unknown'
      | 'offset-gone'
      | 'replay-too-long',
  ) {
    super(`connection state not recovered: ${reason}`);
    this.name = 'RestoreRefused';
  }
}

/** Entries per XRANGE while replaying: bounded memory and Redis time per call. */
export const REPLAY_CHUNK = 1000;

/**
 * Live broadcasts seen while restores are in flight. A restore registers here before it reads the stream,
 * so a broadcast that lands after its last read but before the socket joins its rooms is still replayed:
 * the two sources are merged by stream id, each packet once.
 */
export class GapBuffer {
  readonly #open = new Set<Map<string, { data: unknown[]; opts: EncodedOpts }>>();

  open(): Map<string, { data: unknown[]; opts: EncodedOpts }> {
    const items = new Map<string, { data: unknown[]; opts: EncodedOpts }>();
    this.#open.add(items);
    return items;
  }

  close(items: Map<string, { data: unknown[]; opts: EncodedOpts }>): void {
    this.#open.delete(items);
  }

  /** Called with every broadcast this instance delivers (remote or its own), before delivery. */
  observe(message: BroadcastMessage, offset: string | undefined): void {
    if (this.#open.size === 0 || !offset) return;
    const recoverable = recoverablePacket(message);
    if (!recoverable) return;
    // Copy: the live path appends the offset to this very array after us.
    const data = [...recoverable.packet.data, offset];
    for (const items of this.#open) items.set(offset, { data, opts: recoverable.opts });
  }
}

/** How long a restored socket is shielded from live copies of what it was replayed. */
const REPLAYED_FILTER_MS = 30_000;
/** A restored socket that has not connected by then never will; its session is put back. */
const JOIN_DEADLINE_MS = 10_000;

/**
 * Live delivery around a restored socket's join. Between the restore's merge and the moment Socket.IO
 * emits `connection` (rooms joined), a live packet may be delivered before the join (the socket misses it)
 * or after (it gets it): which one is a race of microtasks. So in that phase every live packet for the
 * socket's rooms excludes the socket and is held, then handed over at `connection`, in stream order.
 * Afterwards, live copies of replayed packets (a restore reads the stream ahead of this instance's reader)
 * stay excluded for a while.
 */
export class RestoredSockets {
  readonly #joining = new Map<
    string,
    { rooms: string[]; replayed: Set<string>; held: Map<string, unknown[]> }
  >();
  readonly #joined = new Map<string, Set<string>>();

  /**
   * Called at the merge, before Socket.IO creates the socket and joins `rooms`. `abandoned` runs if the
   * socket never connects (its handshake died after the session was taken).
   */
  expect(socketId: string, rooms: string[], replayedIds: readonly string[], abandoned: () => void): void {
    const state = { rooms, replayed: new Set(replayedIds), held: new Map<string, unknown[]>() };
    this.#joining.set(socketId, state);
    setTimeout(() => {
      if (this.#joining.get(socketId) !== state) return;
      this.#joining.delete(socketId);
      abandoned();
    }, JOIN_DEADLINE_MS).unref();
  }

  /** Sockets to leave out of the live delivery of this packet (the caller adds them to `except`). */
  exclude(offset: string | undefined, message: BroadcastMessage): string[] {
    if (!offset || (this.#joining.size === 0 && this.#joined.size === 0)) return [];
    const excluded: string[] = [];
    const recoverable = recoverablePacket(message);
    for (const [socketId, state] of this.#joining) {
      if (!recoverable || !reaches(state.rooms, recoverable.opts)) continue;
      excluded.push(socketId);
      if (!state.replayed.has(offset)) state.held.set(offset, [...recoverable.packet.data, offset]);
    }
    for (const [socketId, ids] of this.#joined) if (ids.has(offset)) excluded.push(socketId);
    return excluded;
  }

  /** Called at `connection`: the packets held for this socket, in stream order. */
  joined(socketId: string): unknown[][] {
    const state = this.#joining.get(socketId);
    if (!state) return [];
    this.#joining.delete(socketId);
    const held = [...state.held.entries()].sort(([a], [b]) => compareStreamIds(a, b));
    const ids = new Set([...state.replayed, ...state.held.keys()]);
    if (ids.size > 0) {
      this.#joined.set(socketId, ids);
      setTimeout(() => this.#joined.delete(socketId), REPLAYED_FILTER_MS).unref();
    }
    return held.map(([, data]) => data);
  }

  forget(socketId: string): void {
    this.#joining.delete(socketId);
    this.#joined.delete(socketId);
  }
}

/** Only these broadcasts carry an offset and are stored for replay (same rule as Socket.IO's adapter). */
function recoverablePacket(message: BroadcastMessage) {
  if (message.type !== MessageType.BROADCAST || message.data?.requestId !== undefined) return undefined;
  const packet = message.data?.packet;
  const opts = message.data?.opts;
  if (!packet || !opts || packet.type !== PacketType.EVENT || packet.id !== undefined) return undefined;
  if (opts.flags?.volatile !== undefined) return undefined;
  return { packet, opts };
}

function reaches(rooms: readonly string[], opts: EncodedOpts): boolean {
  const included = opts.rooms.length === 0 || rooms.some((room) => opts.rooms.includes(room));
  return included && rooms.every((room) => !opts.except.includes(room));
}

/** Decodes a stream entry written by the streams adapter (JSON, or base64 msgpack when binary). */
function decodeEntry(fields: Record<string, string>): BroadcastMessage {
  const message: BroadcastMessage = { type: Number.parseInt(fields.type ?? '', 10), nsp: fields.nsp };
  const raw = fields.data;
  if (raw) {
    message.data = (
      raw.startsWith('{') ? JSON.parse(raw) : decode(Buffer.from(raw, 'base64'))
    ) as BroadcastMessage['data'];
  }
  return message;
}

export interface ReplayDeps {
  client: RedisClient;
  stream: string;
  namespace: string;
  sessions: SessionStore;
  gap: GapBuffer;
  restored: RestoredSockets;
  /** Entries before this id may have been evicted by the length cap (see StreamTrimmer). */
  evictedBefore: () => Promise<string>;
  /** Most stream entries one restore may read (the stream's length cap). */
  maxEntries: number;
}

/**
 * Restores a session from the eagerly persisted store and replays, in bounded chunks, the broadcasts it
 * missed since `offset`. Refuses (RestoreRefused) when the session is gone or packets it may need were
 * evicted from the stream.
 */
export async function restoreSession(
  deps: ReplayDeps,
  pid: string,
  offset: string,
): Promise<RestoredSession> {
  if (!isStreamId(offset) || typeof pid !== 'string') throw new RestoreRefused('invalid-offset');
  const live = deps.gap.open();
  try {
    const session = await deps.sessions.take(pid);
    if (!session) throw new RestoreRefused('session-missing');
    await checkOffset(deps, offset);

    const missedPackets: unknown[][] = [];
    const replayedIds: string[] = [];
    let last = offset;
    let read = 0;
    for (;;) {
      const entries = await deps.client.xRange(deps.stream, `(${last}`, '+', { COUNT: REPLAY_CHUNK });
      for (const entry of entries) {
        last = entry.id;
        if (entry.message.nsp !== deps.namespace) continue;
        const recoverable = recoverablePacket(decodeEntry(entry.message));
        if (recoverable && reaches(session.rooms, recoverable.opts)) {
          missedPackets.push([...recoverable.packet.data, entry.id]);
          replayedIds.push(entry.id);
        }
      }
      read += entries.length;
      if (entries.length < REPLAY_CHUNK) break;
      if (read > deps.maxEntries) throw new RestoreRefused('replay-too-long');
    }
    // Broadcasts delivered live since the last read; the stream read above already has the older ones.
    const later = [...live.entries()]
      .filter(([id, item]) => compareStreamIds(id, last) > 0 && reaches(session.rooms, item.opts))
      .sort(([a], [b]) => compareStreamIds(a, b));
    for (const [id, item] of later) {
      missedPackets.push(item.data);
      replayedIds.push(id);
    }
    // In the same synchronous step as closing the gap buffer: from here until `connection`, live packets
    // for these rooms are held for the socket instead.
    deps.restored.expect(session.sid, session.rooms, replayedIds, () => deps.sessions.putBack(session));
    return { ...session, missedPackets, replayedIds };
  } finally {
    deps.gap.close(live);
  }
}

/**
 * Entries after `offset` are all still in the stream unless the length cap evicted some. Age trimming is
 * harmless: it only removes entries older than the horizon, and a session that old has expired, so any
 * restorable client was still connected then and received them live.
 */
async function checkOffset(deps: ReplayDeps, offset: string): Promise<void> {
  let lastGenerated: string;
  try {
    const reply = (await deps.client.sendCommand(['XINFO', 'STREAM', deps.stream])) as unknown[];
    const at = reply.indexOf('last-generated-id');
    lastGenerated = String(reply[at + 1] ?? '0-0');
  } catch {
    throw new RestoreRefused('offset-unknown');
  }
  if (!isStreamId(lastGenerated) || compareStreamIds(offset, lastGenerated) > 0) {
    throw new RestoreRefused('offset-unknown');
  }
  if (compareStreamIds(offset, await deps.evictedBefore()) < 0) throw new RestoreRefused('offset-gone');
}
