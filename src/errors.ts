/**
 * Every failure that crosses a boundary (client ack, HTTP response, exit message) carries one of these codes.
 * `instanceof RelayError` tells our errors apart; `code` is what logs and clients see.
 */
export const ErrorCodes = {
  /** A setting has a bad value, or an unknown flag / file key was given. Exit code 2. */
  CONFIG: 'RLY_ERR_CONFIG',
  /** A client event or admin request body has the wrong shape. */
  BAD_REQUEST: 'RLY_ERR_BAD_REQUEST',
  /** The namespace policy does not allow joining / publishing to this room. */
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
