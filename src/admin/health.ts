import type { FastifyInstance } from 'fastify';
import type { AdminDeps } from './deps.js';

// Kubernetes probes and Prometheus call these every few seconds on every instance: a line per request
// would bury everything else. Their request lines are info, below this floor; anything worse still shows.
const quiet = { logLevel: 'warn' } as const;

/** Liveness, readiness and Prometheus metrics: open routes, for probes and scrapers. */
export function healthRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.get('/healthz', quiet, async () => ({ ok: true }));

  app.get('/readyz', quiet, async (_request, reply) => {
    const reasons = deps.notReadyReasons();
    if (reasons.length > 0) return reply.code(503).send({ ready: false, reasons });
    return { ready: true };
  });

  app.get('/metrics', quiet, async (_request, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });
}
