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
  /**
   * Bytes queued for one connection (Engine.IO buffer plus WebSocket send buffer) that it may not keep
   * for longer than about a second.
   */
  maxBytes: number;
  /** Called once per dropped connection, just before it is closed. */
  onSlowConsumer(consumer: SlowConsumer): void;
}

/** The transport-specific part: each WebSocket library has its own send buffer. */
export interface WebSocketBuffer {
  /**
   * Bytes held for the connection's WebSocket, not yet handed to the kernel: the library's send buffer,
   * and whatever the transport queued for it outside Engine.IO.
   */
  bufferedAmount(conn: EngineSocket): number;
  /** Closes the WebSocket at once, discarding what it holds (a graceful close would wait behind it). */
  abort(transport: EngineTransport): void;
}

/** How often backlogs are checked: a connection over the bound at two checks in a row is dropped. */
const CHECK_MS = 500;
/** A burst may queue this many times the bound at once (it drains within the checks); beyond, drop now. */
export const BURST_FACTOR = 4;

/**
 * Bounds what one connection can make the relay hold. A client that stops reading (or a polling client
 * that stops polling) would otherwise grow Engine.IO's write buffer, or the WebSocket's send buffer,
 * until the ping timeout, which at a high message rate is far too late.
 *
 * Bursts are normal: a batch of messages read from the Redis stream is queued in one go and drains in
 * milliseconds for a client that reads. So a connection is dropped when more than `maxBytes` stay queued
 * for it for about a second (two checks in a row), or when more than BURST_FACTOR times that are queued
 * at once. A dropped connection takes no more packets and is closed as a transport close, so Socket.IO
 * keeps its session for connection state recovery: a client that comes back in time gets what it missed.
 *
 * A connection is watched only once its Socket.IO CONNECT has left the relay: a handshake is never cut.
 * The replay of a recovered session follows its CONNECT (src/cluster/restore.ts), so a client dropped in
 * the middle of one has every message up to its offset and resumes from there at its next connect.
 */
export class SlowConsumerGuard {
  readonly #policy: BackpressurePolicy;
  readonly #websocket: WebSocketBuffer;
  readonly #watched = new Map<EngineSocket, Watched>();
  // One set of listeners for every connection (Engine.IO calls them with the connection as `this`): a
  // closure per connection and event would cost each idle connection a few hundred bytes.
  readonly #onClose: (this: EngineSocket) => void;
  readonly #onFlush: (this: EngineSocket) => void;
  readonly #onPacketCreate: (this: EngineSocket, packet: { type: string; data?: unknown }) => void;

  constructor(policy: BackpressurePolicy, websocket: WebSocketBuffer) {
    this.#policy = policy;
    this.#websocket = websocket;
    const watched = this.#watched;
    this.#onClose = function () {
      watched.delete(this);
    };
    // The write buffer is summed as it fills (summing it at every packet would be quadratic); a flush
    // hands all of it to the transport.
    this.#onFlush = function () {
      const state = watched.get(this);
      if (state) state.queued = 0;
    };
    const guard = this;
    this.#onPacketCreate = function (packet) {
      guard.#packetCreated(this, packet);
    };
  }

  /** Watches every connection of `io`; call once, after Socket.IO is attached. */
  watch(io: Server): void {
    io.engine.on('connection', (conn: EngineSocket) => this.#watch(conn));
    setInterval(() => this.#check(), CHECK_MS).unref();
  }

  #watch(conn: EngineSocket): void {
    this.#watched.set(conn, { queued: 0, total: 0, connectEnd: undefined, watched: false, over: false });
    conn.on('close', this.#onClose);
    conn.on('flush', this.#onFlush);
    conn.on('packetCreate', this.#onPacketCreate);
  }

  #packetCreated(conn: EngineSocket, packet: { type: string; data?: unknown }): void {
    const state = this.#watched.get(conn);
    if (!state) return;
    const buffered = this.#buffered(conn, state);
    if (state.watched && buffered > this.#policy.maxBytes * BURST_FACTOR) {
      this.#drop(conn, buffered);
      return;
    }
    const size = sizeOf(packet.data);
    state.queued += size;
    state.total += size;
    if (state.connectEnd === undefined && isSocketIoConnect(packet)) state.connectEnd = state.total;
  }

  #check(): void {
    for (const [conn, state] of this.#watched) {
      const buffered = this.#buffered(conn, state);
      if (!state.watched) continue;
      const over = buffered > this.#policy.maxBytes;
      if (buffered > this.#policy.maxBytes * BURST_FACTOR || (over && state.over)) this.#drop(conn, buffered);
      state.over = over;
    }
  }

  /** Bytes queued for the connection; starts watching it once its CONNECT is no longer among them. */
  #buffered(conn: EngineSocket, state: Watched): number {
    const websocket = conn.transport.name === 'websocket' ? this.#websocket.bufferedAmount(conn) : 0;
    const buffered = state.queued + websocket;
    if (!state.watched && state.connectEnd !== undefined && state.total - buffered >= state.connectEnd) {
      state.watched = true;
    }
    return buffered;
  }

  #drop(conn: EngineSocket, bufferedBytes: number): void {
    if (conn.readyState !== 'open') return;
    // From now on Socket.IO and Engine.IO queue nothing more for it (both check readyState).
    conn.readyState = 'closing';
    const engineId = (conn as unknown as { id: string }).id; // private in Engine.IO's types
    this.#policy.onSlowConsumer({ engineId, engine: conn.transport.name, bufferedBytes });
    // Deferred: this may run inside a broadcast loop that still iterates the room.
    setImmediate(() => {
      if (conn.transport.name === 'websocket') this.#websocket.abort(conn.transport);
      else conn.close(true);
    });
  }
}

interface Watched {
  /** Bytes in Engine.IO's write buffer. */
  queued: number;
  /** Bytes ever queued. */
  total: number;
  /** What `total` was once the CONNECT was queued. */
  connectEnd: number | undefined;
  /** True once the CONNECT has left the relay: from then on the bound applies. */
  watched: boolean;
  /** Whether the last check found it over the bound. */
  over: boolean;
}

/** An Engine.IO message carrying a Socket.IO CONNECT (type 0), to any namespace. */
function isSocketIoConnect(packet: { type: string; data?: unknown }): boolean {
  return packet.type === 'message' && typeof packet.data === 'string' && packet.data.startsWith('0');
}

function sizeOf(data: unknown): number {
  if (typeof data === 'string') return data.length;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}
