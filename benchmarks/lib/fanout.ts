// The runner's side of fanout-probe.mjs: collects (and resets) the servers' publish → fan-out histograms.
import { Histogram } from './histogram.js';
import { type ServerProcess, sleep } from './servers.js';

/** Samples since the last call, merged over `servers`; a server that does not answer in 2 s adds none. */
export async function collectFanout(servers: ServerProcess[]): Promise<Histogram> {
  const merged = new Histogram();
  await Promise.all(
    servers.map(async (server) => {
      const seen = server.logs.filter((l) => l.msg === 'bench-fanout').length;
      if (!server.child.kill('SIGUSR1')) return;
      for (let waited = 0; waited < 2000; waited += 20) {
        const lines = server.logs.filter((l) => l.msg === 'bench-fanout');
        if (lines.length > seen) {
          merged.merge(new Histogram(lines[lines.length - 1]?.counts as number[]));
          return;
        }
        await sleep(20);
      }
    }),
  );
  return merged;
}
