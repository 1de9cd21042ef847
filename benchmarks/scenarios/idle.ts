// idle-connections: N idle clients in one room; server RSS and heap per connection after GC, connect rate.
// On several instances (over Redis) it measures how far the whole machine goes: the figures per connection
// are the instances' summed growth over the total.
import { connectClients, MAX_SOCKETS_PER_WORKER, startWorkers, stopWorkers } from '../lib/pool.js';
import { progress } from '../lib/progress.js';
import { type Memory, memoryAfterGc, type ServerProcess, sleep } from '../lib/servers.js';
import { startCluster, type Target } from '../lib/targets.js';

export interface IdleStep {
  connections: number;
  rssBytesPerConnection: number;
  heapBytesPerConnection: number;
  connectsPerSecond: number;
  failed: number;
}

export interface IdleResult extends IdleStep {
  instances: number;
  baselineRssBytes: number;
  baselineHeapBytes: number;
  steps: IdleStep[];
}

/**
 * Connects up to each of `steps` (ascending, totals over all instances) and measures memory at each. One
 * instance runs single-node; several share a Redis, as a cluster would.
 */
export async function idleConnections(target: Target, steps: number[], instances = 1): Promise<IdleResult> {
  const max = Math.max(...steps);
  const cluster = await startCluster(target, instances, { cluster: instances > 1 });
  const workers = startWorkers(Math.max(2, Math.ceil(max / MAX_SOCKETS_PER_WORKER)));
  try {
    const urls = cluster.servers.map((s) => s.url);
    await sleep(500);
    const base = await totalMemory(cluster.servers);
    const results: IdleStep[] = [];
    let current = 0;
    for (const n of steps) {
      const added = await connectClients(workers, { urls, count: n - current, room: 'idle' });
      if (added.firstError) progress(`  first connect error: ${added.firstError}`);
      current += added.connected;
      await sleep(1000);
      const mem = await totalMemory(cluster.servers);
      const step: IdleStep = {
        connections: current,
        rssBytesPerConnection: Math.round((mem.rssBytes - base.rssBytes) / current),
        heapBytesPerConnection: Math.round((mem.heapUsedBytes - base.heapUsedBytes) / current),
        connectsPerSecond: Math.round(added.connected / (added.elapsedMs / 1000)),
        failed: added.failed,
      };
      results.push(step);
      progress(
        `  idle ${target.key}, ${instances} inst: ${current} conns, ${step.rssBytesPerConnection} B RSS/conn, ` +
          `${step.heapBytesPerConnection} B heap/conn, ${step.connectsPerSecond} connects/s` +
          (added.failed ? `, ${added.failed} failed` : ''),
      );
    }
    const last = results[results.length - 1]!;
    return {
      ...last,
      instances,
      baselineRssBytes: base.rssBytes,
      baselineHeapBytes: base.heapUsedBytes,
      steps: results,
    };
  } finally {
    await stopWorkers(workers);
    await cluster.stop();
  }
}

/** Memory after GC summed over the servers (measured one after the other: each GC pauses only its own). */
async function totalMemory(servers: ServerProcess[]): Promise<Memory> {
  let rssBytes = 0;
  let heapUsedBytes = 0;
  for (const server of servers) {
    const m = await memoryAfterGc(server);
    rssBytes += m.rssBytes;
    heapUsedBytes += m.heapUsedBytes;
  }
  return { rssBytes, heapUsedBytes };
}
