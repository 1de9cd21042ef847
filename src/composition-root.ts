import { randomUUID } from 'node:crypto';
import { Server, type Socket } from 'socket.io';
import { Adapter } from 'socket.io-adapter';
import { activityTotals, localTopRooms } from './admin/activity.js';
import { createAdminApp } from './admin/app.js';
import { createHoldings, type Holdings, holdingIdOf, sweepLostInstances } from './cluster/holdings.js';
import { RelayMemoryAdapter } from './cluster/memory-adapter.js';
import { createMemoryPresence, createRedisPresence } from './cluster/presence.js';
import { createPubSubCluster } from './cluster/pubsub.js';
import { connectRedis, type RedisConnection } from './cluster/redis.js';
import {
  createMemoryRegistry,
  createRedisRegistry,
  heartbeatMs,
  type InstanceInfo,
  type InstanceRegistry,
} from './cluster/registry.js';
import { connectSentinel } from './cluster/sentinel.js';
import { createStreamsCluster } from './cluster/streams.js';
import { usesRedis } from './config/load.js';
import type { RelayConfig } from './config/schema.js';
import { ErrorCodes, RelayError } from './errors.js';
import { dropConnection, namespacesOf } from './internals.js';
import { createDrainer } from './lifecycle/drain.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics } from './metrics/registry.js';
import { loadDemoPage } from './pages/pages.js';
import { createAdmission } from './relay/admission.js';
import { createBackends } from './relay/backends.js';
import { closeAtRate, connections, drainRate } from './relay/disconnect.js';
import { setupNamespaces } from './relay/namespaces.js';
import { limitConnects, socketCount } from './relay/one-socket.js';
import { createRelayOps } from './relay/ops.js';
import {
  announce,
  createNamespacePresence,
  type NamespacePresence,
  PRESENCE_LEAVE,
} from './relay/presence.js';
import { assertRoom } from './relay/validate.js';
import { createTransport } from './transport/transport.js';
import { createHttpUpstream } from './upstream/http.js';
import { createQueueUpstream } from './upstream/queue.js';
import { replyChannel } from './upstream/queue-protocol.js';
import { createReplyRouter, type ReplyRouter } from './upstream/replies.js';
import { instrument, type Upstream } from './upstream/upstream.js';

/** How long start() waits for the cluster's stream reader before serving anyway. */
const READER_WAIT_MS = 10_000;
/** Server-side event asking the instance it names to drain itself. */
const DRAIN_EVENT = 'relay:drain';

export interface Relay {
  /** Binds the public and admin ports; resolves with the ports actually bound. */
  start(): Promise<{ port: number; adminPort: number }>;
  /** Graceful drain in the contract's order; resolves with the exit code (0: clean). Idempotent. */
  drain(reason: string): Promise<number>;
  /** Resolves with the exit code once a drain, however started (signal or admin), has finished. */
  readonly drained: Promise<number>;
}

/**
 * The composition root: builds every module from the validated config and wires them together, in the
 * order they depend on each other. The drain's steps, the namespaces' pipeline (relay/namespaces.ts) and
 * readiness are each listed in one place.
 */
export async function createRelay(
  config: RelayConfig,
  log: Logger = createLogger(config.instanceId),
): Promise<Relay> {
  const startedAt = Date.now();
  const bootId = randomUUID().slice(0, 8);
  const holdingId = holdingIdOf({ instanceId: config.instanceId, bootId });
  const metrics = createMetrics({ instanceId: config.instanceId, transport: config.transport });
  const drainer = createDrainer({ timeoutMs: config.drainTimeoutMs, log });

  // Redis and the cluster bus.
  const sentinelTarget =
    config.redisSentinel && config.redisSentinelName
      ? { nodes: config.redisSentinel, name: config.redisSentinelName, url: config.redisUrl }
      : undefined;
  const sentinel = sentinelTarget
    ? {
        ...sentinelTarget,
        client: await connectSentinel(sentinelTarget, { disableOfflineQueue: true }, { log, metrics }),
      }
    : undefined;
  const redis = usesRedis(config)
    ? connectRedis({ url: config.redisUrl, sentinel, cluster: config.redisCluster }, { log, metrics })
    : undefined;
  const transport = await createTransport(config.transport);
  const admission = createAdmission(config, drainer.isDraining, metrics);
  const cluster =
    redis && config.adapter === 'streams'
      ? createStreamsCluster(
          redis,
          {
            recoveryWindowMs: config.recoveryWindowMs,
            maxEntries: config.recoveryMaxEntries,
            streamCount: config.streamCount,
          },
          {
            metrics,
            log,
            batch: (socket, write) => transport.batch(socket, write),
            together: (deliver) => transport.together(deliver),
            storm: () => admission.arriving() || drainer.isDraining(),
          },
        )
      : undefined;
  const pubsub =
    redis && config.adapter !== 'streams'
      ? createPubSubCluster(redis, { sharded: config.adapter === 'sharded-pubsub' }, { metrics })
      : undefined;
  const adapterName = redis ? config.adapter : 'memory';
  // Recovery needs a stored history: Streams and the single-node in-memory adapter keep one, Pub/Sub does not.
  const recoverable = pubsub === undefined && config.recoveryWindowMs > 0;

  // Socket.IO on the public transport.
  const io = new Server({
    // Single-node: the in-memory adapter, keeping sessions and packets only when clients may recover.
    adapter: cluster ? cluster.adapter : pubsub ? pubsub.adapter : recoverable ? RelayMemoryAdapter : Adapter,
    ...(recoverable
      ? {
          connectionStateRecovery: {
            maxDisconnectionDuration: config.recoveryWindowMs,
            skipMiddlewares: true,
          },
        }
      : {}),
    path: config.path,
    pingInterval: config.pingIntervalMs,
    pingTimeout: config.pingTimeoutMs,
    connectTimeout: config.connectTimeoutMs,
    // The one gate for new handshakes (draining, capacity, origin), even on an open keep-alive connection.
    allowRequest: admission.allowRequest,
    // Engine.IO applies it to WebSocket frames (both transports) and to polling bodies.
    maxHttpBufferSize: config.maxPayload,
    ...(config.corsOrigin ? { cors: { origin: [...config.corsOrigin], credentials: true } } : {}),
  });
  admission.count({
    connections: () => io.engine.clientsCount,
    sockets: () => socketCount(namespacesOf(io)),
  });
  transport.attach(io, loadDemoPage(config.path), {
    maxBytes: config.maxBackpressure,
    onSlowConsumer: ({ engineId, engine, bufferedBytes }) => {
      metrics.slowConsumers.inc({ engine });
      log.warn('slow consumer dropped', {
        code: ErrorCodes.SLOW_CONSUMER,
        engineId,
        engine,
        bufferedBytes,
        maxBackpressure: config.maxBackpressure,
      });
    },
  });
  limitConnects(io.engine);

  const clusterReady = () => (redis ? redis.isReady() : true);
  const ops = createRelayOps(io, config, {
    metrics,
    clusterReady,
    ...(cluster ? { broadcast: cluster.broadcast } : {}),
  });
  const saveSession =
    cluster && recoverable ? (socket: Socket) => cluster.sessions.save(socket) : async () => {};

  // Backends: sockets of namespaces with an upstream are held in Redis so every disconnect reaches them.
  const upstreamConfigs = Object.values(config.namespaces).flatMap((p) => (p.upstream ? [p.upstream] : []));
  let liveHoldings = new Set<string>();
  const holdings: Holdings | undefined =
    redis && upstreamConfigs.length > 0
      ? createHoldings(redis.client, { instanceId: config.instanceId, bootId }, { log, metrics })
      : undefined;
  const replies =
    redis && upstreamConfigs.some((u) => u.kind === 'queue')
      ? createReplyRouter(redis.client, replyChannel(holdingId), { metrics })
      : undefined;
  const backends = createBackends({
    instanceId: config.instanceId,
    ops,
    log,
    holdings,
    liveHoldings: () => liveHoldings,
    saveSession,
    verifiesTokens: config.jwtSecret !== undefined || config.jwtJwksUrl !== undefined,
  });
  const upstreams: Upstream[] = [];
  const backendOf = (namespace: string) => {
    const upstream = config.namespaces[namespace]?.upstream;
    if (!upstream) return undefined;
    const raw =
      upstream.kind === 'http'
        ? createHttpUpstream(upstream, (open) => metrics.upstreamCircuitOpen.set({ namespace }, open ? 1 : 0))
        : // checkCombinations guarantees Redis for a queue upstream.
          createQueueUpstream(upstream, {
            client: (redis as RedisConnection).client,
            replies: replies as ReplyRouter,
          });
    upstreams.push(raw);
    return backends.attach(namespace, instrument(raw, namespace, metrics), {
      authorizeJoin: upstream.authorizeJoin,
    });
  };

  // Presence: counted in Redis by holding (this boot), so a lost instance's members can be ended.
  const presenceStore = redis ? createRedisPresence(redis.client, holdingId) : createMemoryPresence();
  const presences = new Map<string, NamespacePresence>();
  for (const [name, policy] of Object.entries(config.namespaces)) {
    if (policy.presence.length === 0) continue;
    presences.set(
      name,
      createNamespacePresence(io.of(name), policy.presence, {
        store: presenceStore,
        ops,
        log,
        metrics,
        keepMs: recoverable ? config.recoveryWindowMs : 0,
      }),
    );
  }
  const hasPresence = presences.size > 0;

  setupNamespaces(io, config, {
    ops,
    metrics,
    log,
    saveSession,
    atCapacity: admission.socketsAtCapacity,
    replay: cluster?.connected,
    transportConnected: transport.connected,
    backendOf,
    presenceOf: (namespace) => presences.get(namespace),
  });

  // The cluster's view of this instance, and the lost-instance sweep it drives.
  const self = async (): Promise<InstanceInfo> => {
    const local = ops.localStats();
    return {
      instanceId: config.instanceId,
      bootId,
      transport: config.transport,
      adapter: adapterName,
      connections: local.connections,
      draining: drainer.isDraining(),
      startedAt: new Date(startedAt).toISOString(),
      lastSeen: new Date().toISOString(),
      rooms: local.rooms,
      ...(await activityTotals(metrics)),
      topRooms: localTopRooms(io),
    };
  };
  const registry: InstanceRegistry = redis
    ? createRedisRegistry(redis.client, self, { log, metrics }, config.instanceTimeoutMs)
    : createMemoryRegistry(self);
  let stopSweeping = () => {};
  const startSweeping = () => {
    const onError = (client: string) => () => metrics.redisErrors.inc({ client });
    stopSweeping = sweepLostInstances(
      async (live) => {
        // One after the other, each counting its own errors: a failing one does not stop the other.
        if (holdings)
          await holdings.sweep(live, (socket) => backends.sendLost(socket)).catch(onError('holdings'));
        if (hasPresence) {
          await presenceStore
            .sweep(
              live,
              (member) => {
                announce(ops, PRESENCE_LEAVE, member).catch(onError('presence'));
              },
              (holding, leaves) => log.info('lost instance presence swept', { holding, leaves }),
            )
            .catch(onError('presence'));
        }
      },
      async () => {
        liveHoldings = new Set((await registry.list()).map(holdingIdOf));
        return liveHoldings;
      },
      heartbeatMs(config.instanceTimeoutMs),
      onError('registry'),
    );
  };

  // `POST /v1/instances/:id/drain` on another instance reaches this one as a server-side emit (Redis Pub/Sub).
  io.of('/').on(DRAIN_EVENT, (instanceId: unknown) => {
    if (instanceId === config.instanceId) void drainer.drain('admin request from the cluster');
  });

  const admin = await createAdminApp({
    config,
    metrics,
    ops,
    registry,
    log,
    startedAt,
    adapterName,
    recoverable,
    isDraining: drainer.isDraining,
    notReadyReasons: () => {
      const reasons: string[] = [];
      if (drainer.isDraining()) reasons.push('draining');
      if (admission.atCapacity()) reasons.push('at --max-connections');
      if (redis && !redis.isReady()) reasons.push('redis unavailable');
      if (cluster && !cluster.readerReady()) reasons.push('stream reader not running');
      return reasons;
    },
    startDrain: (reason) => void drainer.drain(reason),
    presence: async (namespace, room) => {
      if (!Object.hasOwn(config.namespaces, namespace)) {
        throw new RelayError(
          ErrorCodes.UNKNOWN_NAMESPACE,
          `namespace ${JSON.stringify(namespace)} is not configured`,
        );
      }
      const presence = presences.get(namespace);
      const name = assertRoom(room);
      if (!presence?.isPresenceRoom(name)) {
        throw new RelayError(
          ErrorCodes.BAD_REQUEST,
          `${JSON.stringify(name)} is not a presence room on ${namespace}`,
        );
      }
      return presence.list(name);
    },
    isPresenceRoom: (namespace, room) => presences.get(namespace)?.isPresenceRoom(room) ?? false,
    drainInstance: (instanceId) => {
      if (instanceId === config.instanceId) void drainer.drain('admin request');
      else io.serverSideEmit(DRAIN_EVENT, instanceId);
    },
  });

  // The contract's drain order; each step finishes before the next begins.
  drainer.setSteps([
    {
      name: 'readiness',
      close: async () => {
        metrics.draining.set(1);
        await registry.beat().catch(() => metrics.redisErrors.inc({ client: 'registry' }));
      },
    },
    { name: 'public-listener', close: () => transport.stopAccepting() },
    {
      name: 'sockets',
      close: async () => {
        const conns = connections(io);
        const rate = drainRate(conns.size, config.drainRate, config.drainTimeoutMs);
        log.info('closing sockets for recovery', { connections: conns.size, ratePerSecond: rate });
        const closed = await closeAtRate(conns, rate, dropConnection);
        log.info('sockets closed for recovery', { closed });
      },
    },
    // Closed for recovery: their presence outlives this instance's registry entry for the recovery window,
    // so clients that come back elsewhere make no leave and no join (the others leave when it ends).
    {
      name: 'presence',
      close: async () => {
        if (!redis || !hasPresence || !recoverable) return;
        await presenceStore
          .retire(config.recoveryWindowMs)
          .catch(() => metrics.redisErrors.inc({ client: 'presence' }));
      },
    },
    // Their disconnects are on the way to the backends: let them arrive before Redis goes.
    { name: 'backends', close: () => backends.idle() },
    {
      name: 'redis-flush',
      close: async () => {
        await cluster?.flush();
        await redis?.flush();
      },
    },
    { name: 'socket.io', close: () => io.close() },
    { name: 'registry', close: () => registry.stop() },
    {
      name: 'redis',
      close: async () => {
        stopSweeping();
        cluster?.stop();
        await Promise.all(upstreams.map((u) => u.close()));
        await replies?.close();
        await pubsub?.close();
        await redis?.close();
      },
    },
    { name: 'admin', close: () => admin.close() },
  ]);

  return {
    async start() {
      if (pubsub) {
        log.warn(`connection state recovery is not available with the ${adapterName} adapter`, {
          adapter: adapterName,
        });
      }
      // Taking clients before the stream reader runs would let them miss broadcasts from other instances.
      if (cluster && !(await cluster.waitForReader(READER_WAIT_MS))) {
        log.warn('stream reader not running yet; serving local clients, readiness stays 503', {
          code: 'RLY_ERR_CLUSTER',
        });
      }
      // The first heartbeat lands before any socket is held: others must see this holding as live.
      await registry.start();
      if (redis && (holdings || hasPresence)) startSweeping();
      const port = await transport.listen(config.host, config.port);
      await admin.listen({ host: config.adminHost, port: config.adminPort });
      const address = admin.server.address();
      const adminPort = typeof address === 'object' && address ? address.port : config.adminPort;
      return { port, adminPort };
    },
    drain: (reason) => drainer.drain(reason),
    drained: drainer.drained,
  };
}
