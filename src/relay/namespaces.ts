import type { Server, Socket } from 'socket.io';
import type { RelayConfig } from '../config/schema.js';
import { ErrorCodes } from '../errors.js';
import { compactSocket } from '../internals.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { authenticate, createAuthenticator, expireTokens } from './auth.js';
import type { NamespaceBackend } from './backends.js';
import { createBuiltins } from './builtins.js';
import { slimHandshake } from './handshake.js';
import { oneSocketPerConnection } from './one-socket.js';
import type { RelayOps } from './ops.js';
import { type AdmitStep, type ConnectStep, installPipeline, refusal } from './pipeline.js';
import { compilePolicy } from './policy.js';
import type { NamespacePresence } from './presence.js';
import { limitRate } from './rate-limit.js';
import { recheckRooms } from './recheck.js';
import { joinUserRoom } from './users.js';

export interface NamespaceDeps {
  ops: RelayOps;
  metrics: Metrics;
  log: Logger;
  saveSession: (socket: Socket) => Promise<void>;
  /** True while the instance's sockets are at --max-connections. */
  atCapacity: () => boolean;
  /** The cluster's first connect step: recovery's replay (Redis Streams only). */
  replay: ConnectStep | undefined;
  /** The transport's connect step, if it has one. */
  transportConnected: ConnectStep | undefined;
  /** The backend of a namespace that has an `upstream`. */
  backendOf: (namespace: string) => NamespaceBackend | undefined;
  /** The presence rooms of a namespace whose policy lists some. */
  presenceOf: (namespace: string) => NamespacePresence | undefined;
}

/**
 * Creates every configured namespace with its pipeline, the one place that says in which order a socket
 * meets the relay's modules. `/` refuses clients when the config leaves it out.
 */
export function setupNamespaces(io: Server, config: RelayConfig, deps: NamespaceDeps): void {
  const authenticator = createAuthenticator({
    secret: config.jwtSecret,
    jwksUrl: config.jwtJwksUrl,
    audience: config.jwtAudience,
    issuer: config.jwtIssuer,
    userClaim: config.jwtUserClaim,
  });
  const optional = <T>(step: T | undefined | false): T[] => (step ? [step] : []);
  for (const [name, policy] of Object.entries(config.namespaces)) {
    const backend = deps.backendOf(name);
    const presence = deps.presenceOf(name);
    const compiled = compilePolicy(policy);
    const oneSocket = oneSocketPerConnection(deps.atCapacity);
    const admit: AdmitStep[] = [
      // First: a refused CONNECT costs no token check and no backend call.
      oneSocket.admit,
      // Before the backend: its `connect` call sees the verified user in socket.data.
      ...optional(authenticator && authenticate(authenticator, deps.metrics)),
      ...optional(backend?.admit),
    ];
    const connect: ConnectStep[] = [
      // First: a restored socket gets what it missed before anything else is sent to it.
      ...optional(deps.replay),
      ...optional(deps.transportConnected),
      // Before anything keeps a reference to the full headers; backends get the safe ones all the same.
      slimHandshake,
      oneSocket.connected,
      // A namespace with a backend gets rooms from it too, which its patterns do not govern: there the
      // backend's `connect` call for the recovered socket (it sees `rooms`, may answer `leave`) re-checks.
      ...optional(!backend && recheckRooms(compiled, deps.log)),
      countConnection(deps.metrics),
      ...optional(authenticator && expireTokens(deps.metrics)),
      // The user is known by now (JWT, or the backend's connect reply at admission).
      joinUserRoom,
      // With its user and restored rooms: counts it in its presence rooms, then follows its rooms wherever
      // they change (the backend's connect reply included), and its disconnect.
      ...optional(presence?.connected),
      ...optional(backend?.connected),
      // Before the event handling: refused events reach neither a built-in nor the backend.
      ...optional(config.rateLimit !== undefined && limitRate(config.rateLimit, deps.metrics)),
      createBuiltins(name, {
        instanceId: config.instanceId,
        transport: config.transport,
        policy: compiled,
        ops: deps.ops,
        metrics: deps.metrics,
        log: deps.log,
        saveSession: deps.saveSession,
        forward: backend?.forward,
        authorizeJoin: backend?.authorizeJoin,
        maxPayload: config.maxPayload,
        presence,
      }),
      // Last: with every listener of the connection in place, what it keeps shrinks (measured on an idle
      // uWS connection: 6,840 → 5,606 bytes of heap).
      compactSocket,
    ];
    installPipeline(io.of(name), { admit, connect });
  }
  if (!Object.hasOwn(config.namespaces, '/')) {
    const unconfigured: AdmitStep = (_socket, next) =>
      next(refusal(ErrorCodes.UNKNOWN_NAMESPACE, 'namespace "/" is not configured'));
    installPipeline(io.of('/'), { admit: [unconfigured], connect: [] });
  }
}

function countConnection(metrics: Metrics): ConnectStep {
  // One listener for every socket (called with the socket as `this`), not a closure each; `disconnect`
  // comes once.
  const disconnected = function (this: Socket) {
    metrics.connections.dec({ namespace: this.nsp.name });
  };
  return (socket) => {
    const namespace = socket.nsp.name;
    metrics.connectionsOpened.inc({ namespace });
    metrics.connections.inc({ namespace });
    socket.on('disconnect', disconnected);
    const auth = socket.handshake.auth as Record<string, unknown>;
    if (typeof auth.pid === 'string' && typeof auth.offset === 'string') {
      metrics.recoveries.inc({ namespace, result: socket.recovered ? 'succeeded' : 'failed' });
    }
  };
}
