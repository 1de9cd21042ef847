/**
 * A token bucket, full at first: `rate` tokens per second, holding at most `capacity`. The function it
 * returns spends one token and says whether there was one.
 */
export function tokenBucket(rate: number, capacity: number): () => boolean {
  let tokens = capacity;
  let refilledAt = Date.now();
  return () => {
    const now = Date.now();
    tokens = Math.min(capacity, tokens + ((now - refilledAt) / 1000) * rate);
    refilledAt = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}

/**
 * The same limit kept as one number per client (a generic cell rate algorithm), for state held per
 * connection without a closure: `wholeAt` is when its bucket would be full again (undefined: full). Spends
 * one token at `now`; returns the new `wholeAt`, or undefined when there was no token.
 */
export function spendToken(
  wholeAt: number | undefined,
  now: number,
  rate: number,
  capacity: number,
): number | undefined {
  const next = Math.max(wholeAt ?? now, now) + 1000 / rate;
  return next - now > (capacity * 1000) / rate ? undefined : next;
}
