// idle-connections: N idle clients in one room; server RSS and heap per connection after GC, connect rate.
import { connectClients, MAX_SOCKETS_PER_WORKER, startWorkers, stopWorkers } from '../lib/pool.js';
import { progress } from '../lib/progress.js';
import { memoryAfterGc, sleep } from '../lib/servers.js';
import { startCluster, type Target } from '../lib/targets.js';

export interface IdleStep {
  connections: number;
  rssBytesPerConnection: number;
  heapBytesPerConnection: number;
  connectsPerSecond: number;
  failed: number;
}

export interface IdleResult extends IdleStep {
  baselineRssBytes: number;
  baselineHeapBytes: number;
  steps: IdleStep[];
}

/** Connects up to each of `steps` (ascending) on one instance and measures memory at each. */
export async function idleConnections(target: Target, steps: number[]): Promise<IdleResult> {
  const max = Math.max(...steps);
  const cluster = await startCluster(target, 1, { cluster: false });
  const workers = startWorkers(Math.max(2, Math.ceil(max / MAX_SOCKETS_PER_WORKER)));
  try {
    const server = cluster.servers[0]!;
    await sleep(500);
    const base = await memoryAfterGc(server);
    const results: IdleStep[] = [];
    let current = 0;
    for (const n of steps) {
      const added = await connectClients(workers, { urls: [server.url], count: n - current, room: 'idle' });
      if (added.firstError) progress(`  first connect error: ${added.firstError}`);
      current += added.connected;
      await sleep(1000);
      const mem = await memoryAfterGc(server);
      const step: IdleStep = {
        connections: current,
        rssBytesPerConnection: Math.round((mem.rssBytes - base.rssBytes) / current),
        heapBytesPerConnection: Math.round((mem.heapUsedBytes - base.heapUsedBytes) / current),
        connectsPerSecond: Math.round(added.connected / (added.elapsedMs / 1000)),
        failed: added.failed,
      };
      results.push(step);
      progress(
        `  idle ${target.key}: ${current} conns, ${step.rssBytesPerConnection} B RSS/conn, ` +
          `${step.heapBytesPerConnection} B heap/conn, ${step.connectsPerSecond} connects/s`,
      );
    }
    const last = results[results.length - 1]!;
    return {
      ...last,
      baselineRssBytes: base.rssBytes,
      baselineHeapBytes: base.heapUsedBytes,
      steps: results,
    };
  } finally {
    await stopWorkers(workers);
    await cluster.stop();
  }
}
