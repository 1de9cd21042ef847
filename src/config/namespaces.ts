import { ConfigError } from '../errors.js';
import { field, httpUrl, integer, secret } from './values.js';

/** What one namespace allows, and where its non-built-in events go. */
export interface NamespacePolicy {
  /**
   * Rooms clients may join: `*` matches any run of characters; `{userId}` and `{claims.<name>}` match only
   * the socket's own value (see `parsePattern`).
   */
  join: readonly string[];
  /** Rooms clients may publish to (same patterns). */
  publish: readonly string[];
  /**
   * Rooms that keep presence (same patterns, without placeholders: presence belongs to the room, not to
   * one socket's identity). Empty: none.
   */
  presence: readonly string[];
  upstream?: UpstreamConfig;
}

/** The backend of a namespace: an HTTP function, or a Redis Streams work queue read by backend workers. */
export type UpstreamConfig = HttpUpstreamConfig | QueueUpstreamConfig;

interface UpstreamCommon {
  /** The backend decides each client `join` that the patterns allow (a `join` call). */
  authorizeJoin: boolean;
}

export interface HttpUpstreamConfig extends UpstreamCommon {
  kind: 'http';
  url: string;
  /** HMAC-SHA256 key of the `X-Relay-Signature` header. */
  secret: string;
  timeoutMs: number;
  /** Requests in flight per instance; more wait in line, up to 4× this, then are refused. */
  concurrency: number;
}

export interface QueueUpstreamConfig extends UpstreamCommon {
  kind: 'queue';
  stream: string;
  /** How long a client's ack (or a handshake) waits for a backend's reply. */
  timeoutMs: number;
  /** Approximate length cap of the queue stream (`MAXLEN ~`). */
  maxLen: number;
}

const timeoutMs = integer(1, 600_000, 'a timeout in ms');
const concurrency = integer(1, 10_000, 'a request count');
const maxLen = integer(100, 100_000_000, 'an entry count');

/** The embedded default policy: every room of `/` may be joined and published to. */
export const defaultNamespaces: Readonly<Record<string, NamespacePolicy>> = Object.freeze({
  '/': Object.freeze({
    join: Object.freeze(['*']),
    publish: Object.freeze(['*']),
    presence: Object.freeze([]),
  }),
});

/** The queue stream of a namespace when the config does not name one. */
export function defaultQueueStream(namespace: string): string {
  return `relay:queue:${namespace}`;
}

/** Validates the `namespaces` section of a config file. */
export function parseNamespaces(raw: unknown): Record<string, NamespacePolicy> {
  if (!isObject(raw)) throw new ConfigError('namespaces', 'expected a map from namespace name to policy');
  const result: Record<string, NamespacePolicy> = {};
  for (const [name, policy] of Object.entries(raw)) {
    const at = `namespaces.${name}`;
    if (!/^\/[A-Za-z0-9._~/-]*$/.test(name)) {
      throw new ConfigError(at, 'expected a namespace name starting with "/"');
    }
    const p = policy ?? {};
    if (!isObject(p))
      throw new ConfigError(at, 'expected an object with join, publish, presence and upstream');
    onlyKeys(at, p, ['join', 'publish', 'presence', 'upstream']);
    result[name] = Object.freeze({
      join: Object.freeze(patternList(`${at}.join`, p.join)),
      publish: Object.freeze(patternList(`${at}.publish`, p.publish)),
      presence: Object.freeze(presenceList(`${at}.presence`, p.presence)),
      ...(p.upstream === undefined ? {} : { upstream: parseUpstream(`${at}.upstream`, name, p.upstream) }),
    });
  }
  return result;
}

function parseUpstream(at: string, namespace: string, raw: unknown): UpstreamConfig {
  if (!isObject(raw)) throw new ConfigError(at, 'expected { http: {...} } or { queue: {...} }');
  onlyKeys(at, raw, ['http', 'queue', 'authorizeJoin']);
  if ((raw.http === undefined) === (raw.queue === undefined)) {
    throw new ConfigError(at, 'expected exactly one of http or queue');
  }
  if (raw.authorizeJoin !== undefined && typeof raw.authorizeJoin !== 'boolean') {
    throw new ConfigError(`${at}.authorizeJoin`, 'expected true or false');
  }
  const authorizeJoin = raw.authorizeJoin === true;
  if (raw.http !== undefined) {
    const h = raw.http;
    if (!isObject(h)) throw new ConfigError(`${at}.http`, 'expected { url, secret, timeoutMs? }');
    onlyKeys(`${at}.http`, h, ['url', 'secret', 'timeoutMs', 'concurrency']);
    return Object.freeze({
      kind: 'http' as const,
      url: field(`${at}.http.url`, httpUrl.parse, h.url),
      secret: field(`${at}.http.secret`, secret.parse, h.secret),
      timeoutMs: field(`${at}.http.timeoutMs`, timeoutMs.parse, h.timeoutMs ?? 5_000),
      concurrency: field(`${at}.http.concurrency`, concurrency.parse, h.concurrency ?? 64),
      authorizeJoin,
    });
  }
  const q = raw.queue ?? {};
  if (!isObject(q)) throw new ConfigError(`${at}.queue`, 'expected { stream?, timeoutMs?, maxLen? }');
  onlyKeys(`${at}.queue`, q, ['stream', 'timeoutMs', 'maxLen']);
  if (q.stream !== undefined && (typeof q.stream !== 'string' || q.stream.trim() === '')) {
    throw new ConfigError(`${at}.queue.stream`, 'expected a non-empty Redis key name');
  }
  return Object.freeze({
    kind: 'queue' as const,
    stream: (q.stream as string | undefined) ?? defaultQueueStream(namespace),
    timeoutMs: field(`${at}.queue.timeoutMs`, timeoutMs.parse, q.timeoutMs ?? 30_000),
    maxLen: field(`${at}.queue.maxLen`, maxLen.parse, q.maxLen ?? 100_000),
    authorizeJoin,
  });
}

function isObject(raw: unknown): raw is Record<string, unknown> {
  return raw !== null && typeof raw === 'object' && !Array.isArray(raw);
}

function onlyKeys(at: string, raw: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(`${at}.${key}`, `unknown key (expected ${allowed.join(', ')})`);
    }
  }
}

function patternList(setting: string, raw: unknown): string[] {
  // An omitted list allows nothing: a config file narrows the embedded default.
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.some((p) => typeof p !== 'string' || p === '')) {
    throw new ConfigError(setting, 'expected a list of non-empty room patterns such as ["*"] or ["chat:*"]');
  }
  for (const [i, pattern] of (raw as string[]).entries()) parsePattern(pattern, `${setting}[${i}]`);
  return raw as string[];
}

function presenceList(setting: string, raw: unknown): string[] {
  const patterns = patternList(setting, raw);
  for (const [i, pattern] of patterns.entries()) {
    if (parsePattern(pattern).some((part) => part.kind === 'userId' || part.kind === 'claim')) {
      throw new ConfigError(
        `${setting}[${i}]`,
        'presence patterns take no placeholders ({userId}, {claims.*})',
      );
    }
  }
  return patterns;
}

/** One piece of a room pattern: literal text, `*`, or a placeholder filled from the socket's identity. */
export type PatternPart =
  | { kind: 'text'; text: string }
  | { kind: 'any' }
  | { kind: 'userId' }
  | { kind: 'claim'; name: string };

const CLAIM_PREFIX = 'claims.';

/**
 * The syntax of room patterns: `*` matches any run of characters; `{userId}` the socket's user id;
 * `{claims.<name>}` its verified JWT claim `<name>` (top level; dots and colons belong to the name, so
 * namespaced claims such as `{claims.https://example.com/team}` work); every other character is literal.
 * Braces belong to placeholders only: a stray one is a config error rather than a pattern that silently
 * never matches.
 */
export function parsePattern(pattern: string, setting = 'pattern'): PatternPart[] {
  const parts: PatternPart[] = [];
  for (const [token, inner] of pattern.matchAll(/\*|\{([^{}]*)\}|[^*{}]+|[{}]/g)) {
    if (token === '*') parts.push({ kind: 'any' });
    else if (inner === 'userId') parts.push({ kind: 'userId' });
    else if (inner?.startsWith(CLAIM_PREFIX) && inner.length > CLAIM_PREFIX.length) {
      parts.push({ kind: 'claim', name: inner.slice(CLAIM_PREFIX.length) });
    } else if (inner === undefined && token !== '{' && token !== '}')
      parts.push({ kind: 'text', text: token });
    else {
      throw new ConfigError(
        setting,
        `${JSON.stringify(token)} is not a placeholder (expected {userId} or {claims.<name>}, and no other braces)`,
      );
    }
  }
  return parts;
}
