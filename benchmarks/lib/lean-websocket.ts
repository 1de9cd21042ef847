// A minimal WebSocket client (RFC 6455) on a bare TCP socket, for the load generator. On a 2-core machine
// the generator shares the CPUs with the servers it measures: `ws`'s client (a stream, a Buffer and an
// event per frame) took more than half of the generator's time in a recovery storm, time the relays did
// not get. This one reads frames straight out of each TCP chunk. No TLS, no extensions, no UTF-8 checks:
// the servers under test are on loopback.
import { connect, type Socket } from 'node:net';

export interface WebSocketHandlers {
  /** A text or binary message; `payload` is a view into the read buffer, valid only during the call. */
  message(payload: Buffer, isBinary: boolean): void;
  /** The connection failed before or after the upgrade (`close` follows). */
  error(err: Error): void;
  /** Once, when the TCP connection is gone. */
  close(): void;
}

const TEXT = 0x1;
const BINARY = 0x2;
const CONTINUATION = 0x0;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;
const HEADER_END = Buffer.from('\r\n\r\n');

export class LeanWebSocket {
  readonly #socket: Socket;
  readonly #handlers: WebSocketHandlers;
  #upgraded = false;
  #closed = false;
  /** Bytes of a frame (or of the upgrade answer) that arrived without its end. */
  #pending: Buffer | undefined;
  /** A fragmented message's parts so far, and its type. */
  #fragments: Buffer[] | undefined;
  #fragmentsBinary = false;

  constructor(url: string, localAddress: string | undefined, handlers: WebSocketHandlers) {
    const u = new URL(url);
    if (u.protocol !== 'ws:') throw new Error(`only ws: URLs, not ${url}`);
    this.#handlers = handlers;
    const key = Buffer.from(Array.from({ length: 16 }, () => Math.floor(Math.random() * 256))).toString(
      'base64',
    );
    this.#socket = connect({ host: u.hostname, port: Number(u.port || 80), localAddress, noDelay: true });
    this.#socket.once('connect', () =>
      this.#socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#socket.on('error', (err) => handlers.error(err));
    this.#socket.on('close', () => {
      if (this.#closed) return;
      this.#closed = true;
      handlers.close();
    });
  }

  /** Sends a text message (masked, as a client must). */
  send(text: string): void {
    this.#write(0x80 | TEXT, Buffer.from(text));
  }

  /** Drops the connection at once, without a close frame. */
  terminate(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    const buf = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = undefined;
    let at = 0;
    if (!this.#upgraded) {
      const end = buf.indexOf(HEADER_END);
      if (end === -1) {
        this.#pending = buf;
        return;
      }
      const status = buf.toString('latin1', 0, buf.indexOf('\r\n'));
      if (!/^HTTP\/1\.1 101 /.test(status)) {
        this.#handlers.error(new Error(`WebSocket upgrade refused: ${status}`));
        this.terminate();
        return;
      }
      this.#upgraded = true;
      at = end + HEADER_END.length;
    }
    while (buf.length - at >= 2) {
      const first = buf[at] as number;
      let length = (buf[at + 1] as number) & 0x7f;
      let header = 2;
      if (length === 126) {
        if (buf.length - at < 4) break;
        length = buf.readUInt16BE(at + 2);
        header = 4;
      } else if (length === 127) {
        if (buf.length - at < 10) break;
        length = Number(buf.readBigUInt64BE(at + 2));
        header = 10;
      }
      // A server's frames are not masked.
      if (buf.length - at < header + length) break;
      const payload = buf.subarray(at + header, at + header + length);
      at += header + length;
      this.#onFrame(first, payload);
      if (this.#closed) return;
    }
    if (at < buf.length) this.#pending = Buffer.from(buf.subarray(at));
  }

  #onFrame(first: number, payload: Buffer): void {
    const fin = (first & 0x80) !== 0;
    const opcode = first & 0x0f;
    switch (opcode) {
      case TEXT:
      case BINARY:
        if (fin) this.#handlers.message(payload, opcode === BINARY);
        else {
          this.#fragments = [Buffer.from(payload)];
          this.#fragmentsBinary = opcode === BINARY;
        }
        return;
      case CONTINUATION:
        if (!this.#fragments) return;
        this.#fragments.push(Buffer.from(payload));
        if (fin) {
          const whole = Buffer.concat(this.#fragments);
          this.#fragments = undefined;
          this.#handlers.message(whole, this.#fragmentsBinary);
        }
        return;
      case PING:
        this.#write(0x80 | PONG, payload);
        return;
      case CLOSE:
        this.terminate();
        return;
      default:
        return;
    }
  }

  #write(first: number, payload: Buffer): void {
    if (this.#socket.destroyed) return;
    const length = payload.length;
    const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(header + 4 + length);
    frame[0] = first;
    if (header === 2) frame[1] = 0x80 | length;
    else if (header === 4) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeBigUInt64BE(BigInt(length), 2);
    }
    const mask = (Math.random() * 0x1_0000_0000) >>> 0;
    frame.writeUInt32BE(mask, header);
    const bytes = [mask >>> 24, (mask >>> 16) & 0xff, (mask >>> 8) & 0xff, mask & 0xff];
    for (let i = 0; i < length; i++)
      frame[header + 4 + i] = (payload[i] as number) ^ (bytes[i & 3] as number);
    this.#socket.write(frame);
  }
}
