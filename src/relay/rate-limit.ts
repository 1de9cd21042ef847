import type { Socket } from 'socket.io';
import { DISCONNECT_EVENT, ErrorCodes } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import type { ConnectStep } from './pipeline.js';
import { tokenBucket } from './token-bucket.js';

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
  const take = tokenBucket(rate, rate * 2);
  const abuse = rate * 4;
  let windowStart = 0;
  let refused = 0;
  socket.use((packet, next) => {
    if (take()) return next();
    metrics.rateLimited.inc({ namespace: socket.nsp.name });
    const ack = packet[packet.length - 1];
    const error = { code: ErrorCodes.RATE_LIMITED, message: `more than ${rate} events per second` };
    if (typeof ack === 'function') ack({ ok: false, error });
    const now = Date.now();
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
