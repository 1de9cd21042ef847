import type { Socket } from 'socket.io';
import { DISCONNECT_EVENT, ErrorCodes } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import type { ConnectStep } from './pipeline.js';

/**
 * A token bucket per socket on every incoming event: `rate` events per second, bursts up to twice that.
 * Refused events get `{ ok: false, error: RLY_ERR_RATE_LIMITED }` on their ack. A socket with more than
 * four times the rate refused within one second (it sends at over five times the rate) is told why
 * (`relay:disconnect`) and disconnected.
 */
export function limitRate(rate: number, metrics: Metrics): ConnectStep {
  return (socket) => limitSocket(socket, rate, metrics);
}

function limitSocket(socket: Socket, rate: number, metrics: Metrics): void {
  const capacity = rate * 2;
  const abuse = rate * 4;
  let tokens = capacity;
  let refilledAt = Date.now();
  let windowStart = 0;
  let refused = 0;
  socket.use((packet, next) => {
    const now = Date.now();
    tokens = Math.min(capacity, tokens + ((now - refilledAt) / 1000) * rate);
    refilledAt = now;
    if (tokens >= 1) {
      tokens -= 1;
      return next();
    }
    metrics.rateLimited.inc({ namespace: socket.nsp.name });
    const ack = packet[packet.length - 1];
    const error = { code: ErrorCodes.RATE_LIMITED, message: `more than ${rate} events per second` };
    if (typeof ack === 'function') ack({ ok: false, error });
    if (now - windowStart >= 1000) {
      windowStart = now;
      refused = 0;
    }
    if (++refused > abuse) {
      socket.emit(DISCONNECT_EVENT, error);
      socket.disconnect(true);
    }
  });
}
