import { toErrorBody } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import type { UpstreamReply, UpstreamRequest } from './protocol.js';

/** A namespace's backend, whatever carries the calls. Rejections are RelayErrors with an UPSTREAM code. */
export interface Upstream {
  readonly kind: 'http' | 'queue';
  call(request: UpstreamRequest): Promise<UpstreamReply>;
  /** Stops taking calls and waits for the ones in flight. */
  close(): Promise<void>;
}

/** Counts every call and times it, by namespace, kind, type and outcome. */
export function instrument(upstream: Upstream, namespace: string, metrics: Metrics): Upstream {
  return {
    kind: upstream.kind,
    async call(request) {
      const labels = { namespace, kind: upstream.kind, type: request.type };
      const stop = metrics.upstreamSeconds.startTimer(labels);
      try {
        const reply = await upstream.call(request);
        metrics.upstreamCalls.inc({ ...labels, outcome: 'ok' });
        return reply;
      } catch (err) {
        metrics.upstreamCalls.inc({ ...labels, outcome: toErrorBody(err).code });
        throw err;
      } finally {
        stop();
      }
    },
    close: () => upstream.close(),
  };
}
