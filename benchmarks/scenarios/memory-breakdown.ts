// memory-breakdown: what one idle connection holds on the relay's heap, by kind of object. Heap snapshots
// of one relay (single node) after a full GC at `from` and at `to` idle connections, each client in one
// room; the difference divided by the connections added.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KindPerConnection, kindsOf, perConnection } from '../lib/heap-snapshot.js';
import { connectClients, MAX_SOCKETS_PER_WORKER, startWorkers, stopWorkers } from '../lib/pool.js';
import { progress } from '../lib/progress.js';
import { memoryAfterGc, type ServerProcess, sleep } from '../lib/servers.js';
import { startCluster, type Target } from '../lib/targets.js';

export interface MemoryBreakdownPlan {
  from: number;
  to: number;
}

export interface MemoryBreakdown {
  from: number;
  to: number;
  /** Heap used after GC, per added connection. */
  heapBytesPerConnection: number;
  /** The largest kinds per connection, then `(other)` for the rest; they sum to the snapshots' growth. */
  kinds: KindPerConnection[];
}

/** Kinds listed by name; the rest are summed as `(other)`. */
const LISTED = 14;

export async function memoryBreakdown(target: Target, plan: MemoryBreakdownPlan): Promise<MemoryBreakdown> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-heap-'));
  const cluster = await startCluster(target, 1, { cluster: false, env: { BENCH_HEAP_SNAPSHOTS: dir } });
  const workers = startWorkers(Math.max(2, Math.ceil(plan.to / MAX_SOCKETS_PER_WORKER)));
  try {
    const server = cluster.servers[0] as ServerProcess;
    const connect = async (count: number) => {
      const added = await connectClients(workers, { urls: [server.url], count, room: 'idle' });
      if (added.firstError) progress(`  first connect error: ${added.firstError}`);
      await sleep(1000);
      return added.connected;
    };
    const from = await connect(plan.from);
    const before = await memoryAfterGc(server);
    const added = await connect(plan.to - from);
    const after = await memoryAfterGc(server);
    if (!before.snapshot || !after.snapshot) throw new Error(`${server.name} wrote no heap snapshot`);
    const kinds = perConnection(await kindsOf(before.snapshot), await kindsOf(after.snapshot), added);
    const rest = kinds
      .slice(LISTED)
      .reduce(
        (sum, k) => ({ kind: '(other)', bytes: sum.bytes + k.bytes, objects: sum.objects + k.objects }),
        { kind: '(other)', bytes: 0, objects: 0 },
      );
    const result: MemoryBreakdown = {
      from,
      to: from + added,
      heapBytesPerConnection: Math.round((after.heapUsedBytes - before.heapUsedBytes) / added),
      kinds: [...kinds.slice(0, LISTED), { ...rest, objects: Math.round(rest.objects * 100) / 100 }],
    };
    const total = result.kinds.reduce((sum, k) => sum + k.bytes, 0);
    progress(
      `  memory ${target.key}: ${result.heapBytesPerConnection} B heap/conn (${total} B in the snapshots) ` +
        `from ${from} to ${from + added} conns; largest: ` +
        kinds
          .slice(0, 3)
          .map((k) => `${k.kind} ${k.bytes} B`)
          .join(', '),
    );
    return result;
  } finally {
    await stopWorkers(workers);
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
