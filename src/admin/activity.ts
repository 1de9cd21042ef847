// What each instance adds to its registry heartbeat for the dashboard: cumulative counters (the dashboard
// turns successive heartbeats into cluster-wide rates) and its largest rooms.
import type { Server } from 'socket.io';
import type { RoomSize } from '../cluster/registry.js';
import { ErrorCodes } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';

/** How many rooms each instance lists in its heartbeat. */
export const TOP_ROOMS = 10;
/** How often the counter snapshot is refreshed: a heartbeat is at most this much behind the counters. */
const REFRESH_MS = 1_000;

export interface ActivityTotals {
  publishesTotal: number;
  recoveriesTotal: number;
  recoveryFailuresTotal: number;
}

export interface ActivityCounters {
  /** The last snapshot (all zero until the first refresh). */
  totals(): ActivityTotals;
  start(): void;
  stop(): void;
}

/**
 * Snapshots the Prometheus counters the heartbeat reports. Their read API is asynchronous and the
 * heartbeat's builder is not, so the snapshot is refreshed on a timer instead of read at each beat.
 */
export function createActivityCounters(metrics: Metrics, log: Logger): ActivityCounters {
  let totals: ActivityTotals = { publishesTotal: 0, recoveriesTotal: 0, recoveryFailuresTotal: 0 };
  let timer: NodeJS.Timeout | undefined;
  const refresh = async () => {
    const [publishes, recoveries] = await Promise.all([metrics.publishes.get(), metrics.recoveries.get()]);
    const recoveriesBy = (result: string) =>
      sum(recoveries.values.filter((v) => v.labels.result === result).map((v) => v.value));
    totals = {
      publishesTotal: sum(publishes.values.map((v) => v.value)),
      recoveriesTotal: recoveriesBy('succeeded'),
      recoveryFailuresTotal: recoveriesBy('failed'),
    };
  };
  const refreshLogged = () => {
    refresh().catch((err) =>
      log.error('reading activity counters failed', { code: ErrorCodes.INTERNAL, error: String(err) }),
    );
  };
  return {
    totals: () => totals,
    start() {
      if (timer) return;
      refreshLogged();
      timer = setInterval(refreshLogged, REFRESH_MS);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}

/**
 * The `limit` named rooms (socket-id rooms excluded) with most members on this instance, largest first
 * (ties keep scan order). The dashboard sums these lists across instances.
 */
export function localTopRooms(io: Server, limit = TOP_ROOMS): RoomSize[] {
  // A bounded insertion keeps this O(rooms × limit) instead of sorting every room.
  const top: RoomSize[] = [];
  for (const nsp of io._nsps.values()) {
    const { rooms, sids } = nsp.adapter;
    for (const [room, sockets] of rooms) {
      if (sids.has(room)) continue;
      const members = sockets.size;
      if (top.length >= limit && members <= (top[top.length - 1]?.members ?? 0)) continue;
      let at = top.length;
      while (at > 0 && (top[at - 1]?.members ?? 0) < members) at--;
      top.splice(at, 0, { namespace: nsp.name, room, members });
      if (top.length > limit) top.pop();
    }
  }
  return top;
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
