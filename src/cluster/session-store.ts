import type { Socket } from 'socket.io';
import { pidOf } from '../internals.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { RedisClient } from './redis.js';

/** What a restored socket gets back: its id, private id, rooms and data. */
export interface StoredSession {
  sid: string;
  pid: string;
  rooms: string[];
  data: unknown;
  /** The namespace it was made in (absent in sessions written by older versions). */
  nsp?: string;
}

export interface SessionStoreOptions {
  keyPrefix: string;
  /** How long a session stays restorable after its socket is gone. */
  recoveryWindowMs: number;
  /** How often live sessions are re-written; their TTL is the window plus this. */
  refreshMs: number;
}

/**
 * Eager, crash-safe session persistence. Socket.IO's streams adapter saves a session only on a clean
 * disconnect (and does not await it), so a killed instance leaves nothing to restore. Here every socket's
 * session is written at connect and on every room or data change, and re-written while the socket lives,
 * so any instance can restore it after the holder dies. Writes are coalesced per socket and sent in one
 * pipelined batch per tick. A restore reads a session without removing it: the restored socket's own
 * writes replace it, and until then a client that retries finds it again.
 */
export class SessionStore {
  readonly #client: RedisClient;
  readonly #opts: SessionStoreOptions;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  /** One `disconnect` listener for every tracked socket (called with it as `this`), not a closure each. */
  readonly #onDisconnect: (this: Socket) => void;
  /** Live sockets by private id. */
  readonly #live = new Map<string, Socket>();
  /** Sockets whose session must be (re)written in the next batch. */
  readonly #dirty = new Set<string>();
  /** Sockets whose session Socket.IO persisted on a recoverable disconnect. */
  readonly #persisted = new Set<string>();
  #batch: { timer: NodeJS.Timeout; done: Promise<void>; resolve: () => void } | undefined;
  /** Writes sent and not answered yet: flush waits for each (a PING would reach one Cluster node only). */
  readonly #inFlight = new Set<Promise<void>>();
  #refresh: NodeJS.Timeout | undefined;

  constructor(client: RedisClient, opts: SessionStoreOptions, deps: { metrics: Metrics; log: Logger }) {
    this.#client = client;
    this.#opts = opts;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
    const store = this;
    this.#onDisconnect = function (this: Socket) {
      store.#ended(this);
    };
  }

  start(): void {
    this.#refresh = setInterval(() => {
      for (const pid of this.#live.keys()) this.#dirty.add(pid);
      void this.#schedule();
    }, this.#opts.refreshMs);
    this.#refresh.unref();
  }

  stop(): void {
    clearInterval(this.#refresh);
  }

  /** Writes every live session again now (after Redis came back: writes failed while it was away). */
  resync(): void {
    if (this.#live.size === 0) return;
    for (const pid of this.#live.keys()) this.#dirty.add(pid);
    void this.#schedule();
  }

  /** Persists a connected socket now and until it disconnects. */
  track(socket: Socket): void {
    const pid = pidOf(socket);
    if (!pid) return;
    this.#live.set(pid, socket);
    socket.on('disconnect', this.#onDisconnect);
    void this.save(socket);
  }

  #ended(socket: Socket): void {
    const pid = pidOf(socket);
    if (!pid) return;
    this.#live.delete(pid);
    this.#dirty.delete(pid);
    // Not persisted by Socket.IO: the client left on purpose (or was kicked), nothing to recover.
    if (!this.#persisted.delete(pid)) this.#write('delete', () => this.#client.del(this.#key(pid)));
  }

  /** Records a change to the socket's rooms or data; resolves once it is in Redis. */
  save(socket: Socket): Promise<void> {
    const pid = pidOf(socket);
    if (!pid || !this.#live.has(pid)) return Promise.resolve();
    this.#dirty.add(pid);
    return this.#schedule();
  }

  /** Socket.IO's clean-disconnect hook: the session lives on for exactly the recovery window. */
  persist(session: StoredSession): void {
    this.#persisted.add(session.pid);
    this.#live.delete(session.pid);
    this.#dirty.delete(session.pid);
    this.#keepForWindow('persist', session);
  }

  #keepForWindow(kind: string, session: StoredSession): void {
    const { sid, pid, rooms, data, nsp } = session;
    const value = JSON.stringify({ sid, pid, rooms, data, nsp });
    this.#write(kind, () => this.#client.set(this.#key(pid), value, { PX: this.#opts.recoveryWindowMs }));
  }

  /** The session of `pid`, if it is still within its window. */
  async get(pid: string): Promise<StoredSession | undefined> {
    const raw = await this.#client.get(this.#key(pid));
    return raw ? (JSON.parse(raw) as StoredSession) : undefined;
  }

  /** Resolves once every change recorded so far has been sent and answered. */
  async flush(): Promise<void> {
    if (this.#batch) {
      clearTimeout(this.#batch.timer);
      this.#send();
    }
    await Promise.all(this.#inFlight);
  }

  /** Sessions of sockets connected to this instance. */
  get size(): number {
    return this.#live.size;
  }

  #schedule(): Promise<void> {
    if (!this.#batch) {
      let resolve: () => void = () => {};
      const done = new Promise<void>((r) => {
        resolve = r;
      });
      // A few ms of coalescing turns a burst of joins into one pipelined batch.
      this.#batch = { timer: setTimeout(() => this.#send(), 5), done, resolve };
    }
    return this.#batch.done;
  }

  #send(): void {
    const batch = this.#batch;
    if (!batch) return;
    this.#batch = undefined;
    const ttl = this.#opts.recoveryWindowMs + this.#opts.refreshMs;
    const writes: Promise<unknown>[] = [];
    for (const pid of this.#dirty) {
      const socket = this.#live.get(pid);
      if (!socket) continue;
      const value = JSON.stringify({
        sid: socket.id,
        pid,
        rooms: [...socket.rooms],
        data: socket.data,
        nsp: socket.nsp.name,
      });
      writes.push(this.#write('save', () => this.#client.set(this.#key(pid), value, { PX: ttl })));
    }
    this.#dirty.clear();
    Promise.all(writes).then(batch.resolve);
  }

  #write(kind: string, command: () => Promise<unknown>): Promise<void> {
    this.#metrics.sessionWrites.inc({ kind });
    const write = command().then(
      () => undefined,
      (err: Error) => {
        this.#metrics.redisErrors.inc({ client: 'sessions' });
        // While Redis is away every write fails: the connection logs that once, and resync() catches up.
        if (this.#client.isReady) {
          this.#log.warn('session write failed', { code: 'RLY_ERR_CLUSTER', kind, error: err.message });
        }
      },
    );
    this.#inFlight.add(write);
    void write.then(() => this.#inFlight.delete(write));
    return write;
  }

  #key(pid: string): string {
    return `${this.#opts.keyPrefix}${pid}`;
  }
}
