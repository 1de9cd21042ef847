// What each instance adds to its registry heartbeat for the dashboard: cumulative counters (the dashboard
// turns successive heartbeats into cluster-wide rates) and its largest rooms.
import type { Server } from 'socket.io';
import type { RoomSize } from '../cluster/registry.js';
import { namespacesOf } from '../internals.js';
import type { Metrics } from '../metrics/registry.js';

/** How many rooms each instance lists in its heartbeat. */
export const TOP_ROOMS = 10;
export interface ActivityTotals {
  publishesTotal: number;
  recoveriesTotal: number;
  recoveryFailuresTotal: number;
}

/** The cumulative counters a heartbeat reports, read from the Prometheus registry at beat time. */
export async function activityTotals(metrics: Metrics): Promise<ActivityTotals> {
  const [publishes, recoveries] = await Promise.all([metrics.publishes.get(), metrics.recoveries.get()]);
  const recoveriesBy = (result: string) =>
    sum(recoveries.values.filter((v) => v.labels.result === result).map((v) => v.value));
  return {
    publishesTotal: sum(publishes.values.map((v) => v.value)),
    recoveriesTotal: recoveriesBy('succeeded'),
    recoveryFailuresTotal: recoveriesBy('failed'),
  };
}

/**
 * The `limit` named rooms (socket-id rooms excluded) with most members on this instance, largest first
 * (ties keep scan order). The dashboard sums these lists across instances.
 */
export function localTopRooms(io: Server, limit = TOP_ROOMS): RoomSize[] {
  // A bounded insertion keeps this O(rooms × limit) instead of sorting every room.
  const top: RoomSize[] = [];
  for (const nsp of namespacesOf(io)) {
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
