// `edge-relay/emitter`: push to a relay cluster from any process that reaches its Redis.

import { type ClusterMessage, MessageType } from 'socket.io-adapter';
import { PacketType } from 'socket.io-parser';
import { errorReporter, type OutsideRedisOptions, outsideClient } from '../cluster/outside.js';
import type { RedisClient } from '../cluster/redis.js';
import { EMITTER_UID, encodeEntry, streamOf } from '../cluster/wire.js';
import { userRoom } from '../relay/users.js';

/** Rooms to send to: a room name (a socket id is a room), several, or `{ user }`: every socket of that user. */
export type Target = string | string[] | { user: string };

/** Sends into one namespace; `to`/`in` narrow it to rooms or users, `except` excludes. */
export interface NamespaceEmitter {
  to(target: Target): NamespaceEmitter;
  in(target: Target): NamespaceEmitter;
  except(target: Target): NamespaceEmitter;
  /** Broadcasts `event(...args)`; resolves with the stream id once it is in the cluster's stream. */
  emit(event: string, ...args: unknown[]): Promise<string>;
  /** The selected sockets join `rooms`, on whichever instance holds them. */
  socketsJoin(rooms: string | string[]): Promise<string>;
  socketsLeave(rooms: string | string[]): Promise<string>;
  disconnectSockets(close?: boolean): Promise<string>;
}

export interface Emitter {
  of(namespace: string): NamespaceEmitter;
  /** Closes the Redis connection if the emitter opened it. */
  close(): Promise<void>;
}

/**
 * Where the relays' Redis is (`redisUrl` or `redisCluster`), or a `client` to use instead. `onError` hears
 * the errors of the connection the emitter opens; a `client` of your own reports to your listeners.
 */
export interface EmitterOptions extends OutsideRedisOptions {
  /** A connected node-redis 5 client (or cluster client) to use instead of opening one. */
  client?: RedisClient;
}

/**
 * Writes entries in the Redis Streams adapter's own format, so what it sends is delivered by every relay
 * instance and replayed to clients that reconnect, exactly like a broadcast made on a relay.
 */
export function createEmitter(opts: EmitterOptions): Emitter {
  const owned = opts.client ? undefined : outsideClient(opts, 'createEmitter');
  const client = (opts.client ?? owned) as RedisClient;
  owned?.on('error', errorReporter(opts, 'edge-relay/emitter'));
  const connected = owned ? owned.connect().then(() => undefined) : Promise.resolve();

  const write = async (nsp: string, type: MessageType, data: unknown) => {
    await connected;
    const message = { uid: EMITTER_UID, nsp, type, data } as unknown as ClusterMessage;
    return client.xAdd(streamOf(nsp, opts.streamCount ?? 1), '*', encodeEntry(message));
  };

  const scoped = (nsp: string, rooms: Set<string>, except: Set<string>): NamespaceEmitter => {
    const selection = () => ({ rooms: [...rooms], except: [...except], flags: {} });
    const add = (set: Set<string>, target: Target) => new Set([...set, ...roomsOf(target)]);
    return {
      to: (target) => scoped(nsp, add(rooms, target), except),
      in: (target) => scoped(nsp, add(rooms, target), except),
      except: (target) => scoped(nsp, rooms, add(except, target)),
      emit: (event, ...args) =>
        write(nsp, MessageType.BROADCAST, {
          packet: { type: PacketType.EVENT, data: [event, ...args], nsp },
          opts: selection(),
        }),
      socketsJoin: (r) =>
        write(nsp, MessageType.SOCKETS_JOIN, { opts: selection(), rooms: Array.isArray(r) ? r : [r] }),
      socketsLeave: (r) =>
        write(nsp, MessageType.SOCKETS_LEAVE, { opts: selection(), rooms: Array.isArray(r) ? r : [r] }),
      disconnectSockets: (close = false) =>
        write(nsp, MessageType.DISCONNECT_SOCKETS, { opts: selection(), close }),
    };
  };

  return {
    of: (namespace) => scoped(namespace.startsWith('/') ? namespace : `/${namespace}`, new Set(), new Set()),
    async close() {
      await connected.catch(() => {});
      if (owned?.isOpen) await owned.close();
    },
  };
}

/** The rooms a target names; `{ user }` is the user's room `user:<id>`. */
export function roomsOf(target: Target): string[] {
  if (typeof target === 'string') return [target];
  if (Array.isArray(target)) return target;
  return [userRoom(target.user)];
}
