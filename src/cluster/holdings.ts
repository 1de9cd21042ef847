import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { RedisClient } from './redis.js';

/**
 * Which instance holds which socket of a namespace with a backend, so that the disconnect of every socket
 * reaches the backend exactly once, even when its instance dies.
 *
 * A holding id is `<instanceId>/<bootId>`: a restarted instance is a new holding, so the sockets of its
 * previous life are found lost like those of any dead instance. Every end of a holding goes through one
 * atomic compare-and-delete in Redis, and only the caller that wins it sends the disconnect.
 */
export interface HeldSocket {
  id: string;
  namespace: string;
  /** The holding id of the instance that holds it. */
  holder: string;
  instanceId: string;
  rooms: string[];
  data: unknown;
}

export interface Holdings {
  readonly holdingId: string;
  /**
   * Records that this instance holds the socket (again: refreshes rooms and data). Resolves with the
   * record of a previous holding elsewhere that ended without a disconnect being sent, for the caller to
   * send it now; at most one caller ever gets a given holding's record.
   */
  claim(socket: Omit<HeldSocket, 'holder' | 'instanceId'>): Promise<HeldSocket | undefined>;
  /** Ends this instance's holding of the socket; resolves with its record when this call ended it. */
  release(socketId: string): Promise<HeldSocket | undefined>;
  /** Finds holdings of lost instances and ends them, calling `onLost` for each socket this call ended. */
  sweep(liveHoldings: ReadonlySet<string>, onLost: (socket: HeldSocket) => void): Promise<number>;
}

// One hash tag for every holdings key: the scripts touch several of them, which a Redis Cluster allows
// only within one slot.
const HOLDERS_KEY = 'relay:{holdings}:holders';
const HOLDINGS_KEY = 'relay:{holdings}:list';
const HELD_PREFIX = 'relay:{holdings}:held:';
const heldKey = (holding: string) => `${HELD_PREFIX}${holding}`;
/** Sockets ended per round trip when a lost instance's holdings are swept. */
const SWEEP_BATCH = 200;

const CLAIM = `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
if prev and cjson.decode(prev).holder ~= ARGV[2] then
  redis.call('SREM', ARGV[4] .. cjson.decode(prev).holder, ARGV[1])
  return prev
end
return false`;

/**
 * Drops a holder (ARGV[1]) from a list (KEYS[1]) only once its set (KEYS[2]) is empty: a claim landing
 * during a sweep (from an instance wrongly found lost) is then swept in a later round, not orphaned.
 * Presence sweeps its holders the same way.
 */
export const FORGET_EMPTY = `
if redis.call('SCARD', KEYS[2]) > 0 then return 0 end
redis.call('SREM', KEYS[1], ARGV[1])
return 1`;

const RELEASE = `
redis.call('SREM', KEYS[2], ARGV[1])
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if rec and cjson.decode(rec).holder == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return rec
end
return false`;

export function createHoldings(
  client: RedisClient,
  self: { instanceId: string; bootId: string },
  deps: { log: Logger; metrics: Metrics },
): Holdings {
  const holdingId = holdingIdOf(self);

  const release = async (socketId: string, holding: string) => {
    const rec = await client.eval(RELEASE, {
      keys: [HOLDERS_KEY, heldKey(holding)],
      arguments: [socketId, holding],
    });
    return typeof rec === 'string' ? (JSON.parse(rec) as HeldSocket) : undefined;
  };

  /** Drops a holding from the list if nothing is held in it any more. */
  const forget = async (holding: string) =>
    (await client.eval(FORGET_EMPTY, { keys: [HOLDINGS_KEY, heldKey(holding)], arguments: [holding] })) === 1;

  return {
    holdingId,
    async claim(socket) {
      const record: HeldSocket = { ...socket, holder: holdingId, instanceId: self.instanceId };
      const prev = await client.eval(CLAIM, {
        keys: [HOLDERS_KEY, heldKey(holdingId), HOLDINGS_KEY],
        arguments: [socket.id, holdingId, JSON.stringify(record), HELD_PREFIX],
      });
      return typeof prev === 'string' ? (JSON.parse(prev) as HeldSocket) : undefined;
    },
    release: (socketId) => release(socketId, holdingId),
    async sweep(liveHoldings, onLost) {
      let ended = 0;
      for (const holding of await client.sMembers(HOLDINGS_KEY)) {
        if (holding === holdingId || liveHoldings.has(holding)) continue;
        let endedHere = 0;
        for (;;) {
          const ids = await client.sRandMemberCount(heldKey(holding), SWEEP_BATCH);
          if (ids.length === 0 && (await forget(holding))) break;
          const records = await Promise.all(ids.map((id) => release(id, holding)));
          for (const rec of records) {
            if (!rec) continue;
            endedHere++;
            deps.metrics.lostDisconnects.inc({ namespace: rec.namespace });
            onLost(rec);
          }
        }
        deps.log.info('lost instance swept', { holding, sockets: endedHere });
        ended += endedHere;
      }
      return ended;
    },
  };
}

/** The id of one life (boot) of an instance: what holds sockets, and what the registry lists as live. */
export function holdingIdOf(instance: { instanceId: string; bootId: string }): string {
  return `${instance.instanceId}/${instance.bootId}`;
}

/**
 * Every heartbeat, runs `sweep` with the live holdings (it ends what lost instances held: backend sockets,
 * presence); returns a stop function.
 */
export function sweepLostInstances(
  sweep: (liveHoldings: ReadonlySet<string>) => Promise<void>,
  liveHoldings: () => Promise<Set<string>>,
  intervalMs: number,
  onError: (err: unknown) => void,
): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    liveHoldings()
      .then(sweep)
      .catch(onError)
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
