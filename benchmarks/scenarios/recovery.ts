// recovery-storm: K clients on instance A of three over Redis; a publisher on C sends numbered messages
// the whole time. A is killed (kill -9), its clients reconnect to B with their session; then B is drained
// (SIGTERM) and they move to C. Every client must recover both times and hold every number exactly once,
// in order. The sweep repeats it at several publish rates: a storm at a low rate proves little about a
// high one, since every reconnecting client has more to replay and every connected one more to receive.
import {
  collectStats,
  connectClients,
  type LoadWorker,
  startWorkers,
  stopWorkers,
  sum,
} from '../lib/pool.js';
import { progress } from '../lib/progress.js';
import { cpuSecondsOf, metric, metricBy, metrics, type ServerProcess, sleep } from '../lib/servers.js';
import { startCluster, type Target } from '../lib/targets.js';

export interface RecoveryPhase {
  /** kill -9 or SIGTERM (drain) → last client reconnected, s. */
  secondsToRecoverAll: number;
  recovered: number;
  notRecovered: number;
  stillDisconnected: number;
  /** Per client, its disconnect → its recovered CONNECT, ms. */
  reconnectMs: { p50: number; p99: number; max: number };
  /** Packets the receiving relays replayed during the phase, and per second of the phase. */
  replayedPackets: number;
  replayedPerSecond: number;
  /** CPU used during the phase, % of one core: the receiving relay(s), and all load generators. */
  relayCpuPercent: number;
  loadGeneratorCpuPercent: number;
  /** The receiving relays' `relay_recovery_failures_total` by reason after this phase. */
  serverFailures: Record<string, number>;
}

export interface RecoveryResult {
  clients: number;
  publishRate: number;
  /** Clients recovered in both phases (min of the two). */
  recovered: number;
  /** Messages missing at clients connected at the end (told they recovered, or with a fresh session). */
  lost: number;
  /** Messages missing at clients still disconnected at the end: they recover them when they come back. */
  missingWhileDisconnected: number;
  duplicated: number;
  /** Messages a client got after a higher-numbered one. */
  outOfOrder: number;
  clientsWithLoss: number;
  /** The slower of the two storms (kill -9, drain): the goal holds for both. */
  secondsToRecoverAll: number;
  published: number;
  publishFailed: number;
  kill: RecoveryPhase;
  drain: RecoveryPhase;
}

export interface RecoveryPlan {
  clients: number;
  /** Publish rates swept, per second, ascending. */
  rates: number[];
  /** The rate whose storm is the headline figure. */
  headlineRate: number;
  drainRate: number;
}

/** The headline storm's figures at the top level (what the summary table reads), and the whole sweep. */
export type RecoverySweep = RecoveryResult & { sweep: RecoveryResult[] };

const now = () => performance.timeOrigin + performance.now();

export async function recoverySweep(target: Target, plan: RecoveryPlan): Promise<RecoverySweep> {
  const sweep: RecoveryResult[] = [];
  for (const rate of plan.rates) {
    sweep.push(
      await recoveryStorm(target, { clients: plan.clients, publishRate: rate, drainRate: plan.drainRate }),
    );
  }
  const headline =
    sweep.find((r) => r.publishRate === plan.headlineRate) ?? (sweep[sweep.length - 1] as RecoveryResult);
  return { ...headline, sweep };
}

/** With BENCH_TRACE: each distinct warning the receiving relays logged, once, with its count. */
function traceWarnings(servers: ServerProcess[]): void {
  const counts = new Map<string, number>();
  for (const server of servers) {
    for (const line of server.logs) {
      if (line.level !== 'warn' && line.level !== 40) continue;
      const text = `${line.msg} ${line.reason ?? ''} ${line.error ?? ''}`;
      counts.set(text, (counts.get(text) ?? 0) + 1);
    }
  }
  for (const [text, n] of counts) progress(`    warning × ${n}: ${text}`);
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);
}

export async function recoveryStorm(
  target: Target,
  plan: { clients: number; publishRate: number; drainRate: number },
): Promise<RecoveryResult> {
  const cluster = await startCluster(target, 3, {
    cluster: true,
    relayArgs: ['--drain-rate', String(plan.drainRate), '--drain-timeout', '30000'],
  });
  const [a, b, c] = cluster.servers as [ServerProcess, ServerProcess, ServerProcess];
  const subs = startWorkers(2);
  const [publisher] = startWorkers(1) as [LoadWorker];
  const generators = [...subs, publisher].map((w) => w.child.pid as number);
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
      durationMs: 60_000,
      maxMessages: maxSeq,
      publishers: 1,
      maxInFlight: 10_000,
      seqStart: 0,
    });
    // Publishing runs until both storms are over (stop-publish below; bounded by its duration anyway).
    await sleep(1500);

    const cpu = (pids: number[]) => Promise.all(pids.map((pid) => cpuSecondsOf(pid).catch(() => 0)));
    const phase = async (
      what: string,
      victim: number,
      act: () => void,
      receivers: ServerProcess[],
    ): Promise<RecoveryPhase> => {
      const before = await collectStats(subs);
      const replayedBefore = sum(
        await Promise.all(
          receivers.map(async (s) => ({ n: await metric(s, 'relay_replayed_packets_total') })),
        ),
        'n',
      );
      const relayCpuBefore = await cpu(receivers.map((s) => s.pid));
      const generatorCpuBefore = await cpu(generators);
      await Promise.all(subs.map((w) => w.request({ cmd: 'reconnect-times' })));
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
          const servers = await Promise.all(
            receivers.map(async (r) => {
              const [lag = 0, sockets, opened, dropped] = await metrics(r, [
                'relay_process_nodejs_eventloop_lag_p99_seconds',
                'relay_connections',
                'relay_connections_opened_total',
                'relay_slow_consumers_dropped_total',
              ]).catch(() => [0, 0, 0, 0]);
              return `${sockets} sockets (${opened} opened, ${dropped} slow dropped), loop lag p99 ${Math.round(lag * 1000)} ms`;
            }),
          );
          progress(
            `    t+${((now() - t0) / 1000).toFixed(1)} s: ${s.connected} connected, ` +
              `${s.reconnects - before.reconnects} back, ${s.reconnectErrors - before.reconnectErrors} failed attempts; ` +
              `receivers: ${servers.join('; ')}`,
          );
        }
      } while (
        (s.reconnects === before.reconnects || (s.onUrl[victim] ?? 0) > 0 || s.pending > 0) &&
        Date.now() < deadline
      );
      const seconds = Math.max(0.001, (s.lastReconnectAt - t0) / 1000);
      const relayCpuAfter = await cpu(receivers.map((r) => r.pid));
      const generatorCpuAfter = await cpu(generators);
      const elapsed = (now() - t0) / 1000;
      const percent = (after: number[], before: number[]) =>
        Math.round((100 * after.reduce((acc, v, i) => acc + v - (before[i] ?? 0), 0)) / elapsed);
      const replayed =
        sum(
          await Promise.all(
            receivers.map(async (r) => ({ n: await metric(r, 'relay_replayed_packets_total') })),
          ),
          'n',
        ) - replayedBefore;
      const times = (await Promise.all(subs.map((w) => w.request({ cmd: 'reconnect-times' }))))
        .flatMap((r) => r.times as number[])
        .sort((x, y) => x - y);
      const serverFailures: Record<string, number> = {};
      for (const server of receivers) {
        const byReason = await metricBy(server, 'relay_recovery_failures_total', 'reason').catch(() => ({}));
        for (const [reason, n] of Object.entries(byReason))
          serverFailures[reason] = (serverFailures[reason] ?? 0) + n;
      }
      const result: RecoveryPhase = {
        secondsToRecoverAll: Math.round(seconds * 100) / 100,
        recovered: s.recovered - before.recovered,
        notRecovered: s.notRecovered - before.notRecovered,
        stillDisconnected: k - s.connected,
        reconnectMs: { p50: quantile(times, 0.5), p99: quantile(times, 0.99), max: quantile(times, 1) },
        replayedPackets: replayed,
        replayedPerSecond: Math.round(replayed / seconds),
        relayCpuPercent: percent(relayCpuAfter, relayCpuBefore),
        loadGeneratorCpuPercent: percent(generatorCpuAfter, generatorCpuBefore),
        serverFailures,
      };
      if (process.env.BENCH_TRACE) traceWarnings(receivers);
      progress(
        `  ${what} ${target.key} at ${plan.publishRate}/s: ${result.recovered}/${k} recovered, ${result.notRecovered} not, ` +
          `${result.stillDisconnected} disconnected, all back in ${result.secondsToRecoverAll} s ` +
          `(per client p50 ${result.reconnectMs.p50} ms, p99 ${result.reconnectMs.p99} ms), ` +
          `${result.replayedPackets} replayed (${result.replayedPerSecond}/s), relay CPU ${result.relayCpuPercent} %, ` +
          `load generators ${result.loadGeneratorCpuPercent} %, server failures ${JSON.stringify(serverFailures)}`,
      );
      return result;
    };
    const kill = await phase('kill -9', 0, () => void a.kill('SIGKILL'), [b, c]);
    await sleep(1000);
    const drain = await phase('drain', 1, () => void b.child.kill('SIGTERM'), [c]);
    await sleep(1000);

    await publisher.request({ cmd: 'stop-publish' });
    const sent = await pub;
    const expected = Number(sent.nextSeq ?? 0);
    // An overloaded relay may still be delivering its backlog: count once nothing has arrived for 2 s.
    const report = () => Promise.all(subs.map((w) => w.request({ cmd: 'seq-report', expected })));
    let reports = await report();
    const settleBy = Date.now() + 30_000;
    for (let quiet = 0; quiet < 4 && Date.now() < settleBy; ) {
      await sleep(500);
      const next = await report();
      const missing = (r: typeof next) => sum(r, 'lost') + sum(r, 'missingWhileDisconnected');
      quiet = missing(next) === missing(reports) ? quiet + 1 : 0;
      reports = next;
    }
    const result: RecoveryResult = {
      clients: k,
      publishRate: plan.publishRate,
      recovered: Math.min(kill.recovered, drain.recovered),
      lost: sum(reports, 'lost'),
      missingWhileDisconnected: sum(reports, 'missingWhileDisconnected'),
      duplicated: sum(reports, 'duplicated'),
      outOfOrder: sum(reports, 'outOfOrder'),
      clientsWithLoss: sum(reports, 'clientsWithLoss'),
      secondsToRecoverAll: Math.max(kill.secondsToRecoverAll, drain.secondsToRecoverAll),
      published: expected,
      publishFailed: Number(sent.failed ?? 0),
      kill,
      drain,
    };
    progress(
      `  recovery ${target.key} at ${plan.publishRate}/s: ${result.lost} lost, ${result.duplicated} duplicated, ` +
        `${result.missingWhileDisconnected} missing at clients still disconnected, ` +
        `${result.outOfOrder} out of order of ${expected} × ${k}`,
    );
    return result;
  } finally {
    await stopWorkers([...subs, publisher]);
    await cluster.stop();
  }
}
