import type { SessionStore, StoredSession } from './session-store.js';
import type { HistoryEntry, StreamHistory } from './stream-history.js';
import { compareStreamIds, isStreamId, reaches, recoverableBroadcast } from './wire.js';

/** Why a restore was refused; becomes the `reason` label of `relay_recovery_failures_total`. */
export type RefusalReason =
  | 'invalid-offset'
  | 'session-missing'
  | 'session-in-use'
  | 'token-expired'
  | 'offset-unknown'
  | 'offset-gone'
  | 'replay-too-long';

export class RestoreRefused extends Error {
  constructor(readonly reason: RefusalReason) {
    super(`connection state not recovered: ${reason}`);
    this.name = 'RestoreRefused';
  }
}

/**
 * Whether the JWT a session's socket was verified with has expired (src/relay/auth.ts keeps its expiry in
 * `data`): nothing published since may reach it, so it is not restored, and the fresh handshake that
 * follows checks the token again.
 */
export function tokenExpired(data: unknown): boolean {
  const expiresAt = (data as { tokenExpiresAt?: unknown } | null | undefined)?.tokenExpiresAt;
  return typeof expiresAt === 'number' && expiresAt <= Date.now();
}

/** A session as Socket.IO's `restoreSession` must return it; the replay follows at `connection`. */
export interface RestoredSession extends StoredSession {
  missedPackets: unknown[][];
}

export interface RestoresDeps {
  namespace: string;
  sessions: SessionStore;
  history: StreamHistory;
  /** The stream's last generated id in Redis (an offset after it was never handed out). */
  lastGeneratedId(): Promise<string>;
  /** Entries before this id may have been evicted by the length cap ('0-0': none ever was). */
  evictedBefore(): Promise<string>;
  /** Most stream entries one replay may span (the stream's length cap). */
  maxEntries: number;
  /** Whether a socket with this id is connected to this namespace here. */
  isConnected(socketId: string): boolean;
}

/** How long a restore may wait for this instance's reader to reach a client's offset. */
const REACH_TIMEOUT_MS = 5_000;
/** A restored socket that has not connected by then never will (its handshake died). */
const CONNECT_DEADLINE_MS = 30_000;

interface Pending {
  offset: string;
  rooms: string[];
  pin: symbol;
  timer: NodeJS.Timeout;
  settle: () => void;
}

/**
 * Connection state recovery for one namespace, in two steps:
 * 1. `restore` (Socket.IO's restoreSession): reads the session, without taking it, and makes sure the
 *    stream history holds everything after the client's offset. The session stays in Redis until the
 *    restored socket's own session overwrites it, so a restore that fails half-way, or a handshake that
 *    dies after it, loses nothing: the client's retry finds the session again.
 * 2. `replay` (at `connection`, when the socket has joined its rooms and receives live broadcasts): the
 *    entries after the offset up to the reader's position, which is exactly what it has not received and
 *    will not receive live.
 * Restores of the same session on this instance run one after the other: two sockets with one id would
 * share (and on cleanup, empty) one entry in the adapter's rooms.
 */
export class Restores {
  readonly #deps: RestoresDeps;
  readonly #pending = new Map<string, Pending>();
  readonly #byPid = new Map<string, Promise<void>>();

  constructor(deps: RestoresDeps) {
    this.#deps = deps;
  }

  async restore(pid: unknown, offset: unknown): Promise<RestoredSession> {
    if (typeof pid !== 'string' || !isStreamId(offset)) throw new RestoreRefused('invalid-offset');
    const previous = this.#byPid.get(pid);
    let settle = () => {};
    const settled = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const mine = (previous ?? Promise.resolve()).then(() => settled);
    this.#byPid.set(pid, mine);
    void mine.then(() => {
      if (this.#byPid.get(pid) === mine) this.#byPid.delete(pid);
    });
    await previous;
    try {
      const session = await this.#prepare(pid, offset);
      this.#expect(session, offset, settle);
      return { ...session, missedPackets: [] };
    } catch (err) {
      settle();
      throw err;
    }
  }

  async #prepare(pid: string, offset: string): Promise<StoredSession> {
    const { history } = this.#deps;
    const session = await this.#deps.sessions.get(pid);
    // A session made on another namespace restores only there (sessions of older versions name none).
    if (!session || (session.nsp !== undefined && session.nsp !== this.#deps.namespace)) {
      throw new RestoreRefused('session-missing');
    }
    if (this.#deps.isConnected(session.sid)) throw new RestoreRefused('session-in-use');
    if (tokenExpired(session.data)) throw new RestoreRefused('token-expired');
    if (!(await history.whenStarted(REACH_TIMEOUT_MS))) throw new RestoreRefused('offset-unknown');
    if (compareStreamIds(offset, history.last) > 0) {
      // The client was served by an instance whose reader is ahead of ours: wait until ours gets there.
      const generated = await this.#deps.lastGeneratedId();
      if (compareStreamIds(offset, generated) > 0) throw new RestoreRefused('offset-unknown');
      if (!(await history.reached(offset, REACH_TIMEOUT_MS))) throw new RestoreRefused('offset-unknown');
    }
    if (!history.covers(offset)) {
      if (compareStreamIds(offset, await this.#deps.evictedBefore()) < 0)
        throw new RestoreRefused('offset-gone');
      const pin = history.pin(offset);
      try {
        if (!(await history.fetchFrom(offset, this.#deps.maxEntries))) {
          throw new RestoreRefused('replay-too-long');
        }
      } finally {
        history.unpin(pin);
      }
    }
    return session;
  }

  /** From here until `connection` (or its failure) the history keeps what the socket will replay. */
  #expect(session: StoredSession, offset: string, settle: () => void): void {
    const pin = this.#deps.history.pin(offset);
    if (!this.#deps.history.covers(offset)) {
      this.#deps.history.unpin(pin);
      throw new RestoreRefused('offset-gone');
    }
    const timer = setTimeout(() => this.abandoned(session.sid), CONNECT_DEADLINE_MS);
    timer.unref();
    this.#pending.set(session.sid, { offset, rooms: session.rooms, pin, timer, settle });
  }

  /**
   * Called at `connection` of every socket: for a restored one, the entries it missed, in stream order.
   * Runs in the same synchronous step as the socket's first live delivery could, so nothing falls between.
   */
  replay(socketId: string): HistoryEntry[] {
    const pending = this.#forget(socketId);
    if (!pending) return [];
    const missed: HistoryEntry[] = [];
    for (const entry of this.#deps.history.after(pending.offset)) {
      const message = entry.message;
      if (message?.nsp !== this.#deps.namespace) continue;
      const broadcast = recoverableBroadcast(message);
      if (broadcast && reaches(pending.rooms, broadcast.opts)) missed.push(entry);
    }
    this.#deps.history.unpin(pending.pin);
    pending.settle();
    return missed;
  }

  /** The restored socket will not connect (its handshake died, or it was refused). */
  abandoned(socketId: string): void {
    const pending = this.#forget(socketId);
    if (!pending) return;
    this.#deps.history.unpin(pending.pin);
    pending.settle();
  }

  /** Restores waiting for their socket to connect. */
  get pending(): number {
    return this.#pending.size;
  }

  #forget(socketId: string): Pending | undefined {
    const pending = this.#pending.get(socketId);
    if (!pending) return undefined;
    this.#pending.delete(socketId);
    clearTimeout(pending.timer);
    return pending;
  }
}
