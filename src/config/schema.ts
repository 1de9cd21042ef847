import { hostname } from 'node:os';
import type { NamespacePolicy } from './namespaces.js';

export type { NamespacePolicy } from './namespaces.js';

export type TransportName = 'uws' | 'ws';
/** How instances reach each other through Redis: Streams (recoverable) or classic / sharded Pub/Sub. */
export type AdapterName = 'streams' | 'pubsub' | 'sharded-pubsub';

/** The validated, frozen configuration every module receives from the composition root. */
export interface RelayConfig {
  port: number;
  host: string;
  adminPort: number;
  adminHost: string;
  redisUrl: string | undefined;
  redisCluster: readonly HostPort[] | undefined;
  streamCount: number;
  redisSentinel: readonly HostPort[] | undefined;
  redisSentinelName: string | undefined;
  transport: TransportName;
  adapter: AdapterName;
  instanceId: string;
  recoveryWindowMs: number;
  drainTimeoutMs: number;
  adminToken: string | undefined;
  adminAllowedHosts: readonly string[];
  drainRate: number | undefined;
  recoveryMaxEntries: number;
  instanceTimeoutMs: number;
  maxPayload: number;
  maxBackpressure: number;
  rateLimit: number | undefined;
  maxConnections: number | undefined;
  jwtSecret: string | undefined;
  jwtJwksUrl: string | undefined;
  jwtAudience: string | undefined;
  jwtIssuer: string | undefined;
  corsOrigin: readonly string[] | undefined;
  configFile: string | undefined;
  namespaces: Readonly<Record<string, NamespacePolicy>>;
}

/** One setting: its flag, env var, config-file key, default, and a parser that says what it expected. */
export interface Setting<K extends keyof RelayConfig = keyof RelayConfig> {
  key: K;
  flag: string;
  env: string;
  /** Documented default; `undefined` means unset. */
  defaultValue: () => RelayConfig[K];
  parse: (raw: unknown) => RelayConfig[K];
  doc: string;
}

export function integer(min: number, max: number, what: string) {
  return (raw: unknown): number => {
    const text = typeof raw === 'number' ? String(raw) : raw;
    if (typeof text !== 'string' || !/^\d+$/.test(text.trim())) {
      throw new Error(`expected ${what} (an integer from ${min} to ${max}), got ${JSON.stringify(raw)}`);
    }
    const n = Number(text);
    if (n < min || n > max) throw new Error(`expected ${what} from ${min} to ${max}, got ${n}`);
    return n;
  };
}

function nonEmptyString(what: string) {
  return (raw: unknown): string => {
    if (typeof raw !== 'string' || raw.trim() === '') {
      throw new Error(`expected ${what}, got ${JSON.stringify(raw)}`);
    }
    return raw.trim();
  };
}

function host(raw: unknown): string {
  const value = nonEmptyString('a bind address such as 0.0.0.0, 127.0.0.1 or ::')(raw);
  if (!/^[A-Za-z0-9.:_-]+$/.test(value)) {
    throw new Error(`expected a bind address such as 0.0.0.0, 127.0.0.1 or ::, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function redisUrl(raw: unknown): string {
  const value = nonEmptyString('a redis:// or rediss:// URL')(raw);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('expected a redis:// or rediss:// URL, got an unparsable value');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new Error(`expected a redis:// or rediss:// URL, got the scheme ${JSON.stringify(url.protocol)}`);
  }
  return value;
}

/** A `host:port` address. */
export interface HostPort {
  host: string;
  port: number;
}

export function hostPortList(raw: unknown): readonly HostPort[] {
  const list = (Array.isArray(raw) ? raw : String(raw ?? '').split(','))
    .map((item) => String(item).trim())
    .filter(Boolean);
  if (list.length === 0) throw new Error('expected host:port addresses separated by commas');
  return Object.freeze(
    list.map((item) => {
      const match = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(item);
      const port = Number(match?.[2]);
      if (!match || port < 1 || port > 65535) {
        throw new Error(`expected host:port addresses separated by commas, got ${JSON.stringify(item)}`);
      }
      return Object.freeze({ host: (match[1] as string).replace(/^\[|\]$/g, ''), port });
    }),
  );
}

export function secret(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length < 16)
    throw new Error('expected a secret of at least 16 characters');
  return raw;
}

export function httpUrl(raw: unknown): string {
  const value = nonEmptyString('an http:// or https:// URL')(raw);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('expected an http:// or https:// URL, got an unparsable value');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`expected an http:// or https:// URL, got the scheme ${JSON.stringify(url.protocol)}`);
  }
  return value;
}

function hostNames(raw: unknown): readonly string[] {
  const list = (Array.isArray(raw) ? raw : String(raw ?? '').split(','))
    .map((name) => String(name).trim().toLowerCase())
    .filter(Boolean);
  for (const name of list) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(name)) {
      throw new Error(
        `expected host names such as relay-admin.internal (no port), got ${JSON.stringify(name)}`,
      );
    }
  }
  return Object.freeze(list);
}

function origins(raw: unknown): readonly string[] {
  const list = (Array.isArray(raw) ? raw : String(raw ?? '').split(','))
    .map((o) => String(o).trim())
    .filter(Boolean);
  for (const origin of list) {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {}
    if (!url || url.origin !== origin) {
      throw new Error(`expected origins such as https://app.example.com, got ${JSON.stringify(origin)}`);
    }
  }
  if (list.length === 0) throw new Error('expected at least one origin');
  return Object.freeze(list);
}

/** Addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function adapter(raw: unknown): AdapterName {
  if (raw === 'streams' || raw === 'pubsub' || raw === 'sharded-pubsub') return raw;
  throw new Error(`expected "streams", "pubsub" or "sharded-pubsub", got ${JSON.stringify(raw)}`);
}

function transport(raw: unknown): TransportName {
  if (raw === 'uws' || raw === 'ws') return raw;
  throw new Error(`expected "uws" or "ws", got ${JSON.stringify(raw)}`);
}

const port = integer(0, 65535, 'a port');
const durationMs = integer(1, 24 * 3600 * 1000, 'a duration in milliseconds');

/** The settings this relay understands, in the order `--help` and the README list them. */
export const settings: readonly Setting[] = [
  {
    key: 'port',
    flag: '--port',
    env: 'RELAY_PORT',
    defaultValue: () => 3000,
    parse: port,
    doc: 'public Socket.IO port (0: any free port)',
  },
  {
    key: 'host',
    flag: '--host',
    env: 'RELAY_HOST',
    defaultValue: () => '0.0.0.0',
    parse: host,
    doc: 'public bind address',
  },
  {
    key: 'adminPort',
    flag: '--admin-port',
    env: 'RELAY_ADMIN_PORT',
    defaultValue: () => 9100,
    parse: port,
    doc: 'Fastify admin port (0: any free port)',
  },
  {
    key: 'adminHost',
    flag: '--admin-host',
    env: 'RELAY_ADMIN_HOST',
    defaultValue: () => '127.0.0.1',
    parse: host,
    doc: 'admin bind address',
  },
  {
    key: 'redisUrl',
    flag: '--redis-url',
    env: 'REDIS_URL',
    defaultValue: () => undefined,
    parse: redisUrl,
    doc: 'unset: single-node in-memory mode; set: cluster mode over Redis',
  },
  {
    key: 'redisCluster',
    flag: '--redis-cluster',
    env: 'RELAY_REDIS_CLUSTER',
    defaultValue: () => undefined,
    parse: hostPortList,
    doc: 'Redis Cluster nodes (host:port,...): cluster mode on a Redis Cluster',
  },
  {
    key: 'streamCount',
    flag: '--stream-count',
    env: 'RELAY_STREAM_COUNT',
    defaultValue: () => 1,
    parse: integer(1, 64, 'a number of streams'),
    doc: "broadcast streams; namespaces are spread over them (and over a Redis Cluster's masters)",
  },
  {
    key: 'redisSentinel',
    flag: '--redis-sentinel',
    env: 'RELAY_REDIS_SENTINEL',
    defaultValue: () => undefined,
    parse: hostPortList,
    doc: 'Sentinel addresses (host:port,...): cluster mode on the master they name; follows failovers',
  },
  {
    key: 'redisSentinelName',
    flag: '--redis-sentinel-name',
    env: 'RELAY_REDIS_SENTINEL_NAME',
    defaultValue: () => undefined,
    parse: nonEmptyString('a Sentinel master name'),
    doc: 'the master name the sentinels monitor (with --redis-sentinel)',
  },
  {
    key: 'transport',
    flag: '--transport',
    env: 'RELAY_TRANSPORT',
    defaultValue: () => 'uws',
    parse: transport,
    doc: '`uws` (uWebSockets.js) or `ws` (Node http + ws)',
  },
  {
    key: 'adapter',
    flag: '--adapter',
    env: 'RELAY_ADAPTER',
    defaultValue: () => 'streams',
    parse: adapter,
    doc: '`streams` (Redis Streams, recoverable), `pubsub` or `sharded-pubsub` (no recovery across instances)',
  },
  {
    key: 'instanceId',
    flag: '--instance-id',
    env: 'RELAY_INSTANCE_ID',
    defaultValue: defaultInstanceId,
    parse: instanceId,
    doc: 'name of this instance in stats, logs, metrics (default hostname-pid)',
  },
  {
    key: 'recoveryWindowMs',
    flag: '--recovery-window',
    env: 'RELAY_RECOVERY_WINDOW_MS',
    defaultValue: () => 120_000,
    parse: durationMs,
    doc: 'connection state recovery window, ms',
  },
  {
    key: 'drainTimeoutMs',
    flag: '--drain-timeout',
    env: 'RELAY_DRAIN_TIMEOUT_MS',
    defaultValue: () => 30_000,
    parse: durationMs,
    doc: 'longest a graceful drain may take, ms',
  },
  {
    key: 'drainRate',
    flag: '--drain-rate',
    env: 'RELAY_DRAIN_RATE',
    defaultValue: () => undefined,
    parse: integer(1, 1_000_000, 'disconnects per second'),
    doc: 'disconnects per second while draining (default: all within half the drain timeout, at least 200/s)',
  },
  {
    key: 'recoveryMaxEntries',
    flag: '--recovery-max-entries',
    env: 'RELAY_RECOVERY_MAX_ENTRIES',
    defaultValue: () => 1_000_000,
    parse: integer(1000, 100_000_000, 'a number of stream entries'),
    doc: 'memory cap on the broadcast stream, entries (it is trimmed by age first)',
  },
  {
    key: 'instanceTimeoutMs',
    flag: '--instance-timeout',
    env: 'RELAY_INSTANCE_TIMEOUT_MS',
    defaultValue: () => 15_000,
    parse: integer(6_000, 3_600_000, 'a duration in milliseconds'),
    doc: "an instance silent this long is lost: backends get its sockets' disconnects",
  },
  {
    key: 'adminToken',
    flag: '--admin-token',
    env: 'RELAY_ADMIN_TOKEN',
    defaultValue: () => undefined,
    parse: nonEmptyString('a non-empty token'),
    doc: 'bearer token required on /v1/* admin routes',
  },
  {
    key: 'adminAllowedHosts',
    flag: '--admin-allowed-hosts',
    env: 'RELAY_ADMIN_ALLOWED_HOSTS',
    defaultValue: () => Object.freeze([]),
    parse: hostNames,
    doc: 'names the admin port answers to besides IP addresses and localhost, comma-separated (e.g. relay-admin.internal)',
  },
  {
    key: 'maxPayload',
    flag: '--max-payload',
    env: 'RELAY_MAX_PAYLOAD',
    defaultValue: () => 1_048_576,
    parse: integer(1024, 100 * 1_048_576, 'a size in bytes'),
    doc: 'largest message a client may send, bytes (WebSocket frames and polling bodies, both transports)',
  },
  {
    key: 'maxBackpressure',
    flag: '--max-backpressure',
    env: 'RELAY_MAX_BACKPRESSURE',
    defaultValue: () => 4 * 1_048_576,
    parse: integer(65_536, 1024 * 1_048_576, 'a size in bytes'),
    doc: 'bytes that may wait for a client for about a second (4x at once) before it is dropped as a slow consumer',
  },
  {
    key: 'rateLimit',
    flag: '--rate-limit',
    env: 'RELAY_RATE_LIMIT',
    defaultValue: () => undefined,
    parse: integer(1, 1_000_000, 'events per second'),
    doc: 'events per second per socket (token bucket, bursts up to twice the rate)',
  },
  {
    key: 'maxConnections',
    flag: '--max-connections',
    env: 'RELAY_MAX_CONNECTIONS',
    defaultValue: () => undefined,
    parse: integer(1, 10_000_000, 'a number of connections'),
    doc: 'connections this instance accepts; readiness is 503 at the cap',
  },
  {
    key: 'jwtSecret',
    flag: '--jwt-secret',
    env: 'RELAY_JWT_SECRET',
    defaultValue: () => undefined,
    parse: secret,
    doc: 'HS256 secret: clients must send a valid auth.token (JWT) at the handshake',
  },
  {
    key: 'jwtJwksUrl',
    flag: '--jwt-jwks-url',
    env: 'RELAY_JWT_JWKS_URL',
    defaultValue: () => undefined,
    parse: httpUrl,
    doc: 'JWKS URL (RS256/ES256 keys, cached): clients must send a valid auth.token (JWT)',
  },
  {
    key: 'jwtAudience',
    flag: '--jwt-audience',
    env: 'RELAY_JWT_AUDIENCE',
    defaultValue: () => undefined,
    parse: nonEmptyString('an audience (the aud claim tokens must carry)'),
    doc: 'the aud claim every auth.token must carry (unset: not checked)',
  },
  {
    key: 'jwtIssuer',
    flag: '--jwt-issuer',
    env: 'RELAY_JWT_ISSUER',
    defaultValue: () => undefined,
    parse: nonEmptyString('an issuer (the iss claim tokens must carry)'),
    doc: 'the iss claim every auth.token must carry (unset: not checked)',
  },
  {
    key: 'corsOrigin',
    flag: '--cors-origin',
    env: 'RELAY_CORS_ORIGIN',
    defaultValue: () => undefined,
    parse: origins,
    doc: 'browser origins allowed to connect, comma-separated (unset: any origin)',
  },
  {
    key: 'configFile',
    flag: '--config',
    env: 'RELAY_CONFIG',
    defaultValue: () => undefined,
    parse: nonEmptyString('a path to a JSON or YAML file'),
    doc: 'JSON or YAML file: settings and namespace policies',
  },
] as Setting[];

function defaultInstanceId(): string {
  return `${hostname()}-${process.pid}`;
}

function instanceId(raw: unknown): string {
  const value = nonEmptyString('an instance name')(raw);
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(value)) {
    throw new Error(`expected 1-128 characters of [A-Za-z0-9._:-], got ${JSON.stringify(raw)}`);
  }
  return value;
}
