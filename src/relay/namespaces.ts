import type { Namespace, Server, Socket } from 'socket.io';
import type { RelayConfig } from '../config/schema.js';
import { ErrorCodes } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { createAuthenticator, requireAuth } from './auth.js';
import type { EventForwarder } from './backends.js';
import { createBuiltins } from './builtins.js';
import { oneSocketPerConnection } from './one-socket.js';
import type { RelayOps } from './ops.js';
import { compilePolicy } from './policy.js';
import { limitRate } from './rate-limit.js';

/** Creates every configured namespace with its policy; `/` refuses clients when the config leaves it out. */
export function setupNamespaces(
  io: Server,
  config: RelayConfig,
  deps: {
    ops: RelayOps;
    metrics: Metrics;
    log: Logger;
    saveSession: (socket: Socket) => Promise<void>;
    /** The backend of a namespace that has an `upstream`, wired by the caller. */
    upstreamOf: (nsp: Namespace) => EventForwarder | undefined;
    /** True while the instance's sockets are at --max-connections. */
    atCapacity: () => boolean;
  },
): void {
  const authenticator = createAuthenticator({
    secret: config.jwtSecret,
    jwksUrl: config.jwtJwksUrl,
    audience: config.jwtAudience,
    issuer: config.jwtIssuer,
  });
  for (const [name, policy] of Object.entries(config.namespaces)) {
    const compiled = compilePolicy(policy);
    const nsp = io.of(name);
    // First: a refused CONNECT costs no token check and no backend call.
    oneSocketPerConnection(nsp, deps.atCapacity);
    if (authenticator) requireAuth(nsp, authenticator, deps.metrics);
    // After auth: the backend sees the verified userId in socket.data.
    const handleEvents = createBuiltins(name, {
      instanceId: config.instanceId,
      transport: config.transport,
      policy: compiled,
      ops: deps.ops,
      metrics: deps.metrics,
      log: deps.log,
      saveSession: deps.saveSession,
      forward: deps.upstreamOf(nsp),
      maxPayload: config.maxPayload,
    });
    nsp.on('connection', (socket: Socket) => {
      countConnection(socket, deps.metrics);
      // Before the event handling: refused events reach neither a built-in nor the backend.
      if (config.rateLimit !== undefined) limitRate(socket, config.rateLimit, deps.metrics);
      handleEvents(socket);
    });
  }
  if (!Object.hasOwn(config.namespaces, '/')) {
    io.of('/').use((_socket, next) => {
      const err = new Error('namespace "/" is not configured') as Error & { data: unknown };
      err.data = { code: ErrorCodes.UNKNOWN_NAMESPACE };
      next(err);
    });
  }
}

function countConnection(socket: Socket, metrics: Metrics): void {
  const namespace = socket.nsp.name;
  metrics.connectionsOpened.inc({ namespace });
  metrics.connections.inc({ namespace });
  socket.once('disconnect', () => metrics.connections.dec({ namespace }));
  const auth = socket.handshake.auth as Record<string, unknown>;
  if (typeof auth.pid === 'string' && typeof auth.offset === 'string') {
    metrics.recoveries.inc({ namespace, result: socket.recovered ? 'succeeded' : 'failed' });
  }
}
