import type { IncomingMessage } from 'node:http';
import type { RelayConfig } from '../config/schema.js';
import type { Metrics } from '../metrics/registry.js';
import { tokenBucket } from './token-bucket.js';

/** Engine.IO's `allowRequest` hook: the single place that decides whether a new handshake is taken. */
export interface Admission {
  allowRequest(
    req: IncomingMessage,
    callback: (err: string | null | undefined, success: boolean) => void,
  ): void;
  /** True while the instance is at --max-connections (readiness reports it). */
  atCapacity(): boolean;
  /**
   * True when connected sockets alone fill --max-connections: a new socket is refused (the connection of
   * the socket being admitted is already among the engine's, so that count cannot decide).
   */
  socketsAtCapacity(): boolean;
  /** True while handshakes arrive: one was allowed within the last ARRIVING_MS. */
  arriving(): boolean;
  /** Gives the counts to compare with --max-connections, once the server that has them exists. */
  count(counts: { connections: () => number; sockets: () => number }): void;
}

/** How long after the last allowed handshake clients still count as arriving. */
const ARRIVING_MS = 1_000;

/** Why a handshake was refused: the `reason` label of `relay_handshakes_refused_total`, and the message. */
const refusals = {
  draining: 'draining',
  'max-connections': 'at --max-connections',
  origin: 'origin not allowed',
  'max-handshake-rate': 'over --max-handshake-rate',
} as const;

export function createAdmission(
  config: RelayConfig,
  isDraining: () => boolean,
  metrics: Pick<Metrics, 'handshakesRefused'>,
): Admission {
  const origins = config.corsOrigin ? new Set(config.corsOrigin) : undefined;
  let counts = { connections: () => 0, sockets: () => 0 };
  const full = (count: number) => config.maxConnections !== undefined && count >= config.maxConnections;
  // Sockets count too: one connection may hold one per namespace.
  const atCapacity = () => full(Math.max(counts.connections(), counts.sockets()));
  // A second's worth at once. A refusal costs one short HTTP answer, and the client's reconnection backoff
  // brings it back once the instance has served the ones ahead of it; a handshake taken beyond what the
  // instance serves would instead wait out the client's connect timeout (20 s) and start over.
  const rate = config.maxHandshakeRate;
  const withinRate = rate === undefined ? () => true : tokenBucket(rate, rate);
  let lastAllowedAt = Number.NEGATIVE_INFINITY;
  return {
    atCapacity,
    socketsAtCapacity: () => full(counts.sockets()),
    arriving: () => Date.now() - lastAllowedAt < ARRIVING_MS,
    count(given) {
      counts = given;
    },
    allowRequest(req, callback) {
      // Engine.IO answers 403 with this message; the client sees a connect_error and tries elsewhere.
      const refuse = (reason: keyof typeof refusals) => {
        metrics.handshakesRefused.inc({ reason });
        callback(`RLY_ERR_ADMISSION: ${refusals[reason]}`, false);
      };
      if (isDraining()) return refuse('draining');
      if (atCapacity()) return refuse('max-connections');
      const origin = req.headers.origin;
      // Browsers always send Origin; CORS headers alone do not stop a WebSocket from another site.
      if (origins && typeof origin === 'string' && !origins.has(origin)) return refuse('origin');
      // Last: only a handshake that would otherwise be taken spends a token.
      if (!withinRate()) return refuse('max-handshake-rate');
      lastAllowedAt = Date.now();
      callback(null, true);
    },
  };
}
