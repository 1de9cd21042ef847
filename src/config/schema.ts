import { hostname } from 'node:os';
import type { Static, TObject, TOptional, TSchema } from '@sinclair/typebox';
import type { NamespacePolicy } from './namespaces.js';
import {
  hostNames,
  hostPorts,
  httpUrl,
  integer,
  oneOf,
  optional,
  origins,
  redisUrl,
  secret,
  type Typed,
  text,
} from './values.js';

export type { NamespacePolicy } from './namespaces.js';

/** One setting, declared once: its type and parser, flag, env variable, documented default and doc line. */
export type Declaration<S extends TSchema> = Typed<S> & {
  flag: `--${string}`;
  env: string;
  doc: string;
} & (S extends TOptional<TSchema>
    ? { default?: never }
    : // A required setting cannot compile without its default; a function computes it per process.
      { default: Static<S> | (() => Static<S>) });

/** Checks one declaration against its own schema's type. */
export function setting<S extends TSchema>(declaration: Declaration<S>): Declaration<S> {
  return declaration;
}

const port = integer(0, 65535, 'a port');
const durationMs = integer(1, 24 * 3600 * 1000, 'a duration in milliseconds');
const bytes = (minimum: number, maximum: number) => integer(minimum, maximum, 'a size in bytes');

/**
 * Every setting the relay understands, keyed by its config-file key, in the order `--help` lists them.
 * `RelayConfig` and `settings` are derived from this object, so neither can miss a setting.
 */
const declared = {
  port: setting({
    flag: '--port',
    env: 'RELAY_PORT',
    ...port,
    default: 3000,
    doc: 'public Socket.IO port (0: any free port)',
  }),
  host: setting({
    flag: '--host',
    env: 'RELAY_HOST',
    ...text('a bind address such as 0.0.0.0, 127.0.0.1 or ::', '^[A-Za-z0-9.:_-]+$'),
    default: '0.0.0.0',
    doc: 'public bind address',
  }),
  adminPort: setting({
    flag: '--admin-port',
    env: 'RELAY_ADMIN_PORT',
    ...port,
    default: 9100,
    doc: 'Fastify admin port (0: any free port)',
  }),
  adminHost: setting({
    flag: '--admin-host',
    env: 'RELAY_ADMIN_HOST',
    ...text('a bind address such as 0.0.0.0, 127.0.0.1 or ::', '^[A-Za-z0-9.:_-]+$'),
    default: '127.0.0.1',
    doc: 'admin bind address',
  }),
  redisUrl: setting({
    flag: '--redis-url',
    env: 'REDIS_URL',
    ...optional(redisUrl),
    doc: 'unset: single-node in-memory mode; set: cluster mode over Redis',
  }),
  redisCluster: setting({
    flag: '--redis-cluster',
    env: 'RELAY_REDIS_CLUSTER',
    ...optional(hostPorts),
    doc: 'Redis Cluster nodes (host:port,...): cluster mode on a Redis Cluster',
  }),
  streamCount: setting({
    flag: '--stream-count',
    env: 'RELAY_STREAM_COUNT',
    ...integer(1, 64, 'a number of streams'),
    default: 1,
    doc: "broadcast streams; namespaces are spread over them (and over a Redis Cluster's masters)",
  }),
  redisSentinel: setting({
    flag: '--redis-sentinel',
    env: 'RELAY_REDIS_SENTINEL',
    ...optional(hostPorts),
    doc: 'Sentinel addresses (host:port,...): cluster mode on the master they name; follows failovers',
  }),
  redisSentinelName: setting({
    flag: '--redis-sentinel-name',
    env: 'RELAY_REDIS_SENTINEL_NAME',
    ...optional(text('a Sentinel master name')),
    doc: 'the master name the sentinels monitor (with --redis-sentinel)',
  }),
  transport: setting({
    flag: '--transport',
    env: 'RELAY_TRANSPORT',
    ...oneOf('uws', 'ws'),
    default: 'uws',
    doc: '`uws` (uWebSockets.js) or `ws` (Node http + ws)',
  }),
  adapter: setting({
    flag: '--adapter',
    env: 'RELAY_ADAPTER',
    ...oneOf('streams', 'pubsub', 'sharded-pubsub'),
    default: 'streams',
    doc: '`streams` (Redis Streams, recoverable), `pubsub` or `sharded-pubsub` (no recovery across instances)',
  }),
  instanceId: setting({
    flag: '--instance-id',
    env: 'RELAY_INSTANCE_ID',
    ...text('1-128 characters of [A-Za-z0-9._:-]', '^[A-Za-z0-9._:-]{1,128}$'),
    default: () => `${hostname()}-${process.pid}`,
    doc: 'name of this instance in stats, logs, metrics (default hostname-pid)',
  }),
  recoveryWindowMs: setting({
    flag: '--recovery-window',
    env: 'RELAY_RECOVERY_WINDOW_MS',
    ...integer(0, 24 * 3600 * 1000, 'a duration in milliseconds'),
    default: 120_000,
    doc: 'connection state recovery window, ms (0: recovery off: no pid, no offsets, nothing persisted)',
  }),
  pingIntervalMs: setting({
    flag: '--ping-interval',
    env: 'RELAY_PING_INTERVAL_MS',
    ...durationMs,
    default: 25_000,
    doc: 'Engine.IO heartbeat: a PING every this many ms',
  }),
  pingTimeoutMs: setting({
    flag: '--ping-timeout',
    env: 'RELAY_PING_TIMEOUT_MS',
    ...durationMs,
    default: 20_000,
    doc: 'a client that does not answer a PING within this many ms is dropped',
  }),
  connectTimeoutMs: setting({
    flag: '--connect-timeout',
    env: 'RELAY_CONNECT_TIMEOUT_MS',
    ...durationMs,
    default: 45_000,
    doc: 'a connection that joins no namespace within this many ms is closed',
  }),
  path: setting({
    flag: '--path',
    env: 'RELAY_PATH',
    ...text(
      'a path such as /socket.io/ (letters, digits and ._~-/, starting with /)',
      '^/[A-Za-z0-9._~/-]*$',
    ),
    default: '/socket.io/',
    doc: 'the path Engine.IO and Socket.IO are served under',
  }),
  drainTimeoutMs: setting({
    flag: '--drain-timeout',
    env: 'RELAY_DRAIN_TIMEOUT_MS',
    ...durationMs,
    default: 30_000,
    doc: 'longest a graceful drain may take, ms',
  }),
  drainRate: setting({
    flag: '--drain-rate',
    env: 'RELAY_DRAIN_RATE',
    ...optional(integer(1, 1_000_000, 'disconnects per second')),
    doc: 'disconnects per second while draining (default: all within half the drain timeout, at least 200/s)',
  }),
  recoveryMaxEntries: setting({
    flag: '--recovery-max-entries',
    env: 'RELAY_RECOVERY_MAX_ENTRIES',
    ...integer(1000, 100_000_000, 'a number of stream entries'),
    default: 1_000_000,
    doc: 'memory cap on the broadcast stream, entries (it is trimmed by age first)',
  }),
  instanceTimeoutMs: setting({
    flag: '--instance-timeout',
    env: 'RELAY_INSTANCE_TIMEOUT_MS',
    ...integer(6_000, 3_600_000, 'a duration in milliseconds'),
    default: 15_000,
    doc: "an instance silent this long is lost: backends get its sockets' disconnects",
  }),
  adminToken: setting({
    flag: '--admin-token',
    env: 'RELAY_ADMIN_TOKEN',
    ...optional(text('a non-empty token')),
    doc: 'bearer token required on /v1/* admin routes',
  }),
  adminAllowedHosts: setting({
    flag: '--admin-allowed-hosts',
    env: 'RELAY_ADMIN_ALLOWED_HOSTS',
    ...hostNames,
    default: Object.freeze([]),
    doc: 'names the admin port answers to besides IP addresses and localhost, comma-separated (e.g. relay-admin.internal)',
  }),
  maxPayload: setting({
    flag: '--max-payload',
    env: 'RELAY_MAX_PAYLOAD',
    ...bytes(1024, 100 * 1_048_576),
    default: 1_048_576,
    doc: 'largest message a client may send, bytes (WebSocket frames and polling bodies, both transports)',
  }),
  maxBackpressure: setting({
    flag: '--max-backpressure',
    env: 'RELAY_MAX_BACKPRESSURE',
    ...bytes(65_536, 1024 * 1_048_576),
    default: 4 * 1_048_576,
    doc: 'bytes that may wait for a client for about a second (4x at once) before it is dropped as a slow consumer',
  }),
  rateLimit: setting({
    flag: '--rate-limit',
    env: 'RELAY_RATE_LIMIT',
    ...optional(integer(1, 1_000_000, 'events per second')),
    doc: 'events per second per socket (token bucket, bursts up to twice the rate)',
  }),
  maxConnections: setting({
    flag: '--max-connections',
    env: 'RELAY_MAX_CONNECTIONS',
    ...optional(integer(1, 10_000_000, 'a number of connections')),
    doc: 'connections this instance accepts; readiness is 503 at the cap',
  }),
  maxHandshakeRate: setting({
    flag: '--max-handshake-rate',
    env: 'RELAY_MAX_HANDSHAKE_RATE',
    ...optional(integer(1, 1_000_000, 'handshakes per second')),
    doc: "handshakes this instance takes per second (bursts up to a second's worth); the rest are refused at once and retry",
  }),
  jwtSecret: setting({
    flag: '--jwt-secret',
    env: 'RELAY_JWT_SECRET',
    ...optional(secret),
    doc: 'HS256 secret: clients must send a valid auth.token (JWT) at the handshake',
  }),
  jwtJwksUrl: setting({
    flag: '--jwt-jwks-url',
    env: 'RELAY_JWT_JWKS_URL',
    ...optional(httpUrl),
    doc: 'JWKS URL (RS256/ES256 keys, cached): clients must send a valid auth.token (JWT)',
  }),
  jwtAudience: setting({
    flag: '--jwt-audience',
    env: 'RELAY_JWT_AUDIENCE',
    ...optional(text('an audience (the aud claim tokens must carry)')),
    doc: 'the aud claim every auth.token must carry (unset: not checked)',
  }),
  jwtIssuer: setting({
    flag: '--jwt-issuer',
    env: 'RELAY_JWT_ISSUER',
    ...optional(text('an issuer (the iss claim tokens must carry)')),
    doc: 'the iss claim every auth.token must carry (unset: not checked)',
  }),
  jwtUserClaim: setting({
    flag: '--jwt-user-claim',
    env: 'RELAY_JWT_USER_CLAIM',
    ...text('a claim name such as sub or email'),
    default: 'sub',
    doc: "the JWT claim that names the socket's user (its room is user:<id>); a token without it is refused",
  }),
  corsOrigin: setting({
    flag: '--cors-origin',
    env: 'RELAY_CORS_ORIGIN',
    ...optional(origins),
    doc: 'browser origins allowed to connect, comma-separated (unset: any origin)',
  }),
  configFile: setting({
    flag: '--config',
    env: 'RELAY_CONFIG',
    ...optional(text('a path to a JSON or YAML file')),
    doc: 'JSON or YAML file: settings and namespace policies',
  }),
};

type Declared = typeof declared;
export type SettingKey = keyof Declared;

/** The validated, frozen configuration every module receives from the composition root. */
export type RelayConfig = Static<TObject<{ [K in SettingKey]: Declared[K]['schema'] }>> & {
  namespaces: Readonly<Record<string, NamespacePolicy>>;
};
export type TransportName = RelayConfig['transport'];
/** How instances reach each other through Redis: Streams (recoverable) or classic / sharded Pub/Sub. */
export type AdapterName = RelayConfig['adapter'];

/** One setting as docs, `--help` and the loader see it. */
export interface Setting<K extends SettingKey = SettingKey> {
  key: K;
  flag: string;
  env: string;
  /** The documented default; `undefined` means unset. */
  defaultValue: () => RelayConfig[K];
  parse: (raw: unknown) => RelayConfig[K];
  /** Type and bounds as JSON Schema. */
  schema: TSchema;
  doc: string;
}

function toSetting<K extends SettingKey>(key: K): Setting<K> {
  const { flag, env, doc, parse, schema, default: fallback } = declared[key] as Declaration<TSchema>;
  const defaultValue = typeof fallback === 'function' ? fallback : () => fallback;
  return Object.freeze({ key, flag, env, doc, parse, schema, defaultValue }) as Setting<K>;
}

/** Each setting by its config-file key. */
export const settingOf = Object.freeze(
  Object.fromEntries((Object.keys(declared) as SettingKey[]).map((key) => [key, toSetting(key)])),
) as { readonly [K in SettingKey]: Setting<K> };

/** The settings this relay understands, in the order `--help` and the README list them. */
export const settings: readonly Setting[] = Object.freeze(Object.values(settingOf));
