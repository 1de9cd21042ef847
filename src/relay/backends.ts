import type { Socket } from 'socket.io';
import type { HeldSocket, Holdings } from '../cluster/holdings.js';
import { DISCONNECT_EVENT, ErrorCodes, RelayError, toErrorBody, UpstreamRefusal } from '../errors.js';
import type { Logger } from '../log.js';
import { binaryToJson } from '../upstream/binary.js';
import { type SocketView, safeHeaders, type UpstreamReply } from '../upstream/protocol.js';
import { createRetrier } from '../upstream/retry.js';
import type { Upstream } from '../upstream/upstream.js';
import type { RelayOps } from './ops.js';
import { type AdmitStep, type ConnectStep, refusal } from './pipeline.js';
import { assertJoinableBy, assignUser, userIdOf } from './users.js';
import { assertRoom, looksLikeSocketId } from './validate.js';

/** Handles a client event that is not a built-in; `ack` is the client's callback, if it sent one. */
export type EventForwarder = (
  socket: Socket,
  event: string,
  args: unknown[],
  ack?: (...a: unknown[]) => void,
) => void;

/**
 * Keys of `socket.data` the relay owns (set by JWT auth): a backend's `data` cannot overwrite them. The
 * claims among them: room patterns read `{claims.<name>}` from there.
 */
const RELAY_DATA_KEYS = ['userId', 'tokenExpiresAt', 'claims'] as const;
/** Handshake `auth` keys a backend never sees: the recovery session. */
const SESSION_AUTH_KEYS = ['pid', 'offset'];
/**
 * A disconnect the backend could not take (down, failing, circuit open) is tried again for up to 15
 * minutes; at most 100,000 wait at once (a few hundred bytes each).
 */
const DISCONNECT_RETRY = {
  firstDelayMs: 500,
  maxDelayMs: 30_000,
  giveUpAfterMs: 15 * 60_000,
  maxWaiting: 100_000,
};

export interface BackendsDeps {
  instanceId: string;
  ops: RelayOps;
  log: Logger;
  /** Cluster mode: who holds which socket, so lost instances' disconnects are sent once. */
  holdings: Holdings | undefined;
  /** Holding ids of the instances alive at the last sweep. */
  liveHoldings: () => ReadonlySet<string>;
  saveSession: (socket: Socket) => Promise<void>;
  /**
   * True when the relay verifies `auth.token` (JWT): the token then stays here and the backend gets the
   * verified claims. Otherwise the relay does not interpret `auth`, and a backend that authenticates the
   * client itself gets it whole.
   */
  verifiesTokens: boolean;
}

/** A namespace's backend, as steps of the namespace's pipeline. */
export interface NamespaceBackend {
  /** The backend's `connect` call decides on each new handshake. */
  admit: AdmitStep;
  /** Holds the socket for durable disconnects, applies the accepted reply, reports the disconnect. */
  connected: ConnectStep;
  /** Client events that are not built-ins. */
  forward: EventForwarder;
  /**
   * With `authorizeJoin`: asks the backend about a client's `join` the patterns allow; rejects with an
   * `UpstreamRefusal` (the backend's code) or the call's RelayError.
   */
  authorizeJoin: ((socket: Socket, room: string) => Promise<void>) | undefined;
}

/** Connects namespaces to their backends: handshakes, events, replies, and every disconnect. */
export interface Backends {
  attach(namespace: string, upstream: Upstream, opts: { authorizeJoin: boolean }): NamespaceBackend;
  /** Sends the disconnect of a socket whose instance was lost. */
  sendLost(socket: HeldSocket): void;
  /** Resolves once every call in flight has been answered (used while draining). */
  idle(): Promise<void>;
}

export function createBackends(deps: BackendsDeps): Backends {
  const hiddenAuthKeys = new Set([...SESSION_AUTH_KEYS, ...(deps.verifiesTokens ? ['token'] : [])]);
  const upstreams = new Map<string, Upstream>();
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    const done = () => inFlight.delete(p);
    p.then(done, done);
    return p;
  };
  const deliver = createRetrier(DISCONNECT_RETRY);
  const sendDisconnect = (namespace: string, socket: SocketView, reason: string) => {
    const upstream = upstreams.get(namespace);
    if (!upstream) return Promise.resolve();
    const call = () => upstream.call({ type: 'disconnect', namespace, socket, reason });
    return track(deliver(call)).then((outcome) => {
      if (outcome.delivered) {
        if (outcome.attempts > 1) {
          deps.log.info('disconnect delivered to the backend after retries', {
            namespace,
            socketId: socket.id,
            attempts: outcome.attempts,
          });
        }
        return;
      }
      deps.log.error('disconnect not delivered to the backend', {
        namespace,
        socketId: socket.id,
        code: outcome.code,
        attempts: outcome.attempts,
      });
    });
  };

  const view = (socket: Socket): SocketView => {
    const auth = Object.fromEntries(
      Object.entries(socket.handshake.auth as Record<string, unknown>).filter(
        ([k]) => !hiddenAuthKeys.has(k),
      ),
    );
    return {
      id: socket.id,
      instanceId: deps.instanceId,
      rooms: [...socket.rooms].filter((room) => room !== socket.id),
      data: socket.data,
      handshake: {
        auth,
        query: socket.handshake.query as Record<string, unknown>,
        headers: safeHeaders(socket.handshake.headers),
        address: socket.handshake.address,
      },
      ...(claimsOf(socket) ? { claims: claimsOf(socket) } : {}),
      ...(socket.recovered ? { recovered: true } : {}),
    };
  };

  /** Data and rooms; works before the socket is connected too (in the handshake middleware). */
  const applyState = async (socket: Socket, reply: UpstreamReply): Promise<boolean> => {
    const namespace = socket.nsp.name;
    let changed = false;
    if (reply.data !== undefined) {
      socket.data = withRelayKeys(reply.data, socket.data);
      changed = true;
    }
    if (reply.userId !== undefined && reply.userId !== userIdOf(socket)) {
      if (await assignUser(socket, reply.userId)) changed = true;
      else deps.log.warn('backend userId ignored: the socket has a verified user', { namespace });
    }
    for (const room of reply.join ?? []) {
      try {
        await socket.join(assertJoinableBy(socket, room));
        changed = true;
      } catch (err) {
        deps.log.warn('backend join ignored', { namespace, code: toErrorBody(err).code, error: String(err) });
      }
    }
    for (const room of reply.leave ?? []) {
      if (room === socket.id || !leavable(room, deps.log, namespace)) continue;
      await socket.leave(room);
      changed = true;
    }
    return changed;
  };

  /** Emits and disconnect: only once the socket is connected. */
  const applyActions = async (socket: Socket, reply: UpstreamReply) => {
    for (const emit of reply.emit ?? []) {
      // Through the cluster bus, even to this socket: the emit is then in the stream and recoverable.
      await deps.ops.publish(
        { namespace: socket.nsp.name, room: emit.room ?? socket.id, event: emit.event, args: emit.args },
        'backend',
      );
    }
    if (reply.disconnect) {
      socket.emit(DISCONNECT_EVENT, {
        code: reply.error?.code ?? ErrorCodes.UPSTREAM_REJECTED,
        message: reply.error?.message ?? 'disconnected by the backend',
      });
      socket.disconnect(true);
    }
  };

  /** A reply to a connected socket: state, persisted for recovery and lost-instance disconnects, then actions. */
  const apply = async (socket: Socket, reply: UpstreamReply) => {
    if (await applyState(socket, reply)) {
      await deps.saveSession(socket);
      await deps.holdings?.claim(heldOf(socket));
    }
    await applyActions(socket, reply);
  };

  return {
    attach(namespace, upstream, opts) {
      upstreams.set(namespace, upstream);
      const accepted = new WeakMap<Socket, UpstreamReply>();
      return {
        // The backend decides on each new handshake; recovered sockets skip admission (see `connected`).
        admit(socket, next) {
          void admit(socket, upstream).then((answer) => {
            if ('refused' in answer) return next(refusal(answer.refused.code, answer.refused.message));
            accepted.set(socket, answer.reply);
            next();
            // A client that leaves during the handshake never connects; the backend accepted it all the same.
            setImmediate(() => {
              if (!socket.connected) void track(end(namespace, view(socket), 'transport close'));
            });
          });
        },
        connected(socket) {
          // A new socket was held before its `connect` call; a recovered one is held before anything else.
          const claimed = socket.recovered ? claim(socket) : Promise.resolve();
          // 'disconnecting' still has the socket's rooms.
          socket.once('disconnecting', (reason: string) => {
            const snapshot = view(socket);
            // Tracked from here: a drain waits for the release and the call, not only the call.
            void track(claimed.then(() => end(namespace, snapshot, reason)));
          });
          if (!socket.recovered) {
            const reply = accepted.get(socket);
            if (reply) applyActions(socket, reply).catch((err: unknown) => logApplyError(err, socket));
            return;
          }
          // A recovered socket is a new connection for the backend, which may still refuse it.
          void claimed
            .then(() => track(upstream.call({ type: 'connect', namespace, socket: view(socket) })))
            .then((reply) => {
              if (reply.accept === false) {
                socket.emit(DISCONNECT_EVENT, rejection(reply));
                socket.disconnect(true);
                return;
              }
              return apply(socket, reply);
            })
            .catch((err: unknown) => logApplyError(err, socket));
        },
        forward(socket, event, args, ack) {
          const call = { event, args: binaryToJson(args) as unknown[] };
          track(upstream.call({ type: 'event', namespace, socket: view(socket), ...call }))
            .then(async ({ userId, ...reply }) => {
              // A socket's user is settled when it connects: the user's room and permissions follow from it.
              if (userId !== undefined)
                deps.log.warn('backend userId ignored: only a connect reply sets it', { namespace });
              await apply(socket, reply);
              ack?.(...(reply.ack ?? []));
            })
            .catch((err: unknown) => {
              if (!(err instanceof RelayError)) logApplyError(err, socket);
              ack?.({ ok: false, error: toErrorBody(err) });
            });
        },
        authorizeJoin: opts.authorizeJoin
          ? async (socket, room) => {
              const reply = await track(
                upstream.call({ type: 'join', namespace, socket: view(socket), room }),
              );
              if (reply.allow === true && reply.error === undefined) return;
              throw new UpstreamRefusal({
                code: reply.error?.code ?? ErrorCodes.FORBIDDEN,
                message: reply.error?.message ?? `joining ${JSON.stringify(room)} was refused by the backend`,
              });
            }
          : undefined,
      };
    },
    sendLost(socket) {
      const { holder: _holder, namespace, ...rest } = socket;
      sendDisconnect(namespace, rest, 'instance lost');
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };

  /**
   * Asks the backend whether a new handshake may connect: resolves with its reply, or with why not. The
   * socket is held before the backend hears of it: should this instance die from then on, the disconnect
   * still reaches the backend.
   */
  async function admit(
    socket: Socket,
    upstream: Upstream,
  ): Promise<{ reply: UpstreamReply } | { refused: { code: string; message: string } }> {
    await claim(socket);
    try {
      const reply = await track(
        upstream.call({ type: 'connect', namespace: socket.nsp.name, socket: view(socket) }),
      );
      if (reply.accept !== false) {
        // Joined before the client hears `connect`, and held again with the rooms and data the backend gave.
        if (await applyState(socket, reply)) await claim(socket);
        return { reply };
      }
      await release(socket.id);
      return { refused: rejection(reply) };
    } catch (err) {
      await release(socket.id);
      return { refused: toErrorBody(err) };
    }
  }

  /** Ends this instance's holding of a socket; the call that ended it sends the disconnect. */
  async function end(namespace: string, snapshot: SocketView, reason: string): Promise<void> {
    if (await release(snapshot.id)) await sendDisconnect(namespace, snapshot, reason);
  }

  /** True when this call ended the socket's holding (or there is nothing to hold: single-node mode). */
  async function release(socketId: string): Promise<boolean> {
    if (!deps.holdings) return true;
    try {
      return (await deps.holdings.release(socketId)) !== undefined;
    } catch (err) {
      // Better twice than never: send it anyway; only a later loss of this instance could repeat it.
      deps.log.warn('socket holding not released', { code: ErrorCodes.CLUSTER, error: String(err) });
      return true;
    }
  }

  async function claim(socket: Socket): Promise<void> {
    if (!deps.holdings) return;
    try {
      const prev = await deps.holdings.claim(heldOf(socket));
      if (!prev) return;
      // The socket's previous connection ended elsewhere without its disconnect being sent: send it first.
      const { holder, namespace, ...rest } = prev;
      sendDisconnect(namespace, rest, deps.liveHoldings().has(holder) ? 'transport close' : 'instance lost');
    } catch (err) {
      deps.log.warn('socket holding not recorded', { code: ErrorCodes.CLUSTER, error: String(err) });
    }
  }

  function logApplyError(err: unknown, socket: Socket) {
    deps.log.warn('backend reply not applied', {
      namespace: socket.nsp.name,
      socketId: socket.id,
      code: toErrorBody(err).code,
      error: err,
    });
  }
}

function heldOf(socket: Socket) {
  return {
    id: socket.id,
    namespace: socket.nsp.name,
    rooms: [...socket.rooms].filter((room) => room !== socket.id),
    data: socket.data,
  };
}

/** Why a backend refused or dropped a socket; a backend may use codes of its own, passed on as given. */
function rejection(reply: UpstreamReply): { code: string; message: string } {
  return {
    code: reply.error?.code ?? ErrorCodes.UPSTREAM_REJECTED,
    message: reply.error?.message ?? 'refused by the backend',
  };
}

/** A room a backend may make a socket leave: a valid name, and not a socket's own id room. */
function leavable(room: string, log: Logger, namespace: string): boolean {
  try {
    assertRoom(room);
  } catch {
    log.warn('backend leave ignored: bad room name', { namespace });
    return false;
  }
  if (looksLikeSocketId(room)) {
    log.warn('backend leave ignored: room shaped like a socket id', { namespace, room });
    return false;
  }
  return true;
}

function withRelayKeys(data: unknown, current: unknown): unknown {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return data;
  const kept: Record<string, unknown> = { ...(data as Record<string, unknown>) };
  const owned = (current ?? {}) as Record<string, unknown>;
  for (const key of RELAY_DATA_KEYS) if (owned[key] !== undefined) kept[key] = owned[key];
  return kept;
}

/** The verified JWT claims of the socket's handshake (see auth.ts), if it had a token. */
function claimsOf(socket: Socket): Record<string, unknown> | undefined {
  return (socket.data as { claims?: Record<string, unknown> } | undefined)?.claims;
}
