// The one door to Socket.IO internals that are not in its public types. Everything here was read in
// socket.io 4.8 / socket.io-adapter 2.5; test/unit/internals.test.ts fails when an upgrade changes it.
import type { Socket } from 'socket.io';
import { Adapter, type BroadcastOptions } from 'socket.io-adapter';

/** Packets encoded once for many sockets, and the write options that go with them. */
export interface PreEncoded {
  packets: unknown[];
  opts: Record<string, unknown>;
}

/** The private session id Socket.IO gives a socket when recovery is on. */
export function pidOf(socket: Socket): string | undefined {
  return (socket as unknown as { pid?: string }).pid;
}

/**
 * Encodes `packet` as the in-memory adapter does for a broadcast: once, with the WebSocket frame of the
 * `ws` transport precomputed, so writing it to each socket costs no encoding.
 */
export function preEncode(
  adapter: Adapter,
  packet: { type: number; data: unknown[]; nsp: string },
): PreEncoded {
  const opts: Record<string, unknown> = { preEncoded: true };
  const packets = (adapter as unknown as { _encode(p: unknown, o: unknown): unknown[] })._encode(
    packet,
    opts,
  );
  return { packets, opts };
}

/** Writes pre-encoded packets to one socket's connection, as a broadcast does. */
export function writePreEncoded(socket: Socket, encoded: PreEncoded): void {
  (socket.client as unknown as { writeToEngine(p: unknown[], o: unknown): void }).writeToEngine(
    encoded.packets,
    encoded.opts,
  );
}

/**
 * The in-memory adapter's local fan-out (replaced on its prototype by Socket.IO's uWS integration with a
 * topic publish), bypassing a cluster adapter's override that would publish again.
 */
export function localBroadcast(adapter: Adapter, packet: unknown, opts: BroadcastOptions): void {
  Adapter.prototype.broadcast.call(adapter, packet, opts);
}

/** The id of the socket this socket's connection already has in its namespace, connected or connecting. */
export function socketOfConnection(socket: Socket): string | undefined {
  const client = socket.client as unknown as { nsps: Map<string, Socket> };
  return client.nsps.get(socket.nsp.name)?.id;
}

/** Whether a socket of this id is connected to the namespace or still in its middlewares. */
export function socketAlive(socket: Socket, id: string): boolean {
  const nsp = socket.nsp as unknown as {
    sockets: Map<string, Socket>;
    _preConnectSockets: Map<string, Socket>;
  };
  return nsp.sockets.has(id) || nsp._preConnectSockets.has(id);
}
