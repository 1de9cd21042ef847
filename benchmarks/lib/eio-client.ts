// A lean Socket.IO v5 / Engine.IO v4 client, WebSocket transport only, default namespace only. A full
// socket.io-client per connection costs more memory than the server side being measured; this one keeps a
// WebSocket (lean-websocket.ts), a few fields and a pending-ack map.
import { type BenchEvent, parseBenchEvent } from './bench-event.js';
import { LeanWebSocket } from './lean-websocket.js';

/** A Socket.IO session to recover: the pid and last offset of a previous socket. */
export type Session = { pid: string; offset: string };

export interface LeanSocketOptions {
  localAddress?: string | undefined;
  /** The benchmark's broadcast frames, read without JSON.parse; other events only update the offset. */
  onBenchEvent?: (event: BenchEvent) => void;
  onClose?: (socket: LeanSocket) => void;
}

/** `http://host:port[/path]` → the Engine.IO WebSocket endpoint. */
export function engineUrl(url: string): string {
  const u = new URL(url);
  const path = u.pathname === '/' ? '/socket.io/' : u.pathname;
  return `${u.protocol === 'https:' ? 'wss' : 'ws'}://${u.host}${path}?EIO=4&transport=websocket`;
}

export class LeanSocket {
  private ws: LeanWebSocket | undefined;
  private acks = new Map<number, (args: unknown[]) => void>();
  private nextAckId = 0;
  sid = '';
  pid: string | undefined;
  lastOffset: string | undefined;
  connected = false;
  recovered = false;

  constructor(private readonly opts: LeanSocketOptions = {}) {}

  /** Opens the WebSocket and completes the Socket.IO CONNECT (recovering `recover`); rejects after `timeoutMs`. */
  connect(url: string, timeoutMs = 10_000, recover?: Session): Promise<void> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          ws.terminate();
          reject(err);
        } else resolve();
      };
      const timer = setTimeout(() => settle(new Error(`connect timed out after ${timeoutMs} ms`)), timeoutMs);
      const ws = new LeanWebSocket(engineUrl(url), this.opts.localAddress, {
        error: (err) => settle(err),
        close: () => {
          const wasConnected = this.connected;
          this.connected = false;
          for (const ack of this.acks.values()) ack([{ ok: false, error: { code: 'BENCH_DISCONNECTED' } }]);
          this.acks.clear();
          settle(new Error('closed before CONNECT'));
          if (wasConnected) this.opts.onClose?.(this);
        },
        message: (raw, isBinary) => {
          if (isBinary) return;
          if (this.opts.onBenchEvent && raw[0] === 52 && raw[1] === 50) {
            const event = parseBenchEvent(raw);
            if (event) {
              // What socket.io-client does: with a session, the last string argument is the recovery offset.
              if (this.pid !== undefined && event.offset !== undefined) this.lastOffset = event.offset;
              this.opts.onBenchEvent(event);
              return;
            }
          }
          const text = raw.toString();
          switch (text.charCodeAt(0)) {
            case 48: // '0' Engine.IO open
              ws.send(recover ? `40${JSON.stringify(recover)}` : '40');
              return;
            case 50: // '2' ping
              ws.send('3');
              return;
            case 52: // '4' message: a Socket.IO packet follows
              this.onPacket(text, recover, settle);
              return;
            default:
              return;
          }
        },
      });
      this.ws = ws;
    });
  }

  private onPacket(text: string, recover: Session | undefined, settle: (err?: Error) => void): void {
    const type = text.charCodeAt(1);
    if (type === 48) {
      // '0' CONNECT: {"sid","pid"}; recovered when the server kept the pid we asked for.
      const body = JSON.parse(text.slice(2)) as { sid: string; pid?: string };
      this.sid = body.sid;
      this.recovered = recover !== undefined && body.pid === recover.pid;
      this.pid = body.pid;
      this.connected = true;
      settle();
      return;
    }
    if (type === 52) {
      settle(new Error(`connect_error ${text.slice(2)}`));
      return;
    }
    if (type !== 50 && type !== 51) return; // only EVENT and ACK matter here
    let i = 2;
    while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
    const id = i > 2 ? Number(text.slice(2, i)) : undefined;
    const args = JSON.parse(text.slice(i)) as unknown[];
    if (type === 51) {
      if (id === undefined) return;
      const ack = this.acks.get(id);
      this.acks.delete(id);
      ack?.(args);
      return;
    }
    // What socket.io-client does: with a session, the last string argument is the recovery offset.
    const last = args[args.length - 1];
    if (this.pid !== undefined && typeof last === 'string') this.lastOffset = last;
  }

  /** Emits `event(...args)` and resolves with the ack's arguments (rejects after `timeoutMs`). */
  emitWithAck(event: string, args: unknown[], timeoutMs = 10_000): Promise<unknown[]> {
    const ws = this.ws;
    if (!ws || !this.connected) return Promise.reject(new Error('not connected'));
    const id = this.nextAckId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.acks.delete(id);
        reject(new Error(`ack for ${event} timed out`));
      }, timeoutMs);
      this.acks.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      ws.send(`42${id}${JSON.stringify([event, ...args])}`);
    });
  }

  /** The session to send when reconnecting, if the server gave us one and we saw an offset. */
  session(): Session | undefined {
    return this.pid !== undefined && this.lastOffset !== undefined
      ? { pid: this.pid, offset: this.lastOffset }
      : undefined;
  }

  close(): void {
    this.connected = false;
    this.ws?.terminate();
  }
}
