import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../cluster/redis.js';
import type { QueueUpstreamConfig } from '../config/namespaces.js';
import { ErrorCodes, RelayError } from '../errors.js';
import { JOB_FIELD, type QueueJob } from './queue-protocol.js';
import type { ReplyRouter } from './replies.js';
import type { Upstream } from './upstream.js';

/**
 * A work-queue backend: each call is appended to the namespace's stream, where backends of a consumer
 * group share it; connects and events wait for the reply on this instance's channel, disconnects do not.
 */
export function createQueueUpstream(
  config: QueueUpstreamConfig,
  deps: { client: RedisClient; replies: ReplyRouter },
): Upstream {
  const append = async (job: QueueJob) => {
    try {
      await deps.client.xAdd(
        config.stream,
        '*',
        { [JOB_FIELD]: JSON.stringify(job) },
        { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: config.maxLen } },
      );
    } catch (err) {
      throw new RelayError(ErrorCodes.UPSTREAM_UNAVAILABLE, 'the work queue could not be written', {
        cause: err,
      });
    }
  };
  return {
    kind: 'queue',
    async call(request) {
      const id = randomUUID();
      if (request.type === 'disconnect') {
        await append({ ...request, id });
        return {};
      }
      const reply = deps.replies.expect(id, config.timeoutMs);
      try {
        await append({ ...request, id, replyTo: deps.replies.channel });
      } catch (err) {
        deps.replies.cancel(id);
        throw err;
      }
      return reply;
    },
    async close() {},
  };
}
