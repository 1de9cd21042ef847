import { createCluster } from 'redis';
import type { HostPort } from '../config/values.js';
import type { RedisClient } from './redis.js';

type Cluster = ReturnType<typeof createCluster>;

/**
 * A Redis Cluster client that the relay's modules, and the streams adapter, can use where they expect a
 * node-redis client: node-redis 5's cluster client has the same commands, but raw `sendCommand`, `isReady`,
 * `duplicate` and the `ready` event differ (and keyless PING and TIME are sent explicitly to any node). This
 * fills in exactly those; every key-based command goes to the cluster client unchanged, routed by its key.
 */
/** After a connection error, the client rediscovers the cluster from scratch this much later. */
const REDISCOVER_AFTER_MS = 1_000;
/** How long one discovery may take before it is abandoned for a new one. */
const CONNECT_TIMEOUT_MS = 3_000;
const SUBSCRIBE_METHODS = new Set(['subscribe', 'pSubscribe', 'sSubscribe']);

export function createClusterClient(
  nodes: readonly HostPort[],
  options: { url?: string | undefined; disableOfflineQueue: boolean },
): RedisClient {
  const credentials = options.url ? new URL(options.url) : undefined;
  return asClient(() =>
    createCluster({
      rootNodes: nodes.map((node) => ({ socket: { host: node.host, port: node.port } })),
      defaults: {
        disableOfflineQueue: options.disableOfflineQueue,
        ...(credentials?.username ? { username: decodeURIComponent(credentials.username) } : {}),
        ...(credentials?.password ? { password: decodeURIComponent(credentials.password) } : {}),
      },
    }),
  );
}

/**
 * node-redis 5 (like 4) rediscovers the cluster's slots only on MOVED/ASK replies: when a master dies,
 * commands for its slots keep going to its dead address even after a replica took over (node-redis 6's
 * `topologyRefreshOnReconnectionAttemptStrategy` is what would do this work). So after a connection error, a
 * fresh client discovers the cluster again and replaces the current one, with the same event listeners and
 * subscriptions (again and again while it fails); the modules and the adapter keep the same object.
 */
function asClient(make: () => Cluster): RedisClient {
  let cluster = make();
  let ready = false;
  let replacing = false;
  const listeners: Array<[string, (...args: unknown[]) => void]> = [];
  const onReady: Array<() => void> = [];
  const subscriptions: Array<[string, unknown[]]> = [];

  const watch = (c: Cluster) => {
    for (const [event, listener] of listeners) c.on(event, listener);
    const rediscover = () => {
      if (c !== cluster || !ready || replacing) return;
      replacing = true;
      setTimeout(replace, REDISCOVER_AFTER_MS).unref();
    };
    // node-redis 5 reports a node's connection errors as 'node-error', its own (discovery) as 'error'.
    c.on('error', rediscover);
    c.on('node-error', rediscover);
  };
  const replace = () => {
    const next = make();
    watch(next);
    // A discovery that still lists the dead master never finishes connecting: give up and try again.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('cluster discovery timed out')), CONNECT_TIMEOUT_MS);
    });
    Promise.race([next.connect(), timeout])
      .then(async () => {
        for (const [method, args] of subscriptions) {
          await (next as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]?.(...args);
        }
        const old = cluster;
        cluster = next;
        replacing = false;
        old.destroy();
        // The cluster client has no 'ready' of its own after a failure: this is the one.
        for (const listener of onReady) listener();
      })
      .catch(() => {
        next.destroy();
        setTimeout(replace, REDISCOVER_AFTER_MS).unref();
      })
      .finally(() => clearTimeout(timer));
  };
  watch(cluster);

  const filled: Record<string | symbol, unknown> = {
    async connect() {
      await cluster.connect();
      ready = true;
      for (const listener of onReady) listener();
      return client;
    },
    ping: () => cluster.sendCommand(undefined, true, ['PING']),
    time: () => cluster.sendCommand(undefined, true, ['TIME']),
    // Raw commands are routed by their key: the one after the subcommand for XINFO, else the first.
    sendCommand: (args: string[]) =>
      cluster.sendCommand(args[0]?.toUpperCase() === 'XINFO' ? args[2] : args[1], false, args),
    duplicate: (overrides?: object) => asClient(() => cluster.duplicate(overrides)),
    on(event: string, listener: (...args: unknown[]) => void) {
      if (event === 'ready') onReady.push(listener);
      else {
        // A node's connection errors are the client's errors, as with a single node.
        for (const name of event === 'error' ? ['error', 'node-error'] : [event]) {
          listeners.push([name, listener]);
          cluster.on(name, listener);
        }
      }
      return client;
    },
    async close() {
      ready = false;
      await cluster.close();
    },
  };
  // Methods call whichever cluster client is current when they run, not when they were looked up: a module
  // may keep a bound method (the stream reader keeps xRead) across a replacement.
  const methods = new Map<string | symbol, (...args: unknown[]) => unknown>();
  const method = (prop: string | symbol) => {
    let fn = methods.get(prop);
    if (!fn) {
      const subscribes = typeof prop === 'string' && SUBSCRIBE_METHODS.has(prop);
      fn = (...args: unknown[]) => {
        if (subscribes) subscriptions.push([prop as string, args]);
        return (Reflect.get(cluster, prop, cluster) as (...a: unknown[]) => unknown).apply(cluster, args);
      };
      methods.set(prop, fn);
    }
    return fn;
  };
  const client = new Proxy(cluster, {
    get(_target, prop) {
      if (prop === 'isReady') return ready && cluster.isOpen;
      if (prop in filled) return filled[prop];
      const value = Reflect.get(cluster, prop, cluster);
      return typeof value === 'function' ? method(prop) : value;
    },
    // A module may wrap a method (the stream reader wraps duplicate): keep its wrapper.
    set(_target, prop, value) {
      filled[prop] = value;
      return true;
    },
  }) as unknown as RedisClient;
  return client;
}
