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
