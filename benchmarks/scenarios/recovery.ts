// recovery-storm: K clients on instance A of three over Redis; a publisher on C sends numbered messages
// the whole time. A is killed (kill -9), its clients reconnect to B with their session; then B is drained
// (SIGTERM) and they move to C. Every client must recover both times and hold every number exactly once.
import {
  collectStats,
  connectClients,
  type LoadWorker,
  startWorkers,
  stopWorkers,
  sum,
} from '../lib/pool.js';
import { progress } from '../lib/progress.js';
import { metricBy, type ServerProcess, sleep } from '../lib/servers.js';
import { startCluster, type Target } from '../lib/targets.js';

export interface RecoveryPhase {
  /** kill -9 or SIGTERM (drain) → last client reconnected, s. */
  secondsToRecoverAll: number;
  recovered: number;
  notRecovered: number;
  stillDisconnected: number;
  /** The receiving relays' `relay_recovery_failures_total` by reason after this phase. */
  serverFailures: Record<string, number>;
}

export interface RecoveryResult {
  clients: number;
  /** Clients recovered in both phases (min of the two). */
  recovered: number;
  lost: number;
  duplicated: number;
  clientsWithLoss: number;
  /** The kill -9 storm. */
  secondsToRecoverAll: number;
  published: number;
  publishFailed: number;
  kill: RecoveryPhase;
  drain: RecoveryPhase;
}

export interface RecoveryPlan {
  clients: number;
  publishRate: number;
  drainRate: number;
}

const now = () => performance.timeOrigin + performance.now();

export async function recoveryStorm(target: Target, plan: RecoveryPlan): Promise<RecoveryResult> {
  const cluster = await startCluster(target, 3, {
    cluster: true,
    relayArgs: ['--drain-rate', String(plan.drainRate), '--drain-timeout', '30000'],
  });
  const [a, b, c] = cluster.servers as [
    (typeof cluster.servers)[0],
    (typeof cluster.servers)[0],
    (typeof cluster.servers)[0],
  ];
  const subs = startWorkers(2);
  const [publisher] = startWorkers(1) as [LoadWorker];
  const maxSeq = plan.publishRate * 60;
  try {
    const conn = await connectClients(subs, {
      urls: [a.url, b.url, c.url],
      spread: 1,
      count: plan.clients,
      room: 'storm',
      reconnect: true,
      maxSeq,
    });
    if (conn.failed > 0) progress(`  ${conn.failed} clients failed to connect: ${conn.firstError}`);
    const k = conn.connected;
    const pub = publisher.request({
      cmd: 'publish',
      urls: [c.url],
      room: 'storm',
      rate: plan.publishRate,
      durationMs: 50_000,
      maxMessages: maxSeq,
      publishers: 1,
      maxInFlight: 10_000,
      seqStart: 0,
    });
    // Publishing runs until both storms are over (stop-publish below; bounded by its duration anyway).
    await sleep(1500);

    const phase = async (
      what: string,
      victim: number,
      act: () => void,
      survivors: ServerProcess[],
    ): Promise<RecoveryPhase> => {
      const before = await collectStats(subs);
      const t0 = now();
      act();
      let s = before;
      const deadline = Date.now() + 45_000;
      let lastReport = Date.now();
      do {
        await sleep(100);
        s = await collectStats(subs);
        if (process.env.BENCH_TRACE && Date.now() - lastReport >= 1000) {
          lastReport = Date.now();
          progress(
            `    t+${((now() - t0) / 1000).toFixed(1)} s: ${s.connected} connected, ${s.reconnects - before.reconnects} back, ${s.reconnectErrors - before.reconnectErrors} failed attempts`,
          );
        }
      } while (
        (s.reconnects === before.reconnects || (s.onUrl[victim] ?? 0) > 0 || s.pending > 0) &&
        Date.now() < deadline
      );
      const serverFailures: Record<string, number> = {};
      for (const server of survivors) {
        const byReason = await metricBy(server, 'relay_recovery_failures_total', 'reason').catch(() => ({}));
        for (const [reason, n] of Object.entries(byReason))
          serverFailures[reason] = (serverFailures[reason] ?? 0) + n;
      }
      const result: RecoveryPhase = {
        secondsToRecoverAll: Math.round((s.lastReconnectAt - t0) / 10) / 100,
        recovered: s.recovered - before.recovered,
        notRecovered: s.notRecovered - before.notRecovered,
        stillDisconnected: k - s.connected,
        serverFailures,
      };
      progress(
        `  ${what} ${target.key}: ${result.recovered}/${k} recovered, ${result.notRecovered} not, ` +
          `${result.stillDisconnected} disconnected, all back in ${result.secondsToRecoverAll} s, ` +
          `server failures ${JSON.stringify(serverFailures)}`,
      );
      return result;
    };
    const kill = await phase('kill -9', 0, () => void a.kill('SIGKILL'), [b, c]);
    await sleep(1000);
    const drain = await phase('drain', 1, () => void b.child.kill('SIGTERM'), [c]);
    await sleep(1000);

    await publisher.request({ cmd: 'stop-publish' });
    const sent = await pub;
    await sleep(1500);
    const expected = Number(sent.nextSeq ?? 0);
    const reports = await Promise.all(subs.map((w) => w.request({ cmd: 'seq-report', expected })));
    const result: RecoveryResult = {
      clients: k,
      recovered: Math.min(kill.recovered, drain.recovered),
      lost: sum(reports, 'lost'),
      duplicated: sum(reports, 'duplicated'),
      clientsWithLoss: sum(reports, 'clientsWithLoss'),
      secondsToRecoverAll: kill.secondsToRecoverAll,
      published: expected,
      publishFailed: Number(sent.failed ?? 0),
      kill,
      drain,
    };
    progress(
      `  recovery ${target.key}: ${result.lost} lost, ${result.duplicated} duplicated of ${expected} × ${k}`,
    );
    return result;
  } finally {
    await stopWorkers([...subs, publisher]);
    await cluster.stop();
  }
}
