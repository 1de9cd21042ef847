import { decode } from '@msgpack/msgpack';
import type { RedisClient } from './redis.js';
import type { SessionStore, StoredSession } from './session-store.js';
import { compareStreamIds, isStreamId, streamIdTime } from './stream-ids.js';

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

const BROADCAST = 3;
const EVENT_PACKET = 2;
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

/** Only these broadcasts carry an offset and are stored for replay (same rule as Socket.IO's adapter). */
function recoverablePacket(message: BroadcastMessage) {
  if (message.type !== BROADCAST || message.data?.requestId !== undefined) return undefined;
  const packet = message.data?.packet;
  const opts = message.data?.opts;
  if (!packet || !opts || packet.type !== EVENT_PACKET || packet.id !== undefined) return undefined;
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
  /** Oldest stream time a restorable session can need (see StreamTrimmer). */
  horizon: () => number;
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
    for (const [, item] of later) missedPackets.push(item.data);
    // Returned synchronously after the merge: Socket.IO joins the rooms in the same microtask chain, so no
    // live broadcast can be delivered in between.
    return { ...session, missedPackets };
  } finally {
    deps.gap.close(live);
  }
}

/**
 * Entries after `offset` are all still in the stream unless something newer than `offset` was deleted.
 * Deletions older than the horizon are harmless: a session that old has expired, so any restorable client
 * was still connected then and received them. A recent deletion (the length cap hit) is not.
 */
async function checkOffset(deps: ReplayDeps, offset: string): Promise<void> {
  let info: Map<string, unknown>;
  try {
    const reply = (await deps.client.sendCommand(['XINFO', 'STREAM', deps.stream])) as unknown[];
    info = new Map();
    for (let i = 0; i + 1 < reply.length; i += 2) info.set(String(reply[i]), reply[i + 1]);
  } catch {
    throw new RestoreRefused('offset-unknown');
  }
  const lastGenerated = String(info.get('last-generated-id') ?? '0-0');
  const maxDeleted = String(info.get('max-deleted-entry-id') ?? '0-0');
  if (compareStreamIds(offset, lastGenerated) > 0) throw new RestoreRefused('offset-unknown');
  if (compareStreamIds(offset, maxDeleted) < 0 && streamIdTime(maxDeleted) >= deps.horizon()) {
    throw new RestoreRefused('offset-gone');
  }
}
