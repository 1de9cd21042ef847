import { createAdapter } from '@socket.io/redis-streams-adapter';
import type { Namespace, ServerOptions, Socket } from 'socket.io';
import { MessageType } from 'socket.io-adapter';
import { PacketType } from 'socket.io-parser';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { RedisConnection } from './redis.js';
import { type BroadcastMessage, RestoredSockets, RestoreRefused, restoreSession } from './replay.js';
import { SessionStore, type StoredSession } from './session-store.js';
import { SharedReads } from './shared-reads.js';
import { STREAM_BASE, streamOf } from './stream-names.js';
import { withGuardedReader } from './stream-reader.js';
import { StreamTrimmer } from './stream-trim.js';

/** Redis keys of cluster mode. The stream keeps the streams adapter's name and entry format. */
export const streamsKeys = {
  sessionPrefix: 'relay:session:',
  evictedBefore: 'relay:stream:evicted-before',
} as const;

/** A probe entry type no Socket.IO message uses: seeing our own probe proves the stream reader runs. */
const PROBE_TYPE = 99;
/** Extra age kept beyond the session TTL, for packets in flight when a socket dropped. */
const HORIZON_SLACK_MS = 10_000;
/** How often the length cap is enforced (the stream may exceed it by one interval's publishes). */
const TRIM_INTERVAL_MS = 1_000;

export interface StreamsClusterOptions {
  recoveryWindowMs: number;
  /** Memory cap on each stream (`MAXLEN ~`), in entries. */
  maxEntries: number;
  /** Broadcast streams; namespaces are spread over them by a hash of their name. */
  streamCount: number;
}

/** Cluster mode: Socket.IO's Redis Streams adapter with crash-safe sessions, time-bounded gap-free replay. */
export interface StreamsCluster {
  adapter: NonNullable<ServerOptions['adapter']>;
  sessions: SessionStore;
  /** True once this instance has read its own probe back from the stream. */
  readerReady(): boolean;
  /** Resolves true once the stream reader runs, false after `timeoutMs`. */
  /**
   * Resolves true once the stream reader runs; false after `timeoutMs`, or as soon as Redis turns out to
   * be unreachable: no other instance can publish then, so there is nothing to miss by serving at once.
   */
  waitForReader(timeoutMs: number): Promise<boolean>;
  /** True when the stream refused this broadcast packet (the adapter then delivers it locally only). */
  publishFailed(packet: object): boolean;
  /** Sends every pending session write and waits for the answers. */
  flush(): Promise<void>;
  stop(): void;
}

/** What this module needs of a ClusterAdapter instance beyond its public type. */
interface AdapterInternals {
  uid: string;
  nsp: Namespace;
  onMessage(message: BroadcastMessage & { uid?: string }, offset?: string): void;
  publishAndReturnOffset(message: BroadcastMessage): Promise<string>;
  doPublish(message: BroadcastMessage): Promise<string>;
  encode(message: BroadcastMessage): Record<string, string>;
  broadcast(packet: unknown, opts: { except: Set<string> }): Promise<void>;
  persistSession(session: StoredSession): void;
  restoreSession(pid: string, offset: string): Promise<unknown>;
  addAll(id: string, rooms: Set<string>): void;
  del(id: string, room: string): void;
}

/** Messages the streams adapter sends over Pub/Sub rather than the stream (same rule as the adapter). */
function isEphemeral(message: BroadcastMessage): boolean {
  if (message.type === MessageType.BROADCAST) return message.data?.requestId !== undefined;
  return message.type === MessageType.SERVER_SIDE_EMIT || message.type === MessageType.FETCH_SOCKETS;
}

/** Sends one recovered event packet to a socket, exactly as Socket.IO replays missed packets. */
function deliver(socket: Socket, data: unknown[]): void {
  (socket as unknown as { packet(packet: { type: number; data: unknown[] }): void }).packet({
    type: PacketType.EVENT,
    data,
  });
}

export function createStreamsCluster(
  redis: RedisConnection,
  opts: StreamsClusterOptions,
  deps: { metrics: Metrics; log: Logger },
): StreamsCluster {
  const refreshMs = Math.min(30_000, Math.ceil(opts.recoveryWindowMs / 2));
  const sessions = new SessionStore(
    redis.client,
    { keyPrefix: streamsKeys.sessionPrefix, recoveryWindowMs: opts.recoveryWindowMs, refreshMs },
    deps,
  );
  // One trimmer per stream in use: namespaces share a stream when they hash to the same one.
  const trimmers = new Map<string, StreamTrimmer>();
  const trimmerOf = (stream: string) => {
    let trimmer = trimmers.get(stream);
    if (!trimmer) {
      trimmer = new StreamTrimmer(
        redis.client,
        {
          stream,
          evictedKey:
            stream === STREAM_BASE ? streamsKeys.evictedBefore : `${streamsKeys.evictedBefore}:${stream}`,
          horizonMs: opts.recoveryWindowMs + refreshMs + HORIZON_SLACK_MS,
          maxEntries: opts.maxEntries,
          intervalMs: TRIM_INTERVAL_MS,
        },
        deps,
      );
      trimmers.set(stream, trimmer);
      trimmer.start();
      void trimmer.trim();
    }
    return trimmer;
  };
  // The stock MAXLEN trim at every XADD is replaced (see doPublish below); this value is never used.
  const stock = withGuardedReader(redis.client, deps, () =>
    createAdapter(redis.client, {
      streamName: STREAM_BASE,
      streamCount: opts.streamCount,
      maxLen: opts.maxEntries,
    }),
  );

  let readerSeen = false;
  let onReaderSeen: () => void = () => {};
  const readerSeenPromise = new Promise<void>((resolve) => {
    onReaderSeen = resolve;
  });
  let probeTimer: NodeJS.Timeout | undefined;
  /** The adapter whose uid the probe carries (the first namespace's). */
  let probeInstance: AdapterInternals | undefined;
  const failedPackets = new WeakSet<object>();

  // Socket.IO calls the factory with `new`: it must be a function that returns the adapter instance.
  function adapter(nsp: Namespace) {
    const instance = stock(nsp) as unknown as AdapterInternals;
    enhance(instance, nsp);
    if (!probeInstance) {
      probeInstance = instance;
      startProbe();
    }
    return instance;
  }

  function enhance(instance: AdapterInternals, nsp: Namespace): void {
    const proto = Object.getPrototypeOf(instance) as AdapterInternals;
    const restored = new RestoredSockets();
    const reads = new SharedReads();
    const namespace = nsp.name;
    const stream = streamOf(namespace, opts.streamCount);
    const trimmer = trimmerOf(stream);

    const doPublish = instance.doPublish.bind(instance);
    instance.doPublish = (message) => {
      if (isEphemeral(message)) return doPublish(message);
      // Trim by age at every write instead of by length: a burst cannot evict what a client still needs.
      return redis.client.xAdd(stream, '*', instance.encode(message), {
        TRIM: { strategy: 'MINID', strategyModifier: '~', threshold: trimmer.horizon() },
      });
    };

    // Our own broadcasts are delivered with the options object given to broadcast(); keep it reachable
    // from the published message so a restored socket can be excluded from its live delivery.
    const optsOfPacket = new WeakMap<object, { except: Set<string> }>();
    const broadcast = instance.broadcast.bind(instance);
    instance.broadcast = (packet, packetOpts) => {
      optsOfPacket.set(packet as object, packetOpts);
      return broadcast(packet, packetOpts);
    };

    const onMessage = instance.onMessage.bind(instance);
    instance.onMessage = (message, offset) => {
      if (message.type === PROBE_TYPE) {
        if (message.uid === instance.uid && !readerSeen) {
          readerSeen = true;
          onReaderSeen();
        }
        return;
      }
      // Our own broadcasts are delivered by publishAndReturnOffset below, never by the reader.
      if (message.uid !== instance.uid) {
        const except = restored.live(offset, message);
        if (except.length > 0) message.data?.opts?.except.push(...except);
      }
      onMessage(message, offset);
    };
    const publishAndReturnOffset = instance.publishAndReturnOffset.bind(instance);
    instance.publishAndReturnOffset = async (message) => {
      let offset: string;
      try {
        offset = await publishAndReturnOffset(message);
      } catch (err) {
        // The adapter swallows this and delivers locally; publish() turns it into a coded error ack.
        if (message.data?.packet) failedPackets.add(message.data.packet);
        deps.metrics.redisErrors.inc({ client: 'publish' });
        throw err;
      }
      // Our own broadcasts are delivered from here, not by the reader: restores must see them now.
      const packetOpts = message.data?.packet && optsOfPacket.get(message.data.packet);
      for (const socketId of restored.live(offset, message)) packetOpts?.except.add(socketId);
      return offset;
    };

    instance.persistSession = (session) => sessions.persist(session);
    instance.restoreSession = async (pid, offset) => {
      try {
        const session = await restoreSession(
          {
            client: redis.client,
            stream,
            namespace,
            sessions,
            restored,
            evictedBefore: () => trimmer.evictedBefore(),
            maxEntries: opts.maxEntries,
            reads,
          },
          pid,
          offset,
        );
        deps.metrics.replayedPackets.inc({ namespace }, session.missedPackets.length);
        return session;
      } catch (err) {
        const reason = err instanceof RestoreRefused ? err.reason : 'error';
        deps.metrics.recoveryFailures.inc({ namespace, reason });
        // Without Redis every restore fails; the connection has logged the outage once already.
        if (reason !== 'session-missing' && redis.isReady()) {
          deps.log.warn('connection state not recovered', { namespace, reason, offset, error: String(err) });
        }
        throw err;
      }
    };

    // Room changes from any source (built-ins, backends, remote socketsJoin) reach the session store.
    const changed = (id: string) => {
      const socket = nsp.sockets.get(id);
      if (socket) void sessions.save(socket);
    };
    instance.addAll = function addAll(id, rooms) {
      proto.addAll.call(this, id, rooms);
      changed(id);
    };
    instance.del = function del(id, room) {
      proto.del.call(this, id, room);
      changed(id);
    };
    nsp.on('connection', (socket: Socket) => {
      for (const data of restored.joined(socket.id)) deliver(socket, data);
      sessions.track(socket);
    });
  }

  function startProbe(): void {
    const instance = probeInstance;
    if (!instance) return;
    // The reader starts at "$" once its own connection is up; until our probe comes back, broadcasts
    // from other instances could be missed, so readiness waits for it.
    const probe = () => {
      if (readerSeen) return clearInterval(timer);
      if (!redis.isReady()) return;
      redis.client
        .xAdd(streamOf(instance.nsp.name, opts.streamCount), '*', {
          uid: instance.uid,
          nsp: instance.nsp.name,
          type: String(PROBE_TYPE),
        })
        .catch(() => deps.metrics.redisErrors.inc({ client: 'probe' }));
    };
    clearInterval(probeTimer);
    const timer = setInterval(probe, 100);
    timer.unref();
    probeTimer = timer;
    probe();
  }

  // After every (re)connection: the reader must prove itself again before readiness turns 200 (its own
  // connection may come back later than this one), and sessions are written again, since writes failed
  // while Redis was away and a restarted Redis may have lost them all.
  redis.client.on('ready', () => {
    sessions.resync();
    for (const trimmer of trimmers.values()) void trimmer.trim();
    if (readerSeen) {
      readerSeen = false;
      startProbe();
    }
  });
  sessions.start();

  return {
    adapter: adapter as unknown as NonNullable<ServerOptions['adapter']>,
    sessions,
    readerReady: () => readerSeen,
    async waitForReader(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      let unreachable = () => {};
      const giveUp = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
        unreachable = () => resolve(false);
        redis.client.once('error', unreachable);
      });
      const seen = await Promise.race([readerSeenPromise.then(() => true), giveUp]);
      clearTimeout(timer);
      redis.client.off('error', unreachable);
      return seen;
    },
    publishFailed: (packet) => failedPackets.has(packet),
    flush: () => sessions.flush(),
    stop() {
      clearInterval(probeTimer);
      sessions.stop();
      for (const trimmer of trimmers.values()) trimmer.stop();
    },
  };
}
