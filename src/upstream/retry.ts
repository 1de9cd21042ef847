import { ErrorCodes, toErrorBody } from '../errors.js';

/** Failures of the function or of the way to it, not of the call: the same call may succeed later. */
const RETRYABLE = new Set<string>([
  ErrorCodes.UPSTREAM_UNAVAILABLE, // unreachable, or the circuit is open
  ErrorCodes.UPSTREAM_TIMEOUT,
  ErrorCodes.UPSTREAM_STATUS,
  ErrorCodes.UPSTREAM_BUSY,
]);

export interface RetryPolicy {
  /** The first pause; each next one doubles, up to `maxDelayMs`. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** How long a call is retried before it is given up. */
  giveUpAfterMs: number;
  /** Calls waiting for a retry at once; a further failing one is given up at once. */
  maxWaiting: number;
}

/** The outcome of a call that had to be delivered. */
export type Delivery =
  | { delivered: true; attempts: number }
  | { delivered: false; attempts: number; code: string };

/**
 * Calls that must reach the backend even while it fails, such as disconnects (a backend that missed one
 * would count the user as online for ever). A failed call is tried again after a backoff until it is
 * delivered or `giveUpAfterMs` has passed; a call that failed for its own sake (a bad request) is not.
 * A retry after a timeout may deliver a call twice: backends treat disconnects as idempotent.
 */
export function createRetrier(policy: RetryPolicy) {
  let waiting = 0;
  return async function deliver(call: () => Promise<unknown>): Promise<Delivery> {
    const deadline = Date.now() + policy.giveUpAfterMs;
    let delay = policy.firstDelayMs;
    let attempts = 0;
    let counted = false;
    try {
      for (;;) {
        attempts++;
        let code: string;
        try {
          await call();
          return { delivered: true, attempts };
        } catch (err) {
          code = toErrorBody(err).code;
        }
        if (!RETRYABLE.has(code) || Date.now() + delay > deadline)
          return { delivered: false, attempts, code };
        if (!counted) {
          if (waiting >= policy.maxWaiting) return { delivered: false, attempts, code };
          waiting++;
          counted = true;
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, policy.maxDelayMs);
      }
    } finally {
      if (counted) waiting--;
    }
  };
}
