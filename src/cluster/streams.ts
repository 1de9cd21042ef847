import type { Namespace, ServerOptions, Socket } from 'socket.io';
import type { BroadcastOptions } from 'socket.io-adapter';
import type { RedisClient, RedisConnection } from './redis.js';
import { SessionStore } from './session-store.js';
import { StreamHistory } from './stream-history.js';
import { StreamReader, type StreamReaderDeps } from './stream-reader.js';
import { StreamTrimmer } from './stream-trim.js';
import { RelayStreamsAdapter } from './streams-adapter.js';
import { STREAM_BASE, streamOf } from './wire.js';

/** Redis keys of cluster mode. The stream keeps the streams adapter's name and entry format. */
export const streamsKeys = {
  sessionPrefix: 'relay:session:',
  evictedBefore: 'relay:stream:evicted-before',
} as const;

/** Extra age kept beyond the session TTL, for packets in flight when a socket dropped. */
const HORIZON_SLACK_MS = 10_000;
/** How often the length cap is enforced (the stream may exceed it by one interval's publishes). */
const TRIM_INTERVAL_MS = 1_000;
/** How long this instance keeps what its reader read, for replays without a Redis read. */
const HISTORY_KEEP_MS = 60_000;
/** Most entries it keeps (a replay from further back reads Redis). */
const HISTORY_MAX_ENTRIES = 100_000;

export interface StreamsClusterOptions {
  recoveryWindowMs: number;
  /** Memory cap on each stream (`MAXLEN ~`), in entries. */
  maxEntries: number;
  /** Broadcast streams; namespaces are spread over them by a hash of their name. */
  streamCount: number;
}

/** Cluster mode: a Redis Streams adapter with crash-safe sessions and exact, time-bounded replay. */
export interface StreamsCluster {
  adapter: NonNullable<ServerOptions['adapter']>;
  /** The first connect step of every namespace: replays what a restored socket missed, tracks its session. */
  connected: (socket: Socket) => void;
  sessions: SessionStore;
  /** True once every stream reader has started, and while each reads (or waits out a Redis outage). */
  readerReady(): boolean;
  /**
   * Resolves true once the stream readers run; false after `timeoutMs`, or as soon as Redis turns out to
   * be unreachable: no other instance can publish then, so there is nothing to miss by serving at once.
   */
  waitForReader(timeoutMs: number): Promise<boolean>;
  /** Publishes a broadcast cluster-wide; rejects with RLY_ERR_CLUSTER when the stream refused it. */
  broadcast(nsp: Namespace, packet: { type: number; data: unknown[] }, opts: BroadcastOptions): Promise<void>;
  /** Sends every pending session write and waits for the answers. */
  flush(): Promise<void>;
  stop(): void;
}

/** What one stream needs, shared by the namespaces hashed onto it. */
interface StreamParts {
  history: StreamHistory;
  reader: StreamReader;
  trimmer: StreamTrimmer;
  adapters: Map<string, RelayStreamsAdapter>;
}

export function createStreamsCluster(
  redis: RedisConnection,
  opts: StreamsClusterOptions,
  deps: StreamReaderDeps & { batch: (socket: Socket, write: () => void) => void },
): StreamsCluster {
  const { client } = redis;
  const refreshMs = Math.min(30_000, Math.ceil(opts.recoveryWindowMs / 2));
  const sessions = new SessionStore(
    client,
    { keyPrefix: streamsKeys.sessionPrefix, recoveryWindowMs: opts.recoveryWindowMs, refreshMs },
    deps,
  );
  // Readers and the subscriber keep node-redis's offline queue (the main connection turns it off): while
  // Redis is away their commands wait for the reconnect instead of failing at once.
  const connection = async () => {
    const duplicate = client.duplicate({ disableOfflineQueue: false });
    duplicate.on('error', () => {});
    await duplicate.connect();
    return duplicate;
  };
  const subscriber = connection();
  subscriber.catch(() => {});
  const streams = new Map<string, StreamParts>();

  const partsOf = (stream: string): StreamParts => {
    let parts = streams.get(stream);
    if (parts) return parts;
    const history = new StreamHistory(
      { keepMs: HISTORY_KEEP_MS, maxEntries: HISTORY_MAX_ENTRIES },
      (after, upTo, count) => client.xRange(stream, `(${after}`, upTo, { COUNT: count }),
    );
    const trimmer = new StreamTrimmer(
      client,
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
    const adapters = new Map<string, RelayStreamsAdapter>();
    const reader = new StreamReader(
      client.duplicate({ disableOfflineQueue: false }),
      stream,
      history,
      (entry) => adapters.get(entry.message?.nsp ?? '')?.receive(entry),
      deps,
    );
    parts = { history, reader, trimmer, adapters };
    streams.set(stream, parts);
    trimmer.start();
    void trimmer.trim();
    void reader.run();
    return parts;
  };

  // Socket.IO calls the factory with `new`: it must be a function that returns the adapter instance.
  function adapter(nsp: Namespace) {
    const stream = streamOf(nsp.name, opts.streamCount);
    const parts = partsOf(stream);
    const instance = new RelayStreamsAdapter(nsp, {
      client,
      subscriber,
      stream,
      history: parts.history,
      sessions,
      trimHorizon: () => parts.trimmer.horizon(),
      lastGeneratedId: async () => lastGeneratedId(client, stream),
      evictedBefore: () => parts.trimmer.evictedBefore(),
      maxEntries: opts.maxEntries,
      recovers: opts.recoveryWindowMs > 0,
      batch: deps.batch,
      metrics: deps.metrics,
      log: deps.log,
    });
    parts.adapters.set(nsp.name, instance);
    return instance;
  }

  // After every (re)connection sessions are written again: writes failed while Redis was away, and a
  // restarted Redis may have lost them all.
  client.on('ready', () => {
    sessions.resync();
    for (const { trimmer } of streams.values()) void trimmer.trim();
  });
  sessions.start();

  // A reader that fails while Redis is away is not reported on its own: 'redis unavailable' says it.
  const readersRunning = () =>
    streams.size > 0 &&
    [...streams.values()].every((s) => s.history.started && (s.reader.healthy || !redis.isReady()));

  return {
    adapter: adapter as unknown as NonNullable<ServerOptions['adapter']>,
    connected: (socket) => (socket.nsp.adapter as unknown as RelayStreamsAdapter).connected(socket),
    sessions,
    readerReady: readersRunning,
    async waitForReader(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let unreachable = false;
      const onError = () => {
        unreachable = true;
      };
      client.once('error', onError);
      while (!readersRunning() && !unreachable && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      client.off('error', onError);
      return readersRunning();
    },
    broadcast: (nsp, packet, broadcastOpts) =>
      (nsp.adapter as unknown as RelayStreamsAdapter).publishBroadcast(packet, broadcastOpts),
    flush: () => sessions.flush(),
    stop() {
      sessions.stop();
      for (const { reader, trimmer } of streams.values()) {
        trimmer.stop();
        reader.stop();
      }
      void subscriber.then((s) => s.destroy()).catch(() => {});
    },
  };
}

/** The stream's last generated id: an offset after it was never handed out by this stream. */
async function lastGeneratedId(client: RedisClient, stream: string): Promise<string> {
  try {
    const reply = (await client.sendCommand(['XINFO', 'STREAM', stream])) as unknown[];
    const at = reply.indexOf('last-generated-id');
    return String(reply[at + 1] ?? '0-0');
  } catch {
    // No such stream yet: nothing was ever published.
    return '0-0';
  }
}
