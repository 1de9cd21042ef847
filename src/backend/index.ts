// `edge-relay/backend`: a worker of a namespace's work queue (`upstream: { queue: {} }`).

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { errorReporter, type OutsideRedisOptions, outsideClient } from '../cluster/outside.js';
import { defaultQueueStream } from '../config/namespaces.js';
import { createEmitter, type NamespaceEmitter, roomsOf, type Target } from '../emitter/index.js';
import { DISCONNECT_EVENT, ErrorCodes } from '../errors.js';
import { binaryFromJson, binaryToJson } from '../upstream/binary.js';
import type { SocketView, UpstreamReply } from '../upstream/protocol.js';
import { JOB_FIELD, type QueueJob, type QueueReply } from '../upstream/queue-protocol.js';

export type { Target } from '../emitter/index.js';
export type { SocketView } from '../upstream/protocol.js';

/**
 * Where the relays' Redis is: `redisUrl`, or `redisCluster` (and `streamCount` as the relays have it).
 * `onError` hears each failure the backend survives; it keeps reading and claiming.
 */
export interface BackendOptions extends OutsideRedisOptions {
  /** The namespace whose queue this backend serves, e.g. `/jobs`. */
  namespace: string;
  /** Consumer group: backends of one group share the work; each group gets every job. */
  group: string;
  /** This backend's name in the group (default: host-pid-random). */
  consumer?: string;
  /** A job pending longer than this with a backend that stopped is taken over (XAUTOCLAIM). Default 30000. */
  claimIdleMs?: number;
  /** The queue stream, when the relay's config names one. */
  stream?: string;
  /** Jobs handled at once. Default 16. */
  concurrency?: number;
}

/** What a handler gets: the socket, and what it can do to it. Effects apply on whichever instance holds it. */
export interface BackendContext {
  socket: SocketView;
  /** Every argument of the client's event (the handler's `data` is the first). */
  args: unknown[];
  /** Sends `event(...args)` to this socket; binary arguments (Buffers) stay binary. */
  emit(event: string, ...args: unknown[]): void;
  /** `to('room')`, or `to({ user: 'alice' })` for every socket of that user, wherever they are. */
  to(target: Target): { emit(event: string, ...args: unknown[]): void };
  join(room: string): void;
  leave(room: string): void;
  disconnect(): void;
}

/** In `onConnect`: the socket is not connected yet, and its user can still be set. */
export interface ConnectContext extends BackendContext {
  /**
   * Makes `userId` the socket's user: it joins `user:<userId>`, `whoami` shows it and `{userId}` patterns
   * use it. Ignored by the relay when the socket already has a user from its verified JWT.
   */
  setUser(userId: string): void;
}

export type EventHandler = (data: unknown, ctx: BackendContext) => unknown;

/**
 * Decides a client's `join` (namespaces with `authorizeJoin: true`): return true to allow it; false, or
 * throwing (an error's `code` and `message` reach the client's ack), refuses it.
 */
export type JoinHandler = (room: string, ctx: BackendContext) => boolean | Promise<boolean>;

export interface Backend {
  /** The handler's result is the argument of the client's ack. */
  handle(event: string, handler: EventHandler): Backend;
  /** Throwing refuses the connection: the client's `connect_error` carries the error's message and `code`. */
  onConnect(handler: (ctx: ConnectContext) => unknown): Backend;
  /** Without one, every `join` call is refused (`RLY_ERR_NO_HANDLER`): authorizing fails closed. */
  onJoin(handler: JoinHandler): Backend;
  onDisconnect(handler: (ctx: BackendContext, reason: string) => unknown): Backend;
  start(): Promise<void>;
  /** Stops reading, lets the jobs in hand finish, and disconnects. */
  close(): Promise<void>;
}

const BLOCK_MS = 1_000;

export function createBackend(opts: BackendOptions): Backend {
  const stream = opts.stream ?? defaultQueueStream(opts.namespace);
  const consumer = opts.consumer ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 6)}`;
  const claimIdleMs = opts.claimIdleMs ?? 30_000;
  const concurrency = opts.concurrency ?? 16;
  const handlers = new Map<string, EventHandler>();
  let onConnect: ((ctx: ConnectContext) => unknown) | undefined;
  let onJoin: JoinHandler | undefined;
  let onDisconnect: ((ctx: BackendContext, reason: string) => unknown) | undefined;

  const report = errorReporter(opts, 'edge-relay/backend');
  const client = outsideClient(opts, 'createBackend');
  // XREADGROUP BLOCK holds its connection: it gets one of its own.
  const reader = client.duplicate();
  for (const c of [client, reader]) c.on('error', report);
  const emitter = createEmitter({ client, streamCount: opts.streamCount });
  let running = false;
  let loops: Promise<void>[] = [];

  const handle = async (id: string, job: QueueJob) => {
    const reply = await run(job);
    if (job.replyTo) {
      const message: QueueReply = { id: job.id, reply };
      await client.publish(job.replyTo, JSON.stringify(binaryToJson(message)));
    }
    await client.xAck(stream, opts.group, id);
  };

  const run = async (job: QueueJob): Promise<UpstreamReply> => {
    const nsp = emitter.of(job.namespace);
    if (job.type === 'connect') {
      const effects = connectEffects(job.socket);
      const before = JSON.stringify(job.socket.data);
      try {
        await onConnect?.(effects.ctx);
      } catch (err) {
        return { accept: false, error: errorOf(err, ErrorCodes.UPSTREAM_REJECTED) };
      }
      return { ...effects.reply, ...dataChange(before, job.socket.data) };
    }
    const live = liveEffects(job.socket, job.type === 'event' ? job.args : [], nsp);
    if (job.type === 'join') {
      let allowed: boolean;
      try {
        if (!onJoin) {
          throw Object.assign(new Error('the backend has no join handler'), { code: ErrorCodes.NO_HANDLER });
        }
        allowed = (await onJoin(job.room, live.ctx)) === true;
      } catch (err) {
        await live.settled();
        return { error: errorOf(err, ErrorCodes.FORBIDDEN) };
      }
      await live.settled();
      return { allow: allowed };
    }
    if (job.type === 'disconnect') {
      await onDisconnect?.(live.ctx, job.reason);
      await live.settled();
      return {};
    }
    const handler = handlers.get(job.event);
    if (!handler) {
      const error = {
        code: ErrorCodes.NO_HANDLER,
        message: `no backend handler for ${JSON.stringify(job.event)}`,
      };
      return { ack: [{ ok: false, error }] };
    }
    const before = JSON.stringify(job.socket.data);
    let result: unknown;
    try {
      result = await handler(job.args[0], live.ctx);
    } catch (err) {
      result = { ok: false, error: errorOf(err, ErrorCodes.UPSTREAM_HANDLER) };
    }
    await live.settled();
    return { ack: result === undefined ? [] : [result], ...dataChange(before, job.socket.data) };
  };

  // Jobs in hand; reading pauses while `concurrency` of them run, so a stuck handler holds only its own job.
  const inHand = new Set<Promise<void>>();
  let slotFreed: () => void = () => {};
  const dispatch = (entries: { id: string; message: Record<string, string> }[]) => {
    for (const { id, message } of entries) {
      const job = parseJob(message[JOB_FIELD]);
      // An entry that is not a job never will be: acknowledge it away. A failed handle() leaves the job
      // pending: this or another backend takes it over after claimIdleMs.
      const done = (job ? handle(id, job) : client.xAck(stream, opts.group, id).then(() => {})).catch(report);
      inHand.add(done);
      void done.then(() => {
        inHand.delete(done);
        slotFreed();
      });
    }
  };
  const freeSlots = async () => {
    while (inHand.size >= concurrency && running) {
      await new Promise<void>((resolve) => {
        slotFreed = resolve;
        setTimeout(resolve, BLOCK_MS).unref();
      });
    }
    return concurrency - inHand.size;
  };

  const readLoop = async () => {
    while (running) {
      try {
        const slots = await freeSlots();
        if (!running) break;
        const res = await reader.xReadGroup(
          opts.group,
          consumer,
          { key: stream, id: '>' },
          { COUNT: slots, BLOCK: BLOCK_MS },
        );
        for (const s of res ?? []) dispatch(s.messages);
      } catch (err) {
        if (!running) break;
        report(err);
        await sleep(BLOCK_MS);
      }
    }
  };

  const claimLoop = async () => {
    while (running) {
      try {
        let cursor = '0-0';
        do {
          const slots = await freeSlots();
          if (!running || slots === 0) break;
          const res = await client.xAutoClaim(stream, opts.group, consumer, claimIdleMs, cursor, {
            COUNT: slots,
          });
          cursor = res.nextId;
          dispatch(res.messages.filter((m): m is NonNullable<typeof m> => m !== null));
        } while (running && cursor !== '0-0');
      } catch (err) {
        if (running) report(err);
      }
      await sleep(Math.min(claimIdleMs / 2, 5_000));
    }
  };

  const backend: Backend = {
    handle(event, handler) {
      handlers.set(event, handler);
      return backend;
    },
    onConnect(handler) {
      onConnect = handler;
      return backend;
    },
    onJoin(handler) {
      onJoin = handler;
      return backend;
    },
    onDisconnect(handler) {
      onDisconnect = handler;
      return backend;
    },
    async start() {
      await Promise.all([client.connect(), reader.connect()]);
      try {
        // A new group starts at the end: jobs from before any backend of the group existed are not replayed.
        await client.xGroupCreate(stream, opts.group, '$', { MKSTREAM: true });
      } catch (err) {
        if (!String(err).includes('BUSYGROUP')) throw err;
      }
      running = true;
      loops = [readLoop(), claimLoop()];
    },
    async close() {
      running = false;
      await Promise.all(loops);
      await Promise.all(inHand);
      await Promise.all([client, reader].map((c) => (c.isOpen ? c.close() : undefined)));
    },
  };
  return backend;
}

/** For a connect, effects go back in the reply: the socket is not connected until the relay applies them. */
function connectEffects(socket: SocketView) {
  const reply: Required<Pick<UpstreamReply, 'join' | 'leave' | 'emit'>> &
    Pick<UpstreamReply, 'disconnect' | 'userId'> = {
    join: [],
    leave: [],
    emit: [],
  };
  const ctx: ConnectContext = {
    socket,
    args: [],
    emit: (event, ...args) => reply.emit.push({ event, args }),
    to: (target) => ({
      emit: (event, ...args) => {
        for (const room of roomsOf(target)) reply.emit.push({ room, event, args });
      },
    }),
    join: (room) => reply.join.push(room),
    leave: (room) => reply.leave.push(room),
    disconnect: () => {
      reply.disconnect = true;
    },
    setUser: (userId) => {
      reply.userId = userId;
    },
  };
  return { ctx, reply };
}

/**
 * For events, effects go straight into the cluster's stream, in call order: they reach the socket on
 * whichever instance holds it, and a reconnecting client recovers them.
 */
function liveEffects(socket: SocketView, args: unknown[], nsp: NamespaceEmitter) {
  const writes: Promise<unknown>[] = [];
  const self = nsp.to(socket.id);
  const ctx: BackendContext = {
    socket,
    args,
    emit: (event, ...args) => void writes.push(self.emit(event, ...args)),
    to: (target) => ({ emit: (event, ...args) => void writes.push(nsp.to(target).emit(event, ...args)) }),
    join: (room) => void writes.push(self.socketsJoin(room)),
    leave: (room) => void writes.push(self.socketsLeave(room)),
    disconnect: () => {
      writes.push(
        self.emit(DISCONNECT_EVENT, {
          code: ErrorCodes.UPSTREAM_REJECTED,
          message: 'disconnected by the backend',
        }),
      );
      writes.push(self.disconnectSockets(true));
    },
  };
  return { ctx, settled: () => Promise.all(writes) };
}

function parseJob(raw: string | undefined): QueueJob | undefined {
  try {
    // Binary arguments arrive as { $binary } and are handed to handlers as Buffers.
    const job = binaryFromJson(JSON.parse(raw ?? '')) as QueueJob;
    return job && typeof job === 'object' && typeof job.id === 'string' ? job : undefined;
  } catch {
    return undefined;
  }
}

function dataChange(before: string, data: unknown): Pick<UpstreamReply, 'data'> {
  return JSON.stringify(data) === before ? {} : { data };
}

function errorOf(err: unknown, fallback: string): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  return {
    code: typeof e?.code === 'string' ? e.code : fallback,
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
