import { createAdapter } from '@socket.io/redis-streams-adapter';
import type { ServerOptions } from 'socket.io';
import type { RedisConnection } from './redis.js';

export type AdapterName = 'memory' | 'streams';

/** Names of the Redis keys the streams adapter writes; the emitter and session tooling use the same. */
export const streamsKeys = {
  stream: 'socket.io',
  sessionPrefix: 'sio:session:',
} as const;

/**
 * The Socket.IO adapter for this mode: Socket.IO's in-memory adapter without Redis (it keeps recovery
 * sessions in process memory), the Redis Streams adapter with it.
 */
export function adapterOptions(redis: RedisConnection | undefined): Partial<Pick<ServerOptions, 'adapter'>> {
  if (!redis) return {};
  return {
    adapter: createAdapter(redis.client, {
      streamName: streamsKeys.stream,
      sessionKeyPrefix: streamsKeys.sessionPrefix,
    }) as ServerOptions['adapter'],
  };
}
