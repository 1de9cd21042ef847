/**
 * Every failure that crosses a boundary (client ack, HTTP response, exit message) carries one of these codes.
 * `instanceof RelayError` tells our errors apart; `code` is what logs and clients see.
 */
export const ErrorCodes = {
  /** A setting has a bad value, or an unknown flag / file key was given. Exit code 2. */
  CONFIG: 'RLY_ERR_CONFIG',
  /** A client event or admin request body has the wrong shape. */
  BAD_REQUEST: 'RLY_ERR_BAD_REQUEST',
  /** The namespace policy (or its backend) does not allow joining / publishing to this room. */
  FORBIDDEN: 'RLY_ERR_FORBIDDEN',
  /** Room names that look like socket ids are reserved: joining one would intercept direct messages. */
  ROOM_RESERVED: 'RLY_ERR_ROOM_RESERVED',
  /** Missing, malformed, wrongly signed or expired JWT in `auth.token`, or a token that expired while connected. */
  AUTH: 'RLY_ERR_AUTH',
  /** More events per second than --rate-limit allows. */
  RATE_LIMITED: 'RLY_ERR_RATE_LIMITED',
  /** A socket may be in at most MAX_ROOMS_PER_SOCKET rooms. */
  TOO_MANY_ROOMS: 'RLY_ERR_TOO_MANY_ROOMS',
  /** The instance is at --max-connections, draining, or the origin is not allowed: the handshake is refused. */
  ADMISSION: 'RLY_ERR_ADMISSION',
  /** An event that is not a built-in, on a namespace without an upstream. */
  NO_HANDLER: 'RLY_ERR_NO_HANDLER',
  /** The namespace is not configured on this relay. */
  UNKNOWN_NAMESPACE: 'RLY_ERR_UNKNOWN_NAMESPACE',
  /** No socket with this id is connected anywhere in the cluster. */
  SOCKET_NOT_FOUND: 'RLY_ERR_SOCKET_NOT_FOUND',
  /** No live instance of the cluster has this id (it never heartbeat, aged out, or finished draining). */
  INSTANCE_NOT_FOUND: 'RLY_ERR_INSTANCE_NOT_FOUND',
  /** No admin route at this method and path. */
  ROUTE_NOT_FOUND: 'RLY_ERR_ROUTE_NOT_FOUND',
  /** Missing or wrong bearer token on an admin route. */
  UNAUTHORIZED: 'RLY_ERR_UNAUTHORIZED',
  /** The namespace's backend answered with a non-2xx status. */
  UPSTREAM_STATUS: 'RLY_ERR_UPSTREAM_STATUS',
  /** The backend's answer is not JSON, or not the reply shape. */
  UPSTREAM_INVALID: 'RLY_ERR_UPSTREAM_INVALID',
  /** The backend did not answer within its timeout. */
  UPSTREAM_TIMEOUT: 'RLY_ERR_UPSTREAM_TIMEOUT',
  /** The backend could not be reached, or its circuit breaker is open after repeated failures. */
  UPSTREAM_UNAVAILABLE: 'RLY_ERR_UPSTREAM_UNAVAILABLE',
  /** Too many calls to the backend already wait on this instance. */
  UPSTREAM_BUSY: 'RLY_ERR_UPSTREAM_BUSY',
  /** The backend refused the connection without a code of its own. */
  UPSTREAM_REJECTED: 'RLY_ERR_UPSTREAM_REJECTED',
  /** A backend's handler threw: the worker reports it in the ack. */
  UPSTREAM_HANDLER: 'RLY_ERR_UPSTREAM_HANDLER',
  /** A client stopped reading: more than --max-backpressure bytes were queued for it, so it was dropped. */
  SLOW_CONSUMER: 'RLY_ERR_SLOW_CONSUMER',
  /** A cluster-wide operation failed (Redis unreachable, request timed out). */
  CLUSTER: 'RLY_ERR_CLUSTER',
  /** A public or admin port could not be bound. */
  LISTEN: 'RLY_ERR_LISTEN',
  /** The graceful drain did not finish within --drain-timeout. */
  DRAIN_TIMEOUT: 'RLY_ERR_DRAIN_TIMEOUT',
  /** Anything unexpected; the message says what. */
  INTERNAL: 'RLY_ERR_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * When each code is used and who sees it: the error-code table of docs/configuration.md is generated from
 * this (`npm run docs`), so a new code cannot ship without its description.
 */
export const errorDescriptions: Readonly<Record<ErrorCode, string>> = {
  RLY_ERR_CONFIG: 'a bad setting at startup (stderr line, exit code 2)',
  RLY_ERR_BAD_REQUEST:
    'a room, event or `publish` payload of the wrong shape or length, or a reserved event name; an admin request with a bad body or query (400)',
  RLY_ERR_FORBIDDEN:
    "the namespace policy does not allow this `join` or `publish`; `join` of another user's `user:<id>` room; a backend (`authorizeJoin`) refused a `join` without a code of its own",
  RLY_ERR_ROOM_RESERVED:
    "`join` of a socket-id-shaped room; `leave` of the socket's own room or of its user's `user:<id>` room",
  RLY_ERR_AUTH:
    '`connect_error` `data.code` for a missing, malformed, wrongly signed or expired JWT; `relay:disconnect` when a token expires while connected',
  RLY_ERR_RATE_LIMITED:
    'an event over `--rate-limit` (ack); `relay:disconnect` before the disconnect of a socket that keeps flooding',
  RLY_ERR_TOO_MANY_ROOMS: '`join` beyond 100 rooms per socket',
  RLY_ERR_ADMISSION:
    'handshake refused (HTTP 403 message): draining, at `--max-connections`, over `--max-handshake-rate`, or an origin outside `--cors-origin`',
  RLY_ERR_NO_HANDLER:
    'an event that is not a built-in, sent with an ack, on a namespace without a backend; an event a work-queue worker has no handler for',
  RLY_ERR_UNKNOWN_NAMESPACE:
    'an admin request names a namespace that is not configured (404); `connect_error` data when `/` is not configured',
  RLY_ERR_SOCKET_NOT_FOUND: '`DELETE /v1/sockets/:id` for a socket no instance holds (404)',
  RLY_ERR_INSTANCE_NOT_FOUND: '`POST /v1/instances/:id/drain` for an instance that is not live (404)',
  RLY_ERR_ROUTE_NOT_FOUND: 'no admin route at that method and path (404)',
  RLY_ERR_UNAUTHORIZED: 'missing or wrong bearer token on `/v1/*` (401)',
  RLY_ERR_UPSTREAM_STATUS:
    "the namespace's HTTP function answered with a non-2xx status (event ack; `connect_error` data on connect)",
  RLY_ERR_UPSTREAM_INVALID: "the backend's answer is not JSON or not the reply shape",
  RLY_ERR_UPSTREAM_TIMEOUT: 'the backend did not answer within its `timeoutMs`',
  RLY_ERR_UPSTREAM_UNAVAILABLE:
    'the function could not be reached, its circuit breaker is open, or the work queue could not be written',
  RLY_ERR_UPSTREAM_BUSY: 'more than 4 × `concurrency` calls to the function already wait on this instance',
  RLY_ERR_UPSTREAM_REJECTED: 'the backend refused the connection (or dropped it) without a code of its own',
  RLY_ERR_UPSTREAM_HANDLER: 'a work-queue handler threw without a `code` (ack from `edge-relay/backend`)',
  RLY_ERR_SLOW_CONSUMER:
    'logged (`slow consumer dropped`) when a client that does not read is dropped; the client sees `transport close` and reconnects',
  RLY_ERR_CLUSTER:
    'Redis unavailable, or a cluster-wide request failed or timed out: `publish` ack (sockets on this instance still got it), admin routes (503)',
  RLY_ERR_LISTEN: 'the public or admin port could not be bound (logged; exit code 1)',
  RLY_ERR_DRAIN_TIMEOUT: 'a graceful drain took longer than `--drain-timeout` (logged; exit code 1)',
  RLY_ERR_INTERNAL: 'anything unexpected; clients and admin callers see only `internal error` (admin: 500)',
};

/** The error shape of every `{ ok: false, error }` ack and admin error response. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

export class RelayError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RelayError';
    this.code = code;
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message };
  }
}

/** A bad setting; `setting` names the flag (or file key) so the exit line can point at it. */
export class ConfigError extends RelayError {
  readonly setting: string;

  constructor(setting: string, message: string) {
    super(ErrorCodes.CONFIG, `${setting}: ${message}`);
    this.name = 'ConfigError';
    this.setting = setting;
  }
}

/**
 * A refusal a backend decided (a `join` it does not authorize): its own code and message reach the client
 * as given, since a backend may use codes of its own beside the RLY_ERR_* ones.
 */
export class UpstreamRefusal extends Error {
  readonly body: { code: string; message: string };

  constructor(body: { code: string; message: string }) {
    super(body.message);
    this.name = 'UpstreamRefusal';
    this.body = body;
  }
}

/** Any thrown value as an error body, without leaking internals of non-relay errors. */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof RelayError) return err.toBody();
  return { code: ErrorCodes.INTERNAL, message: 'internal error' };
}

/**
 * The relay tells a client why it is being disconnected with this event, sent just before the disconnect,
 * carrying `{ code, message }`.
 */
export const DISCONNECT_EVENT = 'relay:disconnect';
