import { type ErrorBody, ErrorCodes, RelayError } from '../errors.js';
import { MAX_USER_ID_LENGTH, toUserId } from '../relay/users.js';
import { binaryFromJson } from './binary.js';

/** The socket as a backend sees it. */
export interface SocketView {
  id: string;
  instanceId: string;
  rooms: string[];
  data: unknown;
  /** Absent for sockets whose instance was lost (only what was persisted is known then). */
  handshake?: {
    auth: unknown;
    query: Record<string, unknown>;
    headers: Record<string, string>;
    address: string;
  };
  /** The verified claims of the client's JWT, when the relay checks tokens (the token itself is never sent). */
  claims?: Record<string, unknown>;
  /** True when the socket reconnected with its state recovered (no handshake middleware ran). */
  recovered?: boolean;
}

/** What the relay sends a backend: the JSON body of an HTTP call, or one work-queue job. */
export type UpstreamRequest =
  | { type: 'connect'; namespace: string; socket: SocketView }
  | { type: 'event'; namespace: string; socket: SocketView; event: string; args: unknown[] }
  /** Namespaces with `authorizeJoin`: a client's `join` that the patterns allow; answered with `allow` or `error`. */
  | { type: 'join'; namespace: string; socket: SocketView; room: string }
  | { type: 'disconnect'; namespace: string; socket: SocketView; reason: string };

/**
 * One emit a backend asks for; without `room`, to the socket itself. A reply gives either `data` (one
 * argument) or `args` (every argument, as the client receives them); both arrive here as `args`.
 */
export interface EmitRequest {
  room?: string;
  event: string;
  args: unknown[];
}

/** What a backend answers; every field is optional. */
export interface UpstreamReply {
  /** Connect only: `false` refuses the connection with `error`. */
  accept?: boolean;
  error?: ErrorBody | { code: string; message: string };
  /** Join calls only: `true` lets the client join; anything else refuses it (with `error` if given). */
  allow?: boolean;
  /** Becomes `socket.data`. */
  data?: unknown;
  /** Connect replies only: the socket's user, when it has none yet (a JWT's user is never replaced). */
  userId?: string;
  join?: string[];
  leave?: string[];
  emit?: EmitRequest[];
  /** The arguments of the client's ack. */
  ack?: unknown[];
  disconnect?: boolean;
}

/**
 * Headers a backend may see: enough to identify the client, never its cookies or credentials (those
 * stay between the client and the relay).
 */
const SAFE_HEADERS = [
  'user-agent',
  'origin',
  'referer',
  'accept-language',
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-real-ip',
  'x-request-id',
];

export function safeHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of SAFE_HEADERS) {
    const value = headers[name];
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * Checks a backend's answer field by field; a wrong shape is the backend's fault, reported with a code.
 * `{ $binary }` values become binary again.
 */
export function parseReply(raw: unknown): UpstreamReply {
  if (raw === undefined || raw === null || raw === '') return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) invalid('the reply is not a JSON object');
  const r = binaryFromJson(raw) as Record<string, unknown>;
  const reply: UpstreamReply = {};
  if (r.accept !== undefined) {
    if (typeof r.accept !== 'boolean') invalid('accept must be a boolean');
    reply.accept = r.accept;
  }
  if (r.error !== undefined) {
    const e = r.error as Record<string, unknown> | null;
    if (!e || typeof e !== 'object' || typeof e.code !== 'string' || typeof e.message !== 'string') {
      invalid('error must be { code, message } with two strings');
    }
    reply.error = { code: e.code as string, message: e.message as string };
  }
  if (r.allow !== undefined) {
    if (typeof r.allow !== 'boolean') invalid('allow must be a boolean');
    reply.allow = r.allow;
  }
  if (r.data !== undefined) reply.data = r.data;
  if (r.userId !== undefined) {
    const userId = typeof r.userId === 'string' ? toUserId(r.userId) : undefined;
    if (userId === undefined) invalid(`userId must be a string of 1 to ${MAX_USER_ID_LENGTH} characters`);
    reply.userId = userId;
  }
  for (const key of ['join', 'leave'] as const) {
    const list = r[key];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.some((room) => typeof room !== 'string' || room === '')) {
      invalid(`${key} must be a list of room names`);
    }
    reply[key] = list as string[];
  }
  if (r.emit !== undefined) {
    if (!Array.isArray(r.emit))
      invalid('emit must be a list of { room?, event, data } or { room?, event, args }');
    reply.emit = (r.emit as unknown[]).map((item) => {
      const e = item as Record<string, unknown> | null;
      if (!e || typeof e !== 'object' || typeof e.event !== 'string' || e.event === '') {
        invalid('each emit needs an event name');
      }
      if (e.room !== undefined && (typeof e.room !== 'string' || e.room === '')) {
        invalid('an emit room must be a non-empty string');
      }
      if (e.args !== undefined && (!Array.isArray(e.args) || e.data !== undefined)) {
        invalid('an emit has either data or args, and args is a list');
      }
      return {
        ...(e.room === undefined ? {} : { room: e.room as string }),
        event: e.event as string,
        args: e.args === undefined ? [e.data] : (e.args as unknown[]),
      };
    });
  }
  if (r.ack !== undefined) {
    if (!Array.isArray(r.ack)) invalid('ack must be the list of the ack arguments');
    reply.ack = r.ack as unknown[];
  }
  if (r.disconnect !== undefined) {
    if (typeof r.disconnect !== 'boolean') invalid('disconnect must be a boolean');
    reply.disconnect = r.disconnect;
  }
  return reply;
}

function invalid(message: string): never {
  throw new RelayError(ErrorCodes.UPSTREAM_INVALID, `upstream reply: ${message}`);
}
