import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the relay, read field by field by each test
type Json = any;

/** One call of the relay's HTTP upstream, as the function receives it. */
export interface FunctionCall {
  type: string;
  namespace: string;
  socket: Record<string, Json>;
  event?: string;
  args?: Json[];
  reason?: string;
  /** `join` calls (namespaces with `authorizeJoin`). */
  room?: string;
}

/** How far a call's signed timestamp may be from the function's clock (docs/backends.md, reference check). */
export const REPLAY_WINDOW_MS = 5 * 60_000;

/**
 * The reference check of docs/backends.md: `X-Relay-Signature` is the HMAC of
 * `<X-Relay-Timestamp>.<raw body>`, and the timestamp is within REPLAY_WINDOW_MS of `now`.
 */
export function verifySignature(
  secret: string,
  headers: IncomingHttpHeaders,
  body: Buffer,
  now = Date.now(),
): boolean {
  const timestamp = String(headers['x-relay-timestamp'] ?? '');
  if (!/^\d{1,16}$/.test(timestamp) || Math.abs(now - Number(timestamp)) > REPLAY_WINDOW_MS) return false;
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
  const expected = Buffer.from(`sha256=${mac}`);
  const given = Buffer.from(String(headers['x-relay-signature'] ?? ''));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Answers a call: a string body is sent as it is (to test bad replies), anything else as JSON. */
export type Reply = (status: number, body?: unknown) => void;

/**
 * A function backend on loopback: checks the `X-Relay-Signature` of every call (a bad one gets 401 and is
 * counted, not recorded), records the call, and lets `answer` reply.
 */
export async function startFunctionServer(
  secret: string,
  answer: (call: FunctionCall, reply: Reply) => void,
) {
  const calls: FunctionCall[] = [];
  /** The raw requests as they arrived, to replay them. */
  const captured: Array<{ headers: IncomingHttpHeaders; body: Buffer }> = [];
  let badSignatures = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (!verifySignature(secret, req.headers, body)) {
        badSignatures++;
        res.writeHead(401).end();
        return;
      }
      captured.push({ headers: { ...req.headers }, body });
      const call = JSON.parse(body.toString()) as FunctionCall;
      calls.push(call);
      answer(call, (status, reply) => {
        if (typeof reply === 'string') res.writeHead(status).end(reply);
        else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(reply ?? {}));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/relay`,
    calls,
    captured,
    badSignatures: () => badSignatures,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
