// Raw Engine.IO v4 / Socket.IO v5 clients, for tests that must misbehave in ways socket.io-client cannot:
// stop reading, stop polling, send malformed frames.
import WebSocket from 'ws';
import { waitFor } from './processes.js';

const EIO_PATH = '/socket.io/?EIO=4';
/** Longer than any answer should take; a relay that wedges fails the test instead of hanging it. */
const REQUEST_TIMEOUT_MS = 30_000;
const timeout = () => AbortSignal.timeout(REQUEST_TIMEOUT_MS);

/** A Socket.IO packet encoded as an Engine.IO message (`4` + Socket.IO packet). */
export function eventFrame(args: unknown[], ackId?: number): string {
  return `42${ackId ?? ''}${JSON.stringify(args)}`;
}

/** The ack of `ackId` among Engine.IO messages, parsed (`43<id>[reply]`). */
function ackOf(frame: string, ackId: number): unknown {
  const prefix = `43${ackId}[`;
  if (!frame.startsWith(prefix)) return undefined;
  return (JSON.parse(frame.slice(prefix.length - 1)) as unknown[])[0];
}

/** One WebSocket connection speaking Engine.IO v4 by hand; answers pings while it reads. */
export class RawWebSocket {
  readonly ws: WebSocket;
  /** Every text frame received, in order. */
  readonly frames: string[] = [];
  #nextAck = 1;
  closed = false;
  readonly whenClosed: Promise<number>;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const frame = data.toString();
      if (frame === '2') ws.send('3');
      this.frames.push(frame);
    });
    this.whenClosed = new Promise((resolve) =>
      ws.once('close', (code) => {
        this.closed = true;
        resolve(code);
      }),
    );
    ws.on('error', () => {});
  }

  /** Opens the Engine.IO session (no Socket.IO namespace yet). */
  static async open(httpUrl: string): Promise<RawWebSocket> {
    const ws = new WebSocket(`${httpUrl.replace(/^http/, 'ws')}${EIO_PATH}&transport=websocket`);
    const raw = new RawWebSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await waitFor('the Engine.IO open packet', () => raw.frames.find((f) => f.startsWith('0{')));
    return raw;
  }

  send(frame: string | Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame);
  }

  /** Sends a frame; resolves true once it is written to the socket, false if the connection is gone. */
  write(frame: string | Buffer): Promise<boolean> {
    if (this.ws.readyState !== WebSocket.OPEN) return Promise.resolve(false);
    return new Promise((resolve) => this.ws.send(frame, (err) => resolve(!err)));
  }

  /** Connects to the `/` namespace and waits for the server's CONNECT. */
  async connect(): Promise<void> {
    this.send('40');
    await waitFor('the Socket.IO connect packet', () => this.frames.find((f) => f.startsWith('40{')));
  }

  /** Emits `args` with an ack and resolves with the ack's first argument. */
  async ask(...args: unknown[]): Promise<unknown> {
    const id = this.#nextAck++;
    this.send(eventFrame(args, id));
    return waitFor(`the ack of ${JSON.stringify(args[0])}`, () => {
      for (const frame of this.frames) {
        const reply = ackOf(frame, id);
        if (reply !== undefined) return reply;
      }
      return undefined;
    });
  }

  /** Stops reading from the TCP socket: the server's sends back up in its buffers. */
  pauseReading(): void {
    (this.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  }

  resumeReading(): void {
    (this.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  }

  close(): void {
    this.ws.terminate();
  }
}

/** One HTTP long-polling session speaking Engine.IO v4 by hand; it polls only when asked to. */
export class RawPolling {
  readonly url: string;
  readonly sid: string;
  #nextAck = 1;

  private constructor(url: string, sid: string) {
    this.url = url;
    this.sid = sid;
  }

  static async open(httpUrl: string): Promise<RawPolling> {
    const res = await fetch(`${httpUrl}${EIO_PATH}&transport=polling`, { signal: timeout() });
    const body = await res.text();
    if (!body.startsWith('0{')) throw new Error(`unexpected handshake answer ${res.status}: ${body}`);
    const { sid } = JSON.parse(body.slice(1)) as { sid: string };
    return new RawPolling(`${httpUrl}${EIO_PATH}&transport=polling&sid=${encodeURIComponent(sid)}`, sid);
  }

  /** POSTs a body (packets separated by \x1e); resolves with the HTTP status. */
  async post(body: string | Uint8Array, contentType = 'text/plain;charset=UTF-8'): Promise<number> {
    const res = await fetch(this.url, {
      method: 'POST',
      body,
      headers: { 'content-type': contentType },
      signal: timeout(),
    });
    await res.arrayBuffer();
    return res.status;
  }

  /** One GET poll: the HTTP status and the packets it carried. */
  async poll(): Promise<{ status: number; packets: string[] }> {
    const res = await fetch(this.url, { signal: timeout() });
    const body = await res.text();
    if (res.status !== 200) return { status: res.status, packets: [] };
    return { status: res.status, packets: body.split('\x1e') };
  }

  /** Connects to `/`: posts the CONNECT and polls for the answer. */
  async connect(): Promise<void> {
    await this.post('40');
    await this.#pollFor('the Socket.IO connect packet', (p) => p.startsWith('40{'));
  }

  async ask(...args: unknown[]): Promise<unknown> {
    const id = this.#nextAck++;
    await this.post(eventFrame(args, id));
    const frame = await this.#pollFor(`the ack of ${JSON.stringify(args[0])}`, (p) =>
      p.startsWith(`43${id}[`),
    );
    return ackOf(frame, id);
  }

  async #pollFor(what: string, match: (packet: string) => boolean): Promise<string> {
    for (let i = 0; i < 10; i++) {
      const { status, packets } = await this.poll();
      if (status !== 200) throw new Error(`poll answered ${status} while waiting for ${what}`);
      const found = packets.find(match);
      if (found) return found;
    }
    throw new Error(`no ${what} within 10 polls`);
  }
}
