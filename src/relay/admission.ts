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
}

export function createAdmission(
  config: RelayConfig,
  state: { isDraining: () => boolean; connections: () => number },
): Admission {
  const origins = config.corsOrigin ? new Set(config.corsOrigin) : undefined;
  const atCapacity = () =>
    config.maxConnections !== undefined && state.connections() >= config.maxConnections;
  return {
    atCapacity,
    allowRequest(req, callback) {
      // Engine.IO answers 403 with this message; the client sees a connect_error and tries elsewhere.
      if (state.isDraining()) return callback('RLY_ERR_ADMISSION: draining', false);
      if (atCapacity()) return callback('RLY_ERR_ADMISSION: at --max-connections', false);
      const origin = req.headers.origin;
      // Browsers always send Origin; CORS headers alone do not stop a WebSocket from another site.
      if (origins && typeof origin === 'string' && !origins.has(origin)) {
        return callback('RLY_ERR_ADMISSION: origin not allowed', false);
      }
      callback(null, true);
    },
  };
}
