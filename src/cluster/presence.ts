import { FORGET_EMPTY } from './holdings.js';
import type { RedisClient } from './redis.js';

/**
 * Presence: which users are in a presence room, cluster-wide, counted by socket.
 *
 * A member is one socket in one presence room, held by one holding (`<instanceId>/<bootId>`, as in
 * holdings.ts). Its first socket in a room makes a user join it; its last one leaving makes the user leave.
 * Adding and removing are single atomic steps, so of all the instances racing on a user exactly one sees
 * the first join and exactly one the last leave, and only that one sends the event.
 */
export interface PresenceMember {
  namespace: string;
  room: string;
  socketId: string;
  userId: string;
}

/** A user in a presence room, with the number of their sockets in it. */
export interface PresentUser {
  userId: string;
  sockets: number;
}

export interface PresenceStore {
  /**
   * Counts the member for this holding; true when it is the user's first socket in the room. A member
   * already counted (a recovered socket, same id) is moved to this holding instead: no join.
   */
  add(member: PresenceMember): Promise<boolean>;
  /** Uncounts the member if this holding still holds it; true when it was the user's last socket there. */
  remove(member: Omit<PresenceMember, 'userId'>): Promise<boolean>;
  /** The users in a room, with their socket counts, sorted by user id. */
  list(namespace: string, room: string): Promise<PresentUser[]>;
  /**
   * A draining instance's members are kept for `ms` after it leaves the registry: its sockets were closed
   * for recovery, and those that come back elsewhere within it make no leave and no join.
   */
  retire(ms: number): Promise<void>;
  /** Ends the members of lost holdings (past their retirement), calling `onLeave` for each user whose last socket that ended. */
  sweep(
    liveHoldings: ReadonlySet<string>,
    onLeave: (member: PresenceMember) => void,
    onSwept?: (holding: string, leaves: number) => void,
  ): Promise<number>;
}

// One hash tag for every presence key: a join touches the members hash, a room hash and a holding's set
// at once, which a Redis Cluster allows only within one slot. The cost is that presence lives on one
// Redis Cluster node (docs/users.md#presence says so).
const TAG = 'relay:{presence}:';
/** `<nsp>\x1f<room>\x1f<socketId>` → `<holding>\0<userId>`: who holds each member, and whose it is. */
const MEMBERS_KEY = `${TAG}members`;
/** Holdings that have members (the sweep's list). */
const HOLDINGS_KEY = `${TAG}holdings`;
const HELD_PREFIX = `${TAG}held:`;
const ROOM_PREFIX = `${TAG}room:`;
const RETIRED_PREFIX = `${TAG}retired:`;
const SEP = '\x1f';
const heldKey = (holding: string) => `${HELD_PREFIX}${holding}`;
// Namespace names cannot hold \x1f (config/namespaces.ts) and socket ids are base64: the room is what
// lies between the first and the last separator, whatever it contains.
const roomKey = (namespace: string, room: string) => `${ROOM_PREFIX}${namespace}${SEP}${room}`;
const fieldOf = (m: Omit<PresenceMember, 'userId'>) => `${m.namespace}${SEP}${m.room}${SEP}${m.socketId}`;
function parseField(field: string): Omit<PresenceMember, 'userId'> {
  const first = field.indexOf(SEP);
  const last = field.lastIndexOf(SEP);
  return {
    namespace: field.slice(0, first),
    room: field.slice(first + 1, last),
    socketId: field.slice(last + 1),
  };
}
/** Members ended per round trip when a lost holding is swept. */
const SWEEP_BATCH = 200;

// KEYS: members, room, my held set, holdings. ARGV: field, my holding, userId, held prefix.
// Returns 1 when the user's count in the room went from 0 to 1.
const ADD = `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '\\0' .. ARGV[3])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[2])
if prev then
  local holder = string.sub(prev, 1, string.find(prev, '\\0', 1, true) - 1)
  if holder ~= ARGV[2] then redis.call('SREM', ARGV[4] .. holder, ARGV[1]) end
  return 0
end
if redis.call('HINCRBY', KEYS[2], ARGV[3], 1) == 1 then return 1 end
return 0`;

// KEYS: members, room, the holding's held set. ARGV: field, the holding.
// Returns the user id when its count in the room fell to 0, false otherwise (or when another holding has
// taken the member over: a recovered socket is not ended by its old instance).
const REMOVE = `
redis.call('SREM', KEYS[3], ARGV[1])
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if not prev then return false end
local sep = string.find(prev, '\\0', 1, true)
if string.sub(prev, 1, sep - 1) ~= ARGV[2] then return false end
local user = string.sub(prev, sep + 1)
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HINCRBY', KEYS[2], user, -1) <= 0 then
  redis.call('HDEL', KEYS[2], user)
  return user
end
return false`;

/** Presence in Redis, shared by every instance of the cluster. */
export function createRedisPresence(client: RedisClient, holdingId: string): PresenceStore {
  const remove = async (m: Omit<PresenceMember, 'userId'>, holding: string) => {
    const user = await client.eval(REMOVE, {
      keys: [MEMBERS_KEY, roomKey(m.namespace, m.room), heldKey(holding)],
      arguments: [fieldOf(m), holding],
    });
    return typeof user === 'string' ? user : undefined;
  };
  return {
    async add(m) {
      const first = await client.eval(ADD, {
        keys: [MEMBERS_KEY, roomKey(m.namespace, m.room), heldKey(holdingId), HOLDINGS_KEY],
        arguments: [fieldOf(m), holdingId, m.userId, HELD_PREFIX],
      });
      return first === 1;
    },
    async remove(m) {
      return (await remove(m, holdingId)) !== undefined;
    },
    async list(namespace, room) {
      const counts = await client.hGetAll(roomKey(namespace, room));
      return toUsers(Object.entries(counts).map(([userId, n]) => [userId, Number(n)]));
    },
    async retire(ms) {
      await client.set(`${RETIRED_PREFIX}${holdingId}`, '1', { PX: ms });
    },
    async sweep(liveHoldings, onLeave, onSwept) {
      let left = 0;
      for (const holding of await client.sMembers(HOLDINGS_KEY)) {
        if (holding === holdingId || liveHoldings.has(holding)) continue;
        if ((await client.exists(`${RETIRED_PREFIX}${holding}`)) === 1) continue;
        const before = left;
        for (;;) {
          const fields = await client.sRandMemberCount(heldKey(holding), SWEEP_BATCH);
          if (fields.length === 0) {
            const forgotten = await client.eval(FORGET_EMPTY, {
              keys: [HOLDINGS_KEY, heldKey(holding)],
              arguments: [holding],
            });
            if (forgotten === 1) {
              onSwept?.(holding, left - before);
              break;
            }
            continue;
          }
          const members = fields.map(parseField);
          const users = await Promise.all(members.map((m) => remove(m, holding)));
          users.forEach((userId, i) => {
            if (userId === undefined) return;
            left++;
            onLeave({ ...(members[i] as Omit<PresenceMember, 'userId'>), userId });
          });
        }
      }
      return left;
    },
  };
}

/** Presence of a single node (no Redis): the same contract, in this process. */
export function createMemoryPresence(): PresenceStore {
  const members = new Map<string, string>();
  const rooms = new Map<string, Map<string, number>>();
  return {
    async add(m) {
      const field = fieldOf(m);
      if (members.has(field)) return false;
      members.set(field, m.userId);
      const key = roomKey(m.namespace, m.room);
      const counts = rooms.get(key) ?? new Map<string, number>();
      rooms.set(key, counts);
      const n = (counts.get(m.userId) ?? 0) + 1;
      counts.set(m.userId, n);
      return n === 1;
    },
    async remove(m) {
      const field = fieldOf(m);
      const userId = members.get(field);
      if (userId === undefined) return false;
      members.delete(field);
      const key = roomKey(m.namespace, m.room);
      const counts = rooms.get(key);
      const n = (counts?.get(userId) ?? 1) - 1;
      if (n > 0) {
        counts?.set(userId, n);
        return false;
      }
      counts?.delete(userId);
      if (counts?.size === 0) rooms.delete(key);
      return true;
    },
    async list(namespace, room) {
      return toUsers([...(rooms.get(roomKey(namespace, room)) ?? new Map<string, number>())]);
    },
    async retire() {},
    async sweep() {
      return 0;
    },
  };
}

function toUsers(entries: Array<[string, number]>): PresentUser[] {
  return entries
    .filter(([, n]) => n > 0)
    .map(([userId, sockets]) => ({ userId, sockets }))
    .sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
}
