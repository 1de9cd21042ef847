import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { type ErrorCode, ErrorCodes, RelayError } from '../errors.js';
import { bearerAuth } from './auth.js';
import { dashboardRoutes } from './dashboard.js';
import type { AdminDeps } from './deps.js';
import { healthRoutes } from './health.js';
import { requestGuard } from './request-guard.js';
import { AdminRequestLog } from './request-log.js';
import { v1Routes } from './v1.js';

const statusByCode: Partial<Record<ErrorCode, number>> = {
  [ErrorCodes.BAD_REQUEST]: 400,
  [ErrorCodes.UNAUTHORIZED]: 401,
  [ErrorCodes.FORBIDDEN]: 403,
  [ErrorCodes.ROUTE_NOT_FOUND]: 404,
  [ErrorCodes.UNKNOWN_NAMESPACE]: 404,
  [ErrorCodes.SOCKET_NOT_FOUND]: 404,
  [ErrorCodes.INSTANCE_NOT_FOUND]: 404,
  [ErrorCodes.CLUSTER]: 503,
};

/** The Fastify control plane; every error response is `{ error: { code, message } }`. */
export async function createAdminApp(deps: AdminDeps): Promise<FastifyInstance> {
  // Fastify's lines (its listen banner, warnings, one per request) come out in the relay's shape. A Logger
  // without pino underneath gets none of them.
  const loggerInstance: FastifyBaseLogger | undefined = deps.log.pino;
  const app = Fastify({
    loggerInstance,
    logController: new AdminRequestLog(),
    bodyLimit: 1024 * 1024,
    // Reject what the schema does not allow instead of silently coercing or dropping it.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });

  app.setErrorHandler((err: FastifyError | RelayError, request, reply) => {
    if (err instanceof RelayError) {
      return reply.code(statusByCode[err.code] ?? 500).send({ error: err.toBody() });
    }
    if (err.validation || (err.statusCode !== undefined && err.statusCode < 500)) {
      return reply
        .code(err.statusCode ?? 400)
        .send({ error: { code: ErrorCodes.BAD_REQUEST, message: err.message } });
    }
    deps.log.error('admin request failed', { code: ErrorCodes.INTERNAL, reqId: request.id, error: err });
    return reply.code(500).send({ error: { code: ErrorCodes.INTERNAL, message: 'internal error' } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: {
        code: ErrorCodes.ROUTE_NOT_FOUND,
        message: `no route ${request.method} ${request.url.split('?')[0]}`,
      },
    }),
  );

  app.addHook('onRequest', requestGuard(deps.config.adminAllowedHosts));
  // On the whole /v1 prefix, unknown routes included: without the token, nothing says which routes exist.
  if (deps.config.adminToken !== undefined) {
    const auth = bearerAuth(deps.config.adminToken);
    app.addHook('onRequest', async (request) => {
      if (request.url === '/v1' || request.url.startsWith('/v1/') || request.url.startsWith('/v1?')) {
        await auth(request);
      }
    });
  }
  healthRoutes(app, deps);
  dashboardRoutes(app, { tokenRequired: deps.config.adminToken !== undefined });
  await app.register(async (v1) => v1Routes(v1, deps), { prefix: '/v1' });
  return app;
}
