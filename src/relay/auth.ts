import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose';
import { DISCONNECT_EVENT, ErrorCodes } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import { type AdmitStep, type ConnectStep, refusal } from './pipeline.js';
import { toUserId } from './users.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Verifies `auth.token` at the handshake; the user claim (`sub` by default) becomes `socket.data.userId`. */
export interface Authenticator {
  verify(
    token: unknown,
  ): Promise<{ userId: string; expiresAt: number | undefined; claims: Record<string, unknown> }>;
}

/** Why a token was refused: the message a client sees (never the secret or key material). */
export class AuthError extends Error {
  constructor(readonly reason: 'missing' | 'malformed' | 'signature' | 'expired' | 'claims' | 'keys') {
    super(
      {
        missing: 'auth.token is required',
        malformed: 'auth.token is not a valid JWT',
        signature: 'auth.token signature is not valid',
        expired: 'auth.token has expired',
        claims: 'auth.token lacks its user claim or exp, has another audience or issuer, or is not valid yet',
        keys: 'the signing keys could not be fetched',
      }[reason],
    );
    this.name = 'AuthError';
  }
}

export function createAuthenticator(opts: {
  secret?: string | undefined;
  jwksUrl?: string | undefined;
  /** Required `aud` and `iss` values, when set. */
  audience?: string | undefined;
  issuer?: string | undefined;
  /** The claim that names the user (--jwt-user-claim); default `sub`. */
  userClaim?: string | undefined;
}): Authenticator | undefined {
  const userClaim = opts.userClaim ?? 'sub';
  let key: Uint8Array | JWTVerifyGetKey;
  let algorithms: string[];
  if (opts.secret !== undefined) {
    key = new TextEncoder().encode(opts.secret);
    algorithms = ['HS256'];
  } else if (opts.jwksUrl !== undefined) {
    // jose caches the key set and refetches on an unknown key id, at most every 30 s.
    key = createRemoteJWKSet(new URL(opts.jwksUrl));
    algorithms = ['RS256', 'ES256'];
  } else {
    return undefined;
  }
  return {
    async verify(token) {
      if (typeof token !== 'string' || token === '') throw new AuthError('missing');
      try {
        // A token without `exp` would be valid for ever, and a leaked one could never be revoked.
        const { payload } = await jwtVerify(token, key as Uint8Array, {
          algorithms,
          requiredClaims: ['exp'],
          ...(opts.audience !== undefined ? { audience: opts.audience } : {}),
          ...(opts.issuer !== undefined ? { issuer: opts.issuer } : {}),
        });
        // Without a usable user id the socket could not have its user room or `{userId}` permissions.
        const userId = toUserId(payload[userClaim]);
        if (userId === undefined) throw new AuthError('claims');
        const expiresAt = payload.exp === undefined ? undefined : payload.exp * 1000;
        return { userId, expiresAt, claims: { ...payload } };
      } catch (err) {
        throw toAuthError(err);
      }
    },
  };
}

function toAuthError(err: unknown): AuthError {
  if (err instanceof AuthError) return err;
  if (err instanceof joseErrors.JWTExpired) return new AuthError('expired');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new AuthError('signature');
  if (err instanceof joseErrors.JWTClaimValidationFailed) return new AuthError('claims');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return new AuthError('signature');
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new AuthError('signature');
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid)
    return new AuthError('keys');
  return new AuthError('malformed');
}

/**
 * Admits a handshake with a valid token; one without gets a connect_error whose `data.code` is
 * RLY_ERR_AUTH. The verified identity goes into `socket.data` (and with it into the recovery session).
 */
export function authenticate(auth: Authenticator, metrics: Metrics): AdmitStep {
  return (socket, next) => {
    auth.verify((socket.handshake.auth as Record<string, unknown>).token).then(
      ({ userId, expiresAt, claims }) => {
        // The verified claims travel with the socket (and its recovered session); the token does not.
        socket.data = { ...(socket.data as object), userId, tokenExpiresAt: expiresAt, claims };
        next();
      },
      (err: AuthError) => {
        metrics.authFailures.inc({ namespace: socket.nsp.name, reason: err.reason });
        next(refusal(ErrorCodes.AUTH, err.message));
      },
    );
  };
}

/**
 * Tells a socket whose token expires so (`relay:disconnect`) and closes it. Recovered sockets keep their
 * data, and with it their expiry.
 */
export function expireTokens(metrics: Metrics): ConnectStep {
  return (socket) => {
    const expiresAt = (socket.data as { tokenExpiresAt?: number } | undefined)?.tokenExpiresAt;
    if (expiresAt === undefined) return;
    const expire = () => {
      metrics.authFailures.inc({ namespace: socket.nsp.name, reason: 'expired' });
      socket.emit(DISCONNECT_EVENT, { code: ErrorCodes.AUTH, message: 'auth.token has expired' });
      socket.disconnect(true);
    };
    let timer: NodeJS.Timeout;
    const schedule = () => {
      const left = expiresAt - Date.now();
      // setTimeout cannot wait longer than MAX_TIMER_MS: far expiries are re-scheduled in steps.
      timer =
        left > MAX_TIMER_MS ? setTimeout(schedule, MAX_TIMER_MS) : setTimeout(expire, Math.max(0, left));
    };
    schedule();
    socket.once('disconnect', () => clearTimeout(timer));
  };
}
