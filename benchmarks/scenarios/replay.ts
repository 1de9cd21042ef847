// replay-capacity: what one instance can replay. K clients in one room hold a session and an offset; they
// all drop, M messages are published to the room, and they all come back at once (no reconnect delay)
// to another instance. Measured: from the first reconnect to the last replayed message at the last
// client, restores per second and replayed packets per second, with the relay's and the load generators'
// CPU. This is the capacity that recovery admission is sized from.
import {
  collectStats,
  connectClients,
  type LoadWorker,
  startWorkers,
  stopWorkers,
  sum,
} from '../lib/pool.js';
import { progress } from '../lib/progress.js';
import { cpuSecondsOf, sleep } from '../lib/servers.js';
import { startCluster, type Target } from '../lib/targets.js';

export interface ReplayPlan {
  clients: number;
  /** Messages each client misses and gets replayed. */
  missed: number;
}

export interface ReplayResult {
  clients: number;
  missed: number;
  recovered: number;
  /** First reconnect → every missed message at every client, s. */
  seconds: number;
  restoresPerSecond: number;
  replayedPerSecond: number;
  relayCpuPercent: number;
  loadGeneratorCpuPercent: number;
  lost: number;
  duplicated: number;
}

const now = () => performance.timeOrigin + performance.now();

export async function replayCapacity(target: Target, plan: ReplayPlan): Promise<ReplayResult> {
  const cluster = await startCluster(target, 2, { cluster: true });
  const [holder, restorer] = cluster.servers as [(typeof cluster.servers)[0], (typeof cluster.servers)[0]];
  const subs = startWorkers(2);
  const [publisher] = startWorkers(1) as [LoadWorker];
  const expected = plan.missed + 1;
  try {
    const conn = await connectClients(subs, {
      urls: [holder.url],
      count: plan.clients,
      room: 'replay',
      maxSeq: expected,
    });
    const publish = (count: number, seqStart: number) =>
      publisher.request({
        cmd: 'publish',
        urls: [restorer.url],
        room: 'replay',
        rate: 20_000,
        durationMs: 60_000,
        maxMessages: count,
        publishers: 4,
        maxInFlight: 1000,
        seqStart,
      });
    // One message first: it gives every client its offset.
    await publish(1, 0);
    const deadline = Date.now() + 20_000;
    while ((await collectStats(subs)).received < conn.connected && Date.now() < deadline) await sleep(50);
    await Promise.all(subs.map((w) => w.request({ cmd: 'suspend' })));
    await sleep(500);
    await publish(plan.missed, 1);

    const pids = [restorer.pid];
    const generators = [...subs, publisher].map((w) => w.child.pid as number);
    const cpu = (list: number[]) => Promise.all(list.map((pid) => cpuSecondsOf(pid)));
    const [relayBefore, genBefore] = [await cpu(pids), await cpu(generators)];
    const t0 = now();
    const resumed = await Promise.all(
      subs.map((w) => w.request({ cmd: 'resume', url: restorer.url, concurrency: 500 })),
    );
    let reports = await Promise.all(subs.map((w) => w.request({ cmd: 'seq-report', expected })));
    while (sum(reports, 'lost') > 0 && now() - t0 < 60_000) {
      await sleep(20);
      reports = await Promise.all(subs.map((w) => w.request({ cmd: 'seq-report', expected })));
    }
    const seconds = (now() - t0) / 1000;
    const percent = (after: number[], before: number[]) =>
      Math.round((100 * after.reduce((acc, v, i) => acc + v - (before[i] ?? 0), 0)) / seconds);
    const recovered = sum(resumed, 'recovered');
    const result: ReplayResult = {
      clients: conn.connected,
      missed: plan.missed,
      recovered,
      seconds: Math.round(seconds * 1000) / 1000,
      restoresPerSecond: Math.round(recovered / seconds),
      replayedPerSecond: Math.round((recovered * plan.missed) / seconds),
      relayCpuPercent: percent(await cpu(pids), relayBefore),
      loadGeneratorCpuPercent: percent(await cpu(generators), genBefore),
      lost: sum(reports, 'lost'),
      duplicated: sum(reports, 'duplicated'),
    };
    progress(
      `  replay ${target.key}: ${recovered}/${result.clients} restored with ${plan.missed} missed each in ` +
        `${result.seconds} s: ${result.restoresPerSecond} restores/s, ${result.replayedPerSecond} packets/s ` +
        `(relay CPU ${result.relayCpuPercent} %, load generators ${result.loadGeneratorCpuPercent} %), ` +
        `${result.lost} lost, ${result.duplicated} duplicated`,
    );
    return result;
  } finally {
    await stopWorkers([...subs, publisher]);
    await cluster.stop();
  }
}
