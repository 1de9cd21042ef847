import { createClient, DisconnectsClientError, type RedisClientType } from 'redis';
import type { HostPort } from '../config/values.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { createClusterClient } from './redis-cluster.js';
import type { SentinelTarget } from './sentinel.js';

/**
 * A node-redis 5 client (RESP2, node-redis's default in v5). Redis Cluster and Sentinel clients stand in
 * for it (redis-cluster.ts, sentinel.ts).
 */
export type RedisClient = RedisClientType;

/** The relay's main Redis connection: the adapter publishes and persists sessions through it. */
export interface RedisConnection {
  readonly client: RedisClient;
  /** True while the connection is up; readiness follows it. */
  isReady(): boolean;
  /** Resolves once every command sent so far has been answered (Redis answers in order per connection). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Wait before reconnect attempt `retries`: 50 ms more each time, at most 500 ms (node-redis 4's default;
 * node-redis 5 backs off to 2 s, which would delay the cluster's return by up to that after an outage).
 * Duplicates (stream readers, subscribers) inherit it.
 */
const reconnectDelay = (retries: number) => Math.min(retries * 50, 500);

/** Redis must answer a PING within this, or the connection counts as frozen. */
const ANSWER_WITHIN_MS = 2_000;
/** How often the connection is probed while it is up. */
const PROBE_EVERY_MS = 1_000;

/**
 * Connects in the background: the relay serves local clients while Redis is away, and readiness says so.
 * node-redis reconnects by itself. Errors are counted on every occurrence but logged once per state
 * change. Commands fail at once while Redis is away instead of queueing until it returns: a join, a
 * publish or an admin request answers now (the publish with RLY_ERR_CLUSTER), and a long outage does not
 * pile up commands in memory.
 *
 * A Redis that stops answering without closing the connection (SIGSTOP, a host that drops packets) is
 * found by a PING every second that must be answered within ANSWER_WITHIN_MS: the connection then counts
 * as down (readiness 503), and a single node's connection is dropped and made again, which fails every
 * command waiting on it (see `unanswered`), so none waits longer than about three seconds. The connection
 * counts as up again only once a PING is answered: a frozen server still accepts TCP connections.
 *
 * With a single node the PING goes over a connection of its own: on the main connection it would queue
 * behind every command sent before it, and a recovery storm's backlog there (seconds of session reads and
 * writes) is a busy Redis, not a frozen one. Dropping the connection then failed the restores waiting on it.
 */
export function connectRedis(target: RedisTarget, deps: { log: Logger; metrics: Metrics }): RedisConnection {
  const client = target.sentinel
    ? target.sentinel.client
    : target.cluster
      ? createClusterClient(target.cluster, { url: target.url, disableOfflineQueue: true })
      : (createClient({
          url: target.url,
          disableOfflineQueue: true,
          socket: { reconnectStrategy: reconnectDelay },
        }) as RedisClient);
  const where = target.cluster
    ? `cluster ${target.cluster.map((n) => `${n.host}:${n.port}`).join(',')}`
    : target.sentinel
      ? `sentinel master ${target.sentinel.name} (${target.sentinel.nodes.map((n) => `${n.host}:${n.port}`).join(',')})`
      : redactUrl(target.url ?? '');
  // Cluster and Sentinel clients route a PING to a node of their choosing: they are probed as they are.
  const prober = target.cluster || target.sentinel ? client : client.duplicate();
  if (prober !== client) prober.on('error', () => {}); // the main connection's errors are the ones reported
  let state: 'connecting' | 'up' | 'down' = 'connecting';
  let downSince = Date.now();
  let probing = false;
  let closing = false;

  const goDown = (message: string, error: string) => {
    deps.metrics.redisErrors.inc({ client: 'main' });
    if (state === 'down') return;
    if (state === 'up') downSince = Date.now();
    deps.log.warn(state === 'up' ? message : 'redis unavailable', {
      code: 'RLY_ERR_CLUSTER',
      redis: where,
      error,
    });
    state = 'down';
  };
  const answered = () => {
    if (state !== 'up') {
      const outage = state === 'down' ? { unavailableMs: Date.now() - downSince } : {};
      deps.log.info('redis connection ready', { redis: where, ...outage });
    }
    state = 'up';
  };
  const frozen = () => {
    goDown('redis not answering', `no answer to PING within ${ANSWER_WITHIN_MS} ms`);
    // Cluster and Sentinel clients find their nodes again by themselves; a single connection is made
    // again here. destroy() fails the commands waiting on it with DisconnectsClientError (`unanswered`).
    if (target.cluster || target.sentinel || closing) return;
    for (const connection of [client, prober]) {
      connection.destroy();
      connection.connect().catch(() => {}); // connect errors are reported through 'error'
    }
  };
  const probe = () => {
    if (probing || closing || !client.isReady || !prober.isReady) return;
    probing = true;
    let replied = false;
    const reply = () => {
      replied = true;
      probing = false;
      clearTimeout(deadline);
    };
    prober
      .ping()
      .then(() => {
        reply();
        answered();
      })
      .catch(reply); // a failed PING is an error event of its own
    // Checked after the next I/O poll: an answer that arrived while the event loop was busy still counts.
    const deadline = setTimeout(
      () =>
        setImmediate(() => {
          if (replied) return;
          probing = false;
          frozen();
        }),
      ANSWER_WITHIN_MS,
    ).unref();
  };
  const probes = setInterval(probe, PROBE_EVERY_MS).unref();

  client.on('ready', probe);
  if (prober !== client) prober.on('ready', probe);
  client.on('error', (err: Error) => goDown('redis connection lost', err.message));
  client.on('end', () => {
    if (state === 'up') downSince = Date.now();
    state = 'down';
  });
  // A Sentinel client comes connected: the relay does not start without a master (connectSentinel).
  if (!target.sentinel) {
    client.connect().catch((err: Error) => {
      deps.log.error('redis connect failed', { code: 'RLY_ERR_CLUSTER', error: err.message });
    });
    if (prober !== client) prober.connect().catch(() => {});
  }
  return {
    client,
    isReady: () => state === 'up' && client.isReady,
    async flush() {
      if (client.isOpen) await client.ping();
    },
    async close() {
      closing = true;
      clearInterval(probes);
      if (prober !== client && prober.isOpen) await prober.close();
      if (client.isOpen) await client.close();
    },
  };
}

/**
 * True when a command failed because Redis did not answer in time: Redis may still have received it and
 * carry it out when it resumes, so its outcome is unknown (a publish must not be delivered locally then).
 */
export function unanswered(err: unknown): boolean {
  return err instanceof DisconnectsClientError;
}

/** Where Redis is: a URL, a Sentinel-managed master (the URL then gives only credentials and db), or a Cluster. */
export interface RedisTarget {
  url?: string | undefined;
  /** The connected Sentinel client (connectSentinel), and where it looks. */
  sentinel?: (SentinelTarget & { client: RedisClient }) | undefined;
  /** Nodes of a Redis Cluster (the URL then gives only credentials). */
  cluster?: readonly HostPort[] | undefined;
}

/** Redis's clock in milliseconds, from a TIME reply (seconds and microseconds, as text since node-redis 5). */
export function timeMillis([seconds, micros]: readonly [string, string] | readonly string[]): number {
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** A Redis URL safe to log: the password is masked. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[unparsable url]';
  }
}
