import type { FastifyInstance } from 'fastify';
import type { AdminDeps } from './deps.js';

/** Liveness, readiness and Prometheus metrics: open routes, for probes and scrapers. */
export function healthRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.get('/healthz', async () => ({ ok: true }));

  app.get('/readyz', async (_request, reply) => {
    const reasons = deps.notReadyReasons();
    if (reasons.length > 0) return reply.code(503).send({ ready: false, reasons });
    return { ready: true };
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });
}
