import { channel } from 'node:diagnostics_channel';
import type { Namespace, Socket } from 'socket.io';
import {
  type BroadcastOptions,
  ClusterAdapter,
  type ClusterMessage,
  type ClusterResponse,
  MessageType,
  type Room,
  type SocketId,
} from 'socket.io-adapter';
import { PacketType } from 'socket.io-parser';
import { ErrorCodes, RelayError } from '../errors.js';
import { localBroadcast, type PreEncoded, preEncode, writePreEncoded } from '../internals.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { type RedisClient, unanswered } from './redis.js';
import { type RestoredSession, RestoreRefused, Restores } from './restore.js';
import type { SessionStore, StoredSession } from './session-store.js';
import type { HistoryEntry, StreamHistory } from './stream-history.js';
import {
  decodePubSub,
  type EncodedSelection,
  encodeEntry,
  encodePubSub,
  isEphemeral,
  privateChannel,
  publicChannel,
  recoverableBroadcast,
} from './wire.js';

/**
 * Every broadcast an instance is about to fan out, as read from the stream (the cluster message), for
 * tracing: a subscriber can time publish → fan-out without touching the delivery path.
 */
const busDelivery = channel('edge-relay:bus-delivery');

/** What one namespace's adapter is given by the cluster (shared by every namespace on its stream). */
export interface StreamsAdapterDeps {
  client: RedisClient;
  /** The connection subscribed to the cluster's request and response channels. */
  subscriber: Promise<RedisClient>;
  stream: string;
  history: StreamHistory;
  sessions: SessionStore;
  /** Oldest stream time to keep at every XADD (by age, not length: a burst evicts nothing needed). */
  trimHorizon(): number;
  lastGeneratedId(): Promise<string>;
  evictedBefore(): Promise<string>;
  maxEntries: number;
  /** Whether clients recover (broadcasts then carry their offset). */
  recovers: boolean;
  /** Runs `write` with the connection's writes batched into as few system calls as the transport allows. */
  batch(socket: Socket, write: () => void): void;
  metrics: Metrics;
  log: Logger;
}

/**
 * Socket.IO's cluster adapter over a Redis stream, compatible with `@socket.io/redis-streams-adapter`'s
 * stream and channels, with what a relay needs on top:
 * - every broadcast, this instance's own included, is delivered by the stream reader (`receive`), in
 *   stream order, so offsets only ever grow at a client;
 * - a broadcast the stream refused is delivered locally and reported (`publishBroadcast` rejects);
 * - sessions are written eagerly (SessionStore), so clients of a killed instance recover too;
 * - recovery replays from the stream history this instance's reader keeps (Restores), exactly the
 *   entries a restored socket has not had and will not get live.
 */
export class RelayStreamsAdapter extends ClusterAdapter {
  readonly #deps: StreamsAdapterDeps;
  readonly #restores: Restores;
  readonly #channels: string[];
  readonly #recovers: boolean;

  constructor(nsp: Namespace, deps: StreamsAdapterDeps) {
    super(nsp);
    this.#deps = deps;
    this.#recovers = deps.recovers;
    this.#restores = new Restores({
      namespace: nsp.name,
      sessions: deps.sessions,
      history: deps.history,
      lastGeneratedId: deps.lastGeneratedId,
      evictedBefore: deps.evictedBefore,
      maxEntries: deps.maxEntries,
      isConnected: (id) => nsp.sockets.has(id),
    });
    this.#channels = [publicChannel(nsp.name), privateChannel(nsp.name, this.uid)];
    void deps.subscriber.then((subscriber) =>
      subscriber.subscribe(this.#channels, (payload) => this.#onPubSub(payload), true),
    );
  }

  /** Called by the stream reader with each entry of this namespace, in stream order. */
  receive(entry: HistoryEntry): void {
    this.onMessage(entry.message as ClusterMessage, entry.id);
  }

  protected override onMessage(message: ClusterMessage, offset?: string): void {
    if (message.type === MessageType.BROADCAST && message.data.requestId === undefined && offset) {
      this.#deliver(message, offset);
      return;
    }
    super.onMessage(message, offset);
  }

  /** Fans a broadcast out to this instance's sockets, with its offset when clients can recover it. */
  #deliver(message: ClusterMessage & { type: MessageType.BROADCAST }, offset: string): void {
    if (busDelivery.hasSubscribers) busDelivery.publish(message);
    const packet = message.data.packet as LivePacket;
    const opts = message.data.opts as EncodedSelection;
    // A copy: the history keeps the entry as stored, and replays append the offset themselves.
    const data = this.#recovers && recoverableBroadcast(message) ? [...packet.data, offset] : packet.data;
    localBroadcast(
      this,
      { ...packet, data },
      { rooms: new Set(opts.rooms), except: new Set(opts.except), flags: opts.flags ?? {} },
    );
  }

  override async broadcast(packet: LivePacket, opts: BroadcastOptions): Promise<void> {
    try {
      await this.publishBroadcast(packet, opts);
    } catch (err) {
      // BroadcastOperator does not await: the refusal is counted and logged here.
      this.#deps.log.warn('broadcast not published to the cluster', {
        code: ErrorCodes.CLUSTER,
        namespace: this.nsp.name,
        error: (err as Error).message,
      });
    }
  }

  /**
   * Publishes a broadcast into the stream; every instance, this one included, delivers it from its reader.
   * When Redis refuses it, this instance's sockets get it anyway (without an offset: it is not kept), and
   * the promise rejects with RLY_ERR_CLUSTER. When Redis did not answer in time, nobody gets it now: Redis
   * may still carry it out, and the stream then delivers it everywhere.
   */
  async publishBroadcast(packet: LivePacket, opts: BroadcastOptions): Promise<void> {
    if (opts.flags?.local) return localBroadcast(this, packet, opts);
    try {
      await this.publishAndReturnOffset({
        type: MessageType.BROADCAST,
        data: {
          packet,
          opts: { rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: opts.flags ?? {} },
        },
      });
    } catch (err) {
      this.#deps.metrics.redisErrors.inc({ client: 'publish' });
      if (unanswered(err)) {
        // Redis may still hold it: delivered locally now, it could come back from the stream as a duplicate.
        throw new RelayError(
          ErrorCodes.CLUSTER,
          'the cluster bus (Redis) did not answer in time: the message reaches every member when Redis carries it out, or none',
          { cause: err },
        );
      }
      localBroadcast(this, packet, opts);
      throw new RelayError(
        ErrorCodes.CLUSTER,
        'the cluster bus (Redis) is unavailable: only sockets on this instance got the message',
        { cause: err },
      );
    }
  }

  protected override doPublish(message: ClusterMessage): Promise<string> {
    if (isEphemeral(message)) {
      return this.#deps.client.publish(this.#channels[0] as string, encodePubSub(message)).then(() => '');
    }
    return this.#deps.client.xAdd(this.#deps.stream, '*', encodeEntry(message), {
      TRIM: { strategy: 'MINID', strategyModifier: '~', threshold: this.#deps.trimHorizon() },
    });
  }

  protected override async doPublishResponse(requesterUid: string, response: ClusterResponse): Promise<void> {
    await this.#deps.client.publish(privateChannel(this.nsp.name, requesterUid), encodePubSub(response));
  }

  override async serverCount(): Promise<number> {
    const channel = this.#channels[0] as string;
    const count = async (client: { sendCommand(args: string[]): Promise<unknown> }) =>
      Number(((await client.sendCommand(['PUBSUB', 'NUMSUB', channel])) as unknown[])[1] ?? 0);
    // A Redis Cluster counts subscribers per node: ask every master.
    const masters = (
      this.#deps.client as unknown as { masters?: Array<{ client: Promise<RedisClient> | RedisClient }> }
    ).masters;
    if (!Array.isArray(masters)) return count(this.#deps.client);
    const counts = await Promise.all(masters.map(async (node) => count(await node.client)));
    return counts.reduce((a, b) => a + b, 0);
  }

  override persistSession(session: StoredSession): void {
    this.#deps.sessions.persist({ ...session, nsp: this.nsp.name });
  }

  override async restoreSession(pid: string, offset: string): Promise<RestoredSession> {
    const namespace = this.nsp.name;
    try {
      return await this.#restores.restore(pid, offset);
    } catch (err) {
      const reason = err instanceof RestoreRefused ? err.reason : 'error';
      this.#deps.metrics.recoveryFailures.inc({ namespace, reason });
      // A missing session is the ordinary end of a window; everything else is worth a line.
      if (reason !== 'session-missing') {
        this.#deps.log.warn('connection state not recovered', {
          namespace,
          reason,
          offset,
          error: String(err),
        });
      }
      throw err;
    }
  }

  // Room changes from any source (built-ins, backends, remote socketsJoin) reach the session store.
  override addAll(id: SocketId, rooms: Set<Room>): void {
    super.addAll(id, rooms);
    this.#changed(id);
  }

  override del(id: SocketId, room: Room): void {
    super.del(id, room);
    this.#changed(id);
  }

  override delAll(id: SocketId): void {
    super.delAll(id);
    // A restored socket cleaned up before it connected: its handshake died after the restore.
    this.#restores.abandoned(id);
  }

  override close(): void {
    void this.#deps.subscriber.then((subscriber) => subscriber.unsubscribe(this.#channels).catch(() => {}));
  }

  #changed(id: SocketId): void {
    if (!this.#recovers) return;
    const socket = this.nsp.sockets.get(id);
    if (socket) void this.#deps.sessions.save(socket);
  }

  /**
   * A socket is connected: a restored one gets what it missed, in one batch, before anything else is sent
   * to it; from now on its session is kept up to date. The first connect step of every namespace.
   */
  connected(socket: Socket): void {
    const missed = this.#restores.replay(socket.id);
    if (missed.length > 0) {
      this.#deps.batch(socket, () => {
        for (const entry of missed) writePreEncoded(socket, this.#replayOf(entry));
      });
      this.#deps.metrics.replayedPackets.inc({ namespace: this.nsp.name }, missed.length);
    }
    if (this.#recovers) this.#deps.sessions.track(socket);
  }

  /** The replay packet of an entry, encoded once for every socket it is replayed to. */
  #replayOf(entry: HistoryEntry): PreEncoded {
    if (!entry.replay) {
      const { packet } = recoverableBroadcast(entry.message as ClusterMessage) as { packet: LivePacket };
      entry.replay = preEncode(this, {
        type: PacketType.EVENT,
        data: [...packet.data, entry.id],
        nsp: this.nsp.name,
      });
    }
    return entry.replay as PreEncoded;
  }

  #onPubSub(payload: Buffer): void {
    let message: ClusterMessage | ClusterResponse;
    try {
      message = decodePubSub(payload);
    } catch {
      this.#deps.metrics.redisErrors.inc({ client: 'pubsub-format' });
      return;
    }
    // Responses travel the same way; ClusterAdapter.onMessage routes them to onResponse.
    this.onMessage(message as ClusterMessage);
  }
}

/** A Socket.IO packet as broadcast: the event name and its arguments in `data`. */
interface LivePacket {
  type: number;
  id?: number;
  nsp?: string;
  data: unknown[];
}
