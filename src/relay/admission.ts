import type { IncomingMessage } from 'node:http';
import type { RelayConfig } from '../config/schema.js';

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

export function createAdmission(config: RelayConfig, isDraining: () => boolean): Admission {
  const origins = config.corsOrigin ? new Set(config.corsOrigin) : undefined;
  let counts = { connections: () => 0, sockets: () => 0 };
  const full = (count: number) => config.maxConnections !== undefined && count >= config.maxConnections;
  // Sockets count too: one connection may hold one per namespace.
  const atCapacity = () => full(Math.max(counts.connections(), counts.sockets()));
  let lastAllowedAt = Number.NEGATIVE_INFINITY;
  return {
    atCapacity,
    arriving: () => Date.now() - lastAllowedAt < ARRIVING_MS,
    socketsAtCapacity: () => full(counts.sockets()),
    count(given) {
      counts = given;
    },
    allowRequest(req, callback) {
      // Engine.IO answers 403 with this message; the client sees a connect_error and tries elsewhere.
      if (isDraining()) return callback('RLY_ERR_ADMISSION: draining', false);
      if (atCapacity()) return callback('RLY_ERR_ADMISSION: at --max-connections', false);
      const origin = req.headers.origin;
      // Browsers always send Origin; CORS headers alone do not stop a WebSocket from another site.
      if (origins && typeof origin === 'string' && !origins.has(origin)) {
        return callback('RLY_ERR_ADMISSION: origin not allowed', false);
      }
      lastAllowedAt = Date.now();
      callback(null, true);
    },
  };
}
