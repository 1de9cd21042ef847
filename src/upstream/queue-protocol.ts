import type { UpstreamReply, UpstreamRequest } from './protocol.js';

/**
 * The work-queue wire format shared by the relay and `edge-relay/backend`: each job is one stream entry
 * with a single `job` field holding this JSON.
 */
export type QueueJob = UpstreamRequest & {
  /** Unique per job: a reply names it. */
  id: string;
  /** The Pub/Sub channel of the relay instance waiting for the reply; absent when none waits. */
  replyTo?: string;
};

/** Published on `replyTo` by the backend once a job is handled. */
export interface QueueReply {
  id: string;
  reply: UpstreamReply;
}

export const JOB_FIELD = 'job';

/** The channel on which one relay instance (one boot of it) receives its replies. */
export function replyChannel(holdingId: string): string {
  return `relay:reply:${holdingId}`;
}
