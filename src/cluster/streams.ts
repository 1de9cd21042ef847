import { createAdapter } from '@socket.io/redis-streams-adapter';
import type { Namespace, ServerOptions, Socket } from 'socket.io';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { RedisConnection } from './redis.js';
import { type BroadcastMessage, GapBuffer, RestoreRefused, restoreSession } from './replay.js';
import { SessionStore, type StoredSession } from './session-store.js';
import { StreamTrimmer } from './stream-trim.js';

/** Redis keys of cluster mode. The stream keeps the streams adapter's name and entry format. */
export const streamsKeys = {
  stream: 'socket.io',
  sessionPrefix: 'relay:session:',
} as const;

/** A probe entry type no Socket.IO message uses: seeing our own probe proves the stream reader runs. */
const PROBE_TYPE = '99';
/** Extra age kept beyond the session TTL, for packets in flight when a socket dropped. */
const HORIZON_SLACK_MS = 10_000;

export interface StreamsClusterOptions {
  recoveryWindowMs: number;
  /** Memory cap on the stream (`MAXLEN ~`), in entries. */
  maxEntries: number;
}

/** Cluster mode: Socket.IO's Redis Streams adapter with crash-safe sessions, time-bounded gap-free replay. */
export interface StreamsCluster {
  adapter: NonNullable<ServerOptions['adapter']>;
  sessions: SessionStore;
  /** True once this instance has read its own probe back from the stream. */
  readerReady(): boolean;
  /** Resolves true once the stream reader runs, false after `timeoutMs`. */
  waitForReader(timeoutMs: number): Promise<boolean>;
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
  persistSession(session: StoredSession): void;
  restoreSession(pid: string, offset: string): Promise<unknown>;
  addAll(id: string, rooms: Set<string>): void;
  del(id: string, room: string): void;
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
  const trimmer = new StreamTrimmer(
    redis.client,
    {
      stream: streamsKeys.stream,
      horizonMs: opts.recoveryWindowMs + refreshMs + HORIZON_SLACK_MS,
      intervalMs: Math.min(5_000, Math.ceil(opts.recoveryWindowMs / 10)),
    },
    deps,
  );
  const stock = createAdapter(redis.client, { streamName: streamsKeys.stream, maxLen: opts.maxEntries });

  let readerSeen = false;
  let onReaderSeen: () => void = () => {};
  const readerSeenPromise = new Promise<void>((resolve) => {
    onReaderSeen = resolve;
  });
  let probing: NodeJS.Timeout | undefined;

  // Socket.IO calls the factory with `new`: it must be a function that returns the adapter instance.
  function adapter(nsp: Namespace) {
    const instance = stock(nsp) as unknown as AdapterInternals;
    enhance(instance, nsp);
    if (!probing) probing = startProbe(instance);
    return instance;
  }

  function enhance(instance: AdapterInternals, nsp: Namespace): void {
    const proto = Object.getPrototypeOf(instance) as AdapterInternals;
    const gap = new GapBuffer();
    const namespace = nsp.name;

    const onMessage = instance.onMessage.bind(instance);
    instance.onMessage = (message, offset) => {
      if (String(message.type) === PROBE_TYPE) {
        if (message.uid === instance.uid && !readerSeen) {
          readerSeen = true;
          onReaderSeen();
        }
        return;
      }
      gap.observe(message, offset);
      onMessage(message, offset);
    };
    const publishAndReturnOffset = instance.publishAndReturnOffset.bind(instance);
    instance.publishAndReturnOffset = async (message) => {
      const offset = await publishAndReturnOffset(message);
      // Our own broadcasts never come back through the reader; the gap buffer must see them here.
      gap.observe(message, offset);
      return offset;
    };

    instance.persistSession = (session) => sessions.persist(session);
    instance.restoreSession = async (pid, offset) => {
      try {
        const session = await restoreSession(
          {
            client: redis.client,
            stream: streamsKeys.stream,
            namespace,
            sessions,
            gap,
            horizon: () => trimmer.horizon(),
            maxEntries: opts.maxEntries,
          },
          pid,
          offset,
        );
        deps.metrics.replayedPackets.inc({ namespace }, session.missedPackets.length);
        return session;
      } catch (err) {
        const reason = err instanceof RestoreRefused ? err.reason : 'error';
        deps.metrics.recoveryFailures.inc({ namespace, reason });
        if (reason !== 'session-missing') {
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
    nsp.on('connection', (socket: Socket) => sessions.track(socket));
  }

  function startProbe(instance: AdapterInternals): NodeJS.Timeout {
    // The reader starts at "$" once its own connection is up; until our probe comes back, broadcasts
    // from other instances could be missed, so readiness waits for it.
    const probe = () => {
      if (readerSeen) return clearInterval(timer);
      redis.client
        .xAdd(streamsKeys.stream, '*', { uid: instance.uid, nsp: instance.nsp.name, type: PROBE_TYPE })
        .catch(() => deps.metrics.redisErrors.inc({ client: 'probe' }));
    };
    const timer = setInterval(probe, 100);
    timer.unref();
    probe();
    return timer;
  }

  sessions.start();
  trimmer.start();
  void trimmer.trim();

  return {
    adapter: adapter as unknown as NonNullable<ServerOptions['adapter']>,
    sessions,
    readerReady: () => readerSeen,
    async waitForReader(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const seen = await Promise.race([readerSeenPromise.then(() => true), timeout]);
      clearTimeout(timer);
      return seen;
    },
    flush: () => sessions.flush(),
    stop() {
      clearInterval(probing);
      sessions.stop();
      trimmer.stop();
    },
  };
}
