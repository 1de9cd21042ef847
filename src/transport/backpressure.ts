import type { Server, Socket } from 'socket.io';

/** An Engine.IO connection (one per client, whatever its namespaces). */
export type EngineSocket = Socket['conn'];
/** The transport an Engine.IO connection currently uses (`websocket` or `polling`). */
export type EngineTransport = EngineSocket['transport'];

/** A client dropped for not reading. */
export interface SlowConsumer {
  /** Engine.IO session id of the connection. */
  engineId: string;
  /** Engine.IO transport of the connection: `websocket` or `polling`. */
  engine: string;
  /** Bytes queued for it when it was dropped. */
  bufferedBytes: number;
}

/** What the relay does with a client that stops reading. */
export interface BackpressurePolicy {
  /** Bytes queued for one connection (Engine.IO buffer plus WebSocket send buffer) beyond which it is dropped. */
  maxBytes: number;
  /** Called once per dropped connection, just before it is closed. */
  onSlowConsumer(consumer: SlowConsumer): void;
}

/** The transport-specific part: each WebSocket library has its own send buffer. */
export interface WebSocketBuffer {
  /** Bytes the WebSocket library holds for this transport, not yet handed to the kernel. */
  bufferedAmount(transport: EngineTransport): number;
  /** Closes the WebSocket at once, discarding what it holds (a graceful close would wait behind it). */
  abort(transport: EngineTransport): void;
}

/**
 * Bounds what one connection can make the relay hold. A client that stops reading (or a polling client
 * that stops polling) would otherwise grow Engine.IO's write buffer, or the WebSocket's send buffer,
 * until the ping timeout, which at a high message rate is far too late. Once more than `maxBytes` are
 * queued, the connection stops taking packets and is closed. The close is a transport close, so
 * Socket.IO keeps the session for connection state recovery: a client that comes back in time gets
 * what it missed.
 */
export class SlowConsumerGuard {
  readonly #policy: BackpressurePolicy;
  readonly #websocket: WebSocketBuffer;
  /** Lets a transport that detects backpressure itself (uWS) find the connection of a transport. */
  readonly #connOf = new WeakMap<EngineTransport, EngineSocket>();

  constructor(policy: BackpressurePolicy, websocket: WebSocketBuffer) {
    this.#policy = policy;
    this.#websocket = websocket;
  }

  /** Watches every connection of `io`; call once, after Socket.IO is attached. */
  watch(io: Server): void {
    io.engine.on('connection', (conn: EngineSocket) => this.#watch(conn));
  }

  /** Drops the connection that `transport` belongs to (a transport that saw its own buffer overflow). */
  dropTransport(transport: EngineTransport, bufferedBytes: number): void {
    const conn = this.#connOf.get(transport);
    if (conn) this.#drop(conn, bufferedBytes);
  }

  #watch(conn: EngineSocket): void {
    this.#connOf.set(conn.transport, conn);
    conn.on('upgrade', (transport: EngineTransport) => this.#connOf.set(transport, conn));
    // Bytes in Engine.IO's write buffer, kept as a running sum: summing the buffer at every packet is
    // quadratic. A flush hands the whole buffer to the transport.
    let queued = 0;
    conn.on('flush', () => {
      queued = 0;
    });
    conn.on('packetCreate', (packet: { data?: unknown }) => {
      const buffered =
        queued + (conn.transport.name === 'websocket' ? this.#websocket.bufferedAmount(conn.transport) : 0);
      if (buffered > this.#policy.maxBytes) this.#drop(conn, buffered);
      else queued += sizeOf(packet.data);
    });
  }

  #drop(conn: EngineSocket, bufferedBytes: number): void {
    if (conn.readyState !== 'open') return;
    // From now on Socket.IO and Engine.IO queue nothing more for it (both check readyState).
    conn.readyState = 'closing';
    const engineId = (conn as unknown as { id: string }).id; // private in Engine.IO's types
    this.#policy.onSlowConsumer({ engineId, engine: conn.transport.name, bufferedBytes });
    // Deferred: this may run inside a broadcast loop or a uWS publish that still iterates its subscribers.
    setImmediate(() => {
      if (conn.transport.name === 'websocket') this.#websocket.abort(conn.transport);
      else conn.close(true);
    });
  }
}

function sizeOf(data: unknown): number {
  if (typeof data === 'string') return data.length;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}
