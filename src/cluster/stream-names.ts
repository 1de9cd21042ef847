/** The broadcast stream's base name: the streams adapter's default, so its tools and emitters interoperate. */
export const STREAM_BASE = 'socket.io';

/**
 * The stream that carries a namespace's broadcasts, computed exactly as the streams adapter does: with
 * several streams (to spread load over a Redis Cluster's masters), a hash of the namespace name picks one.
 */
export function streamOf(namespace: string, streamCount: number): string {
  if (streamCount === 1) return STREAM_BASE;
  return `${STREAM_BASE}-${hashCode(namespace) % streamCount}`;
}

/** The adapter's string hash (Java's `String.hashCode`). */
function hashCode(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) {
    hash = hash * 31 + text.charCodeAt(i);
    hash |= 0;
  }
  return hash;
}
