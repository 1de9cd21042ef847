import { EventEmitter } from 'node:events';
import { createSentinel, type RedisClientOptions } from 'redis';
import type { HostPort } from '../config/values.js';
import { ErrorCodes, RelayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { RedisClient } from './redis.js';

type Sentinel = ReturnType<typeof createSentinel>;

/** Where a Sentinel-managed master is: the sentinels, the master's name, and what every connection uses. */
export interface SentinelTarget {
  nodes: readonly HostPort[];
  name: string;
  /** A `--redis-url` beside the sentinels: its username, password and database only. */
  url?: string | undefined;
}

/** How often node-redis asks the sentinels again, besides their `+switch-master` announcements. */
const SCAN_EVERY_MS = 1_000;
/** How long one sentinel may take to accept a connection. */
const SENTINEL_CONNECT_TIMEOUT_MS = 1_000;

/**
 * Connects to the master the sentinels name, through node-redis's `createSentinel`: it asks them every
 * second and on their `+switch-master`, and moves its connections (commands and Pub/Sub) to a promoted
 * replica by itself. Rejects with RLY_ERR_CLUSTER if no sentinel knows the master.
 */
export async function connectSentinel(
  target: SentinelTarget,
  options: { disableOfflineQueue: boolean },
  deps: { log: Logger; metrics: Metrics },
): Promise<RedisClient> {
  const client = sentinelClient(target, options);
  // Until connectRedis listens: each sentinel or master that cannot be reached while connecting.
  const counted = () => deps.metrics.redisErrors.inc({ client: 'sentinel' });
  client.on('error', counted);
  (client as unknown as Sentinel).on('topology-change', (event: { type: string; node?: HostPort }) => {
    if (event.type === 'MASTER_CHANGE' && event.node) {
      deps.log.info('redis master found by sentinel', { master: `${event.node.host}:${event.node.port}` });
    }
  });
  try {
    await client.connect();
    client.off('error', counted);
  } catch (err) {
    throw new RelayError(
      ErrorCodes.CLUSTER,
      `no sentinel of ${target.nodes.length} knows a master named ${JSON.stringify(target.name)}`,
      { cause: err },
    );
  }
  return client;
}

/**
 * A Sentinel client that the relay's modules, and the adapters, can use where they expect a node-redis
 * client (not yet connected). Every command goes to node-redis's Sentinel client unchanged; this fills in
 * what its interface lacks or spells differently: raw `sendCommand(args)`, `duplicate` (a Sentinel client
 * of its own: a blocking XREAD must not hold up the main connection), `isReady` (the master connection
 * is up), and the `ready` event after the first connect and after every change of master.
 */
function sentinelClient(
  target: SentinelTarget,
  options: Partial<Pick<RedisClientOptions, 'disableOfflineQueue'>>,
): RedisClient {
  const sentinel = createSentinel({
    name: target.name,
    sentinelRootNodes: target.nodes.map((n) => ({ host: n.host, port: n.port })),
    nodeClientOptions: { ...credentialsOf(target.url), ...options },
    sentinelClientOptions: { socket: { connectTimeout: SENTINEL_CONNECT_TIMEOUT_MS } },
    scanInterval: SCAN_EVERY_MS,
    // Errors of the master's connection are the relay's signal that Redis is away.
    passthroughClientErrorEvents: true,
  });
  const events = new EventEmitter();
  let connected = false;
  sentinel.on('error', (err: unknown) =>
    events.emit('error', err instanceof Error ? err : new Error(String(err))),
  );
  sentinel.on('topology-change', (event: { type: string }) => {
    events.emit('topology-change', event);
    if (event.type !== 'MASTER_CHANGE' || !connected) return;
    // node-redis announces the change before the new connection is up: the PING waits for it.
    sentinel.ping().then(
      () => events.emit('ready'),
      () => {},
    );
  });

  const filled: Record<string | symbol, unknown> = {
    async connect() {
      await sentinel.connect();
      connected = true;
      events.emit('ready');
      return client;
    },
    sendCommand: (args: string[]) => sentinel.sendCommand(undefined, args),
    duplicate: (overrides?: Partial<Pick<RedisClientOptions, 'disableOfflineQueue'>>) =>
      sentinelClient(target, { ...options, ...overrides }),
    on(event: string, listener: (...args: unknown[]) => void) {
      events.on(event, listener);
      return client;
    },
    once(event: string, listener: (...args: unknown[]) => void) {
      events.once(event, listener);
      return client;
    },
    off(event: string, listener: (...args: unknown[]) => void) {
      events.off(event, listener);
      return client;
    },
    async close() {
      connected = false;
      if (sentinel.isOpen) await sentinel.close();
    },
    async destroy() {
      connected = false;
      if (sentinel.isOpen) await sentinel.destroy();
    },
  };
  // node-redis's own clients are objects created from the Sentinel instance (`Object.create`): its
  // commands find their state through `_self`, so one more such object keeps them working.
  const client = Object.create(sentinel) as Record<string | symbol, unknown>;
  Object.assign(client, filled);
  Object.defineProperty(client, 'isReady', {
    get: () => sentinel.isReady && sentinel.getMasterNode() !== undefined,
  });
  return client as unknown as RedisClient;
}

function credentialsOf(url: string | undefined) {
  if (!url) return {};
  const parsed = new URL(url);
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    database: Number(parsed.pathname.slice(1) || 0),
  };
}
