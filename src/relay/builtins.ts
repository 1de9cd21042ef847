import type { Socket } from 'socket.io';
import type { TransportName } from '../config/schema.js';
import { type ErrorBody, ErrorCodes, RelayError, toErrorBody, UpstreamRefusal } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { EventForwarder } from './backends.js';
import type { RelayOps } from './ops.js';
import type { ConnectStep } from './pipeline.js';
import type { CompiledPolicy } from './policy.js';
import type { NamespacePresence } from './presence.js';
import { assertJoinableBy, userIdOf, userRoom } from './users.js';
import { assertData, assertPublish, assertRoom } from './validate.js';

export const BUILTIN_EVENTS = ['join', 'leave', 'publish', 'whoami', 'presence'] as const;
type Builtin = (typeof BUILTIN_EVENTS)[number];
const builtinSet: ReadonlySet<string> = new Set(BUILTIN_EVENTS);

type Ack = (reply: OkReply | ErrorReply) => void;
type OkReply = { ok: true } & Record<string, unknown>;
type ErrorReply = { ok: false; error: ErrorBody | UpstreamRefusal['body'] };

export interface BuiltinDeps {
  instanceId: string;
  transport: TransportName;
  policy: CompiledPolicy;
  ops: RelayOps;
  metrics: Metrics;
  log: Logger;
  /** Resolves once the socket's rooms are persisted for crash recovery (no-op without Redis). */
  saveSession: (socket: Socket) => Promise<void>;
  /** The namespace's backend, when it has one: it gets every event that is not a built-in. */
  forward: EventForwarder | undefined;
  /** With the upstream's `authorizeJoin`: the backend's say on each join the patterns allow. */
  authorizeJoin: ((socket: Socket, room: string) => Promise<void>) | undefined;
  /** --max-payload: the most an event's arguments may weigh once decoded. */
  maxPayload: number;
  /** The namespace's presence rooms, when its policy lists some. */
  presence: NamespacePresence | undefined;
}

/**
 * A namespace's event handling: `join`, `leave`, `publish`, `whoami`, `presence`, and every other event to the
 * namespace's backend or answered with RLY_ERR_NO_HANDLER. Built once per namespace; each socket gets one
 * small middleware, last in its chain, that handles the event itself. Handlers shared by every socket
 * instead of closures per socket: those cost about 1 KB per connection. Last in the chain, every event
 * has passed the rate limit first (a catch-all `onAny` listener runs before middleware).
 */
export function createBuiltins(namespace: string, deps: BuiltinDeps): ConnectStep {
  const handlers: Record<
    Builtin,
    (socket: Socket, args: unknown[]) => Promise<Record<string, unknown>> | Record<string, unknown>
  > = {
    async join(socket, [room]) {
      // Before the patterns: whatever they say (`user:*` included), another user's room stays closed.
      const name = assertJoinableBy(socket, room);
      if (!deps.policy.allowsJoin(name, socket)) {
        throw new RelayError(
          ErrorCodes.FORBIDDEN,
          `joining ${JSON.stringify(name)} is not allowed on ${namespace}`,
        );
      }
      // Already in it (its own user room, which it is in since it connected, or a repeated join): there is
      // nothing to do, and nothing to ask the backend.
      if (socket.rooms.has(name)) return {};
      if (deps.authorizeJoin) {
        await deps.authorizeJoin(socket, name);
        // Gone while the backend decided: joining now would leave a room entry no disconnect cleans up.
        if (!socket.connected) return {};
      }
      await socket.join(name);
      // Acked only once persisted: a crash right after the ack still restores this room.
      await deps.saveSession(socket);
      return {};
    },
    async leave(socket, [room]) {
      const name = assertRoom(room);
      if (name === socket.id)
        throw new RelayError(ErrorCodes.ROOM_RESERVED, 'a socket cannot leave its own room');
      const userId = userIdOf(socket);
      if (userId !== undefined && name === userRoom(userId))
        throw new RelayError(ErrorCodes.ROOM_RESERVED, "a socket cannot leave its user's room");
      await socket.leave(name);
      await deps.saveSession(socket);
      return {};
    },
    async publish(socket, [payload]) {
      const { room, event, data } = assertPublish(payload);
      if (!deps.policy.allowsPublish(room, socket)) {
        throw new RelayError(
          ErrorCodes.FORBIDDEN,
          `publishing to ${JSON.stringify(room)} is not allowed on ${namespace}`,
        );
      }
      await deps.ops.publish({ namespace, room, event, data }, 'client');
      return {};
    },
    whoami(socket) {
      return {
        socketId: socket.id,
        instanceId: deps.instanceId,
        transport: deps.transport,
        engine: socket.conn.transport.name,
        recovered: socket.recovered,
        ...(typeof socket.data?.userId === 'string' ? { userId: socket.data.userId } : {}),
      };
    },
    async presence(socket, [room]) {
      const name = assertRoom(room);
      if (!deps.presence?.isPresenceRoom(name)) {
        throw new RelayError(
          ErrorCodes.BAD_REQUEST,
          `${JSON.stringify(name)} is not a presence room on ${namespace}`,
        );
      }
      // Members may look, and so may whoever the policy would let in: they could join and see anyway.
      if (!socket.rooms.has(name) && !deps.policy.allowsJoin(name, socket)) {
        throw new RelayError(
          ErrorCodes.FORBIDDEN,
          `the presence of ${JSON.stringify(name)} is for its members on ${namespace}`,
        );
      }
      return { room: name, users: await deps.presence.list(name) };
    },
  };

  const run = (
    handler: () => Promise<Record<string, unknown>> | Record<string, unknown>,
    ack: Ack | undefined,
  ) => {
    Promise.resolve()
      .then(handler)
      .then(
        (fields) => ack && reply(ack, { ok: true, ...fields }),
        (err: unknown) => {
          if (!(err instanceof RelayError || err instanceof UpstreamRefusal))
            deps.log.error('built-in event failed', { namespace, error: err });
          if (ack) reply(ack, errorReply(err));
        },
      );
  };
  const reply = (ack: Ack, body: OkReply | ErrorReply) => {
    deps.metrics.eventsOut.inc({ namespace, outcome: body.ok ? 'ok' : 'error' });
    ack(body);
  };
  /** A backend's ack: its arguments as the backend gave them. */
  const replyWith = (ack: Ack, args: unknown[]) => {
    const first = args[0] as { ok?: unknown } | undefined;
    deps.metrics.eventsOut.inc({ namespace, outcome: first?.ok === false ? 'error' : 'ok' });
    (ack as (...a: unknown[]) => void)(...args);
  };

  const onEvent = (socket: Socket, [event, ...args]: unknown[]) => {
    const ack = takeAck(args);
    if (typeof event === 'string' && builtinSet.has(event)) {
      deps.metrics.eventsIn.inc({ namespace, event });
      run(() => handlers[event as Builtin](socket, args), ack);
      return;
    }
    deps.metrics.eventsIn.inc({ namespace, event: 'other' });
    if (deps.forward) {
      // A client's bad input is that client's error: it must not reach (and fail) the backend call, where
      // it would count toward the circuit breaker that every other client depends on.
      try {
        assertData(args, deps.maxPayload);
      } catch (err) {
        if (ack) reply(ack, errorReply(err));
        return;
      }
      deps.forward(socket, String(event), args, ack && ((...a: unknown[]) => replyWith(ack, a)));
      return;
    }
    if (ack)
      reply(
        ack,
        errorReply(
          new RelayError(
            ErrorCodes.NO_HANDLER,
            `no handler for event ${JSON.stringify(String(event).slice(0, 128))} on ${namespace}`,
          ),
        ),
      );
  };
  // Never calls next(): no listener of the socket's own handles client events.
  return (socket) => socket.use((packet) => onEvent(socket, packet));
}

function takeAck(args: unknown[]): Ack | undefined {
  return typeof args[args.length - 1] === 'function' ? (args.pop() as Ack) : undefined;
}

function errorReply(err: unknown): ErrorReply {
  return { ok: false, error: err instanceof UpstreamRefusal ? err.body : toErrorBody(err) };
}
