import { decode } from '@msgpack/msgpack';
import { MessageType } from 'socket.io-adapter';
import { PacketType } from 'socket.io-parser';
import type { RedisClient } from './redis.js';
import type { SessionStore, StoredSession } from './session-store.js';
import type { SharedReads } from './shared-reads.js';
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

/** How long a restored socket is shielded from live copies of what it was replayed. */
const REPLAYED_FILTER_MS = 30_000;
/** A restored socket that has not connected by then never will; its session is put back. */
const JOIN_DEADLINE_MS = 10_000;

type LiveItem = { data: unknown[]; opts: EncodedOpts };
/** A restore reading the stream, as the live log knows it. */
type LiveReader = symbol;
type JoiningState = { rooms: string[]; replayed: Set<string>; held: Map<string, unknown[]> };

/**
 * Live broadcasts around restores, in three phases, so that a restored socket gets every packet once:
 * 1. While a restore reads the stream, live packets are collected and merged with the read by stream id.
 * 2. Between the merge and Socket.IO's `connection` (rooms joined), a live packet may be delivered before
 *    or after the join, a race of microtasks: each one for the socket's rooms excludes the socket and is
 *    held, then handed over at `connection`, in stream order.
 * 3. Afterwards, live copies of replayed packets (a restore reads the stream ahead of this instance's
 *    reader) stay excluded for a while.
 * `live()` runs for every broadcast this instance delivers; with no restore around it returns at once.
 */
export class RestoredSockets {
  /**
   * Phase 1: one log of live packets shared by every restore reading the stream, kept while any reads;
   * each reader remembers where it started. Readers start in order, so the first one left started first.
   */
  readonly #log: Array<[string, LiveItem]> = [];
  #logStart = 0;
  readonly #readers = new Map<LiveReader, number>();
  readonly #joining = new Map<string, JoiningState>();
  /** Phase 2, by room: the joining sockets in it (a packet only has to look at its own rooms). */
  readonly #joiningByRoom = new Map<string, Set<string>>();
  /** Phase 3, by stream id: the sockets that already got that packet. */
  readonly #replayedTo = new Map<string, Set<string>>();

  /** Phase 1: live packets from now on are kept until `stopReading`. */
  startReading(): LiveReader {
    const reader: LiveReader = Symbol('reader');
    this.#readers.set(reader, this.#logStart + this.#log.length);
    return reader;
  }

  /** The live packets since `reader` started, in arrival order. */
  readSince(reader: LiveReader): Array<[string, LiveItem]> {
    const start = this.#readers.get(reader);
    return start === undefined ? [] : this.#log.slice(start - this.#logStart);
  }

  stopReading(reader: LiveReader): void {
    this.#readers.delete(reader);
    const first = this.#readers.values().next();
    const keepFrom = first.done ? this.#logStart + this.#log.length : first.value;
    this.#log.splice(0, keepFrom - this.#logStart);
    this.#logStart = keepFrom;
  }

  /**
   * Phase 2, entered at the merge (in the same synchronous step as `stopReading`), before Socket.IO
   * creates the socket and joins `rooms`. `abandoned` runs if the socket never connects (its handshake
   * died after the session was taken).
   */
  expect(socketId: string, rooms: string[], replayedIds: readonly string[], abandoned: () => void): void {
    const state: JoiningState = { rooms, replayed: new Set(replayedIds), held: new Map() };
    this.#joining.set(socketId, state);
    for (const room of rooms) addTo(this.#joiningByRoom, room, socketId);
    setTimeout(() => {
      if (this.#joining.get(socketId) !== state) return;
      this.#forgetJoining(socketId, state);
      abandoned();
    }, JOIN_DEADLINE_MS).unref();
  }

  /** Called with every broadcast before its live delivery: the sockets to add to its `except`. */
  live(offset: string | undefined, message: BroadcastMessage): string[] {
    if (!offset || (this.#readers.size === 0 && this.#joining.size === 0 && this.#replayedTo.size === 0))
      return [];
    const replayedTo = this.#replayedTo.get(offset);
    const excluded = replayedTo ? [...replayedTo] : [];
    const recoverable = recoverablePacket(message);
    if (!recoverable) return excluded;
    // Copy: the live path appends the offset to this very array after us.
    const data = [...recoverable.packet.data, offset];
    if (this.#readers.size > 0) this.#log.push([offset, { data, opts: recoverable.opts }]);
    if (this.#joining.size === 0) return excluded;
    for (const socketId of this.#joiningReached(recoverable.opts)) {
      const state = this.#joining.get(socketId) as JoiningState;
      if (!reaches(state.rooms, recoverable.opts)) continue;
      excluded.push(socketId);
      if (!state.replayed.has(offset)) state.held.set(offset, data);
    }
    return excluded;
  }

  /** Called at `connection`: the packets held for this socket, in stream order. */
  joined(socketId: string): unknown[][] {
    const state = this.#joining.get(socketId);
    if (!state) return [];
    this.#forgetJoining(socketId, state);
    const ids = [...state.replayed, ...state.held.keys()];
    for (const id of ids) addTo(this.#replayedTo, id, socketId);
    setTimeout(() => {
      for (const id of ids) {
        const sockets = this.#replayedTo.get(id);
        sockets?.delete(socketId);
        if (sockets?.size === 0) this.#replayedTo.delete(id);
      }
    }, REPLAYED_FILTER_MS).unref();
    return [...state.held.entries()].sort(([a], [b]) => compareStreamIds(a, b)).map(([, data]) => data);
  }

  /** Joining sockets a packet for these rooms may reach: all of them for a namespace-wide packet. */
  #joiningReached(opts: EncodedOpts): Iterable<string> {
    if (opts.rooms.length === 0) return this.#joining.keys();
    if (opts.rooms.length === 1) return this.#joiningByRoom.get(opts.rooms[0] as string) ?? [];
    const reached = new Set<string>();
    for (const room of opts.rooms) for (const id of this.#joiningByRoom.get(room) ?? []) reached.add(id);
    return reached;
  }

  #forgetJoining(socketId: string, state: JoiningState): void {
    this.#joining.delete(socketId);
    for (const room of state.rooms) {
      const members = this.#joiningByRoom.get(room);
      members?.delete(socketId);
      if (members?.size === 0) this.#joiningByRoom.delete(room);
    }
  }
}

function addTo(index: Map<string, Set<string>>, key: string, value: string): void {
  const set = index.get(key);
  if (set) set.add(value);
  else index.set(key, new Set([value]));
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
  restored: RestoredSockets;
  /** Entries before this id may have been evicted by the length cap (see StreamTrimmer). */
  evictedBefore: () => Promise<string>;
  /** Most stream entries one restore may read (the stream's length cap). */
  maxEntries: number;
  /** Reads shared with the other restores in flight. */
  reads: SharedReads;
}

/** A stream entry as a restore needs it, decoded once however many restores read it. */
interface ReplayEntry {
  id: string;
  nsp: string | undefined;
  recoverable: ReturnType<typeof recoverablePacket>;
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
  const live = deps.restored.startReading();
  const since = deps.reads.start();
  try {
    const session = await deps.sessions.take(pid);
    if (!session) throw new RestoreRefused('session-missing');
    await checkOffset(deps, offset, since);

    const missedPackets: unknown[][] = [];
    const replayedIds: string[] = [];
    let last = offset;
    let read = 0;
    for (;;) {
      const entries = await readChunk(deps, last, since);
      for (const { id, nsp, recoverable } of entries) {
        last = id;
        if (nsp !== deps.namespace) continue;
        if (recoverable && reaches(session.rooms, recoverable.opts)) {
          missedPackets.push([...recoverable.packet.data, id]);
          replayedIds.push(id);
        }
      }
      read += entries.length;
      if (entries.length < REPLAY_CHUNK) break;
      if (read > deps.maxEntries) throw new RestoreRefused('replay-too-long');
    }
    // Broadcasts delivered live since the last read; the stream read above already has the older ones.
    const later = deps.restored
      .readSince(live)
      .filter(([id, item]) => compareStreamIds(id, last) > 0 && reaches(session.rooms, item.opts))
      .sort(([a], [b]) => compareStreamIds(a, b));
    for (const [id, item] of later) {
      missedPackets.push(item.data);
      replayedIds.push(id);
    }
    // In the same synchronous step as stopReading (finally, below): from here until `connection`, live
    // packets for these rooms are held for the socket instead.
    deps.restored.expect(session.sid, session.rooms, replayedIds, () => deps.sessions.putBack(session));
    return { ...session, missedPackets, replayedIds };
  } finally {
    deps.restored.stopReading(live);
  }
}

/** Up to REPLAY_CHUNK entries after `after`, decoded. */
function readChunk(deps: ReplayDeps, after: string, since: number): Promise<ReplayEntry[]> {
  return deps.reads.get(`xrange ${deps.stream} ${after}`, since, async () => {
    const entries = await deps.client.xRange(deps.stream, `(${after}`, '+', { COUNT: REPLAY_CHUNK });
    return entries.map(({ id, message }) => ({
      id,
      nsp: message.nsp,
      recoverable: recoverablePacket(decodeEntry(message)),
    }));
  });
}

/**
 * Entries after `offset` are all still in the stream unless the length cap evicted some. Age trimming is
 * harmless: it only removes entries older than the horizon, and a session that old has expired, so any
 * restorable client was still connected then and received them live.
 */
async function checkOffset(deps: ReplayDeps, offset: string, since: number): Promise<void> {
  let lastGenerated: string;
  try {
    const reply = (await deps.reads.get(`xinfo ${deps.stream}`, since, () =>
      deps.client.sendCommand(['XINFO', 'STREAM', deps.stream]),
    )) as unknown[];
    const at = reply.indexOf('last-generated-id');
    lastGenerated = String(reply[at + 1] ?? '0-0');
  } catch {
    throw new RestoreRefused('offset-unknown');
  }
  if (!isStreamId(lastGenerated) || compareStreamIds(offset, lastGenerated) > 0) {
    throw new RestoreRefused('offset-unknown');
  }
  const evictedBefore = await deps.reads.get(`evicted ${deps.stream}`, since, deps.evictedBefore);
  if (compareStreamIds(offset, evictedBefore) < 0) throw new RestoreRefused('offset-gone');
}
