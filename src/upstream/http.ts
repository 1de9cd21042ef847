import { createHmac } from 'node:crypto';
import { Pool, errors as undiciErrors } from 'undici';
import type { HttpUpstreamConfig } from '../config/namespaces.js';
import { ErrorCodes, RelayError } from '../errors.js';
import { CircuitBreaker } from './breaker.js';
import { parseReply } from './protocol.js';
import type { Upstream } from './upstream.js';

/** Calls in line per instance beyond which new ones are refused at once, as a multiple of concurrency. */
const QUEUE_FACTOR = 4;
const BREAKER = { threshold: 5, cooldownMs: 5_000 };
/** The largest answer read from a function; a bigger one is an invalid reply. */
const MAX_REPLY_BYTES = 4 * 1024 * 1024;

/**
 * `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`: what `X-Relay-Signature` carries, with the timestamp
 * (Unix ms) in `X-Relay-Timestamp`. Signing the time with the body lets a function refuse a captured call
 * replayed later (docs/backends.md, "An HTTP function").
 */
export function sign(timestamp: number, body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

function signatureHeaders(body: string, secret: string): Record<string, string> {
  const timestamp = Date.now();
  return { 'x-relay-timestamp': String(timestamp), 'x-relay-signature': sign(timestamp, body, secret) };
}

/**
 * An HTTP function backend: JSON POSTs over a keep-alive pool, signed, timed out, bounded per instance,
 * and cut off by a circuit breaker while the function keeps failing.
 */
export function createHttpUpstream(config: HttpUpstreamConfig, onCircuit: (open: boolean) => void): Upstream {
  const url = new URL(config.url);
  const pool = new Pool(url.origin, { connections: config.concurrency, keepAliveTimeout: 30_000 });
  const breaker = new CircuitBreaker({ ...BREAKER, onChange: onCircuit });
  const path = `${url.pathname}${url.search}`;
  let inFlight = 0;

  const post = async (body: string) => {
    const response = await pool.request({
      method: 'POST',
      path,
      headers: {
        'content-type': 'application/json',
        ...signatureHeaders(body, config.secret),
      },
      body,
      signal: AbortSignal.timeout(config.timeoutMs),
    });
    const text = await readBounded(response.body);
    if (response.statusCode < 200 || response.statusCode > 299) {
      throw new RelayError(ErrorCodes.UPSTREAM_STATUS, `upstream answered HTTP ${response.statusCode}`);
    }
    let json: unknown;
    try {
      json = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new RelayError(ErrorCodes.UPSTREAM_INVALID, 'upstream reply is not JSON');
    }
    return parseReply(json);
  };

  return {
    kind: 'http',
    async call(request) {
      if (inFlight >= config.concurrency * QUEUE_FACTOR) {
        throw new RelayError(ErrorCodes.UPSTREAM_BUSY, 'too many upstream calls waiting on this instance');
      }
      // Input the call cannot carry is the caller's error, not the function's: it must not trip the breaker.
      let body: string;
      try {
        body = JSON.stringify(request);
      } catch (err) {
        throw new RelayError(ErrorCodes.BAD_REQUEST, `the call cannot be encoded: ${(err as Error).message}`);
      }
      if (!breaker.allow()) {
        throw new RelayError(
          ErrorCodes.UPSTREAM_UNAVAILABLE,
          'upstream circuit is open after repeated failures',
        );
      }
      inFlight++;
      try {
        const reply = await post(body);
        breaker.succeeded();
        return reply;
      } catch (err) {
        breaker.failed();
        throw toUpstreamError(err, config.timeoutMs);
      } finally {
        inFlight--;
      }
    },
    close: () => pool.close(),
  };
}

async function readBounded(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_REPLY_BYTES) {
      throw new RelayError(
        ErrorCodes.UPSTREAM_INVALID,
        `upstream reply is larger than ${MAX_REPLY_BYTES} bytes`,
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function toUpstreamError(err: unknown, timeoutMs: number): RelayError {
  if (err instanceof RelayError) return err;
  const name = (err as Error)?.name;
  if (name === 'TimeoutError' || name === 'AbortError' || err instanceof undiciErrors.HeadersTimeoutError) {
    return new RelayError(ErrorCodes.UPSTREAM_TIMEOUT, `upstream did not answer within ${timeoutMs} ms`);
  }
  return new RelayError(ErrorCodes.UPSTREAM_UNAVAILABLE, 'upstream could not be reached', { cause: err });
}
