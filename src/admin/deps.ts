import type { PresentUser } from '../cluster/presence.js';
import type { InstanceRegistry } from '../cluster/registry.js';
import type { RelayConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { RelayOps } from '../relay/ops.js';

/** Why this instance does not take new clients; empty when it does. */
export type Readiness = () => string[];

/** What the composition root hands the admin app: it reaches the rest of the relay only through these. */
export interface AdminDeps {
  config: RelayConfig;
  metrics: Metrics;
  log: Logger;
  ops: RelayOps;
  registry: InstanceRegistry;
  notReadyReasons: Readiness;
  isDraining: () => boolean;
  startedAt: number;
  adapterName: string;
  /** False with the Pub/Sub adapters: reconnecting clients cannot recover missed messages. */
  recoverable: boolean;
  /** Starts a graceful drain of this instance (idempotent); the process exits when it ends. */
  startDrain: (reason: string) => void;
  /**
   * Starts a graceful drain of the live instance `instanceId`: this one directly, another one by asking it
   * over the cluster bus (fire and forget; the caller checks the id against the registry first).
   */
  drainInstance: (instanceId: string) => void;
  /**
   * The distinct users in a presence room of a namespace, cluster-wide; RLY_ERR_UNKNOWN_NAMESPACE or
   * RLY_ERR_BAD_REQUEST (not a presence room) otherwise.
   */
  presence: (namespace: string, room: string) => Promise<PresentUser[]>;
  /** Whether this instance's policy keeps presence for `room` of `namespace` (false for unknown ones). */
  isPresenceRoom: (namespace: string, room: string) => boolean;
}
