// `npm run bench -- --compare URL[,URL...]`: the scenarios that need no control of the server, against any
// Socket.IO deployment. The target must serve Engine.IO v4 over WebSocket (path from the URL, default
// /socket.io/) on the default namespace, and answer the relay's client protocol: `join(room, ack)` and
// `publish({ room, event, data }, ack)` (delivering `event(data)` to every socket in the room), each acked
// with `{ ok: true }`. No auth token is sent.

import { listeningPid } from './lib/local-pid.js';
import type { Plan } from './lib/plans.js';
import { connectClients, MAX_SOCKETS_PER_WORKER, startWorkers, stopWorkers } from './lib/pool.js';
import { progress } from './lib/progress.js';
import { rssOf, sleep } from './lib/servers.js';
import { measureBroadcast } from './scenarios/broadcast.js';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

export class CompareUrlError extends Error {
  constructor(url: string) {
    super(`--compare needs http(s) URLs separated by commas, got ${JSON.stringify(url)}`);
    this.name = 'CompareUrlError';
  }
}

export function parseCompareUrls(list: string): string[] {
  const urls = list.split(',').filter(Boolean);
  if (urls.length === 0) throw new CompareUrlError(list);
  for (const url of urls) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new CompareUrlError(url);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CompareUrlError(url);
  }
  return urls;
}

/**
 * Runs idle-connections, room-broadcast (first URL) and, with several URLs, cross-instance; each result
 * under the key `target`, where a full run has `uws` and `ws`.
 */
export async function compare(urls: string[], plan: Plan): Promise<Record<string, Record<string, unknown>>> {
  const scenarios: Record<string, Record<string, unknown>> = {};
  progress(`compare: idle-connections against ${urls.join(', ')}`);
  scenarios['idle-connections'] = { target: await idle(urls, Math.max(...plan.idleSteps)) };
  progress(`compare: room-broadcast against ${urls[0]}`);
  scenarios['room-broadcast'] = { target: await measureBroadcast(urls.slice(0, 1), plan.roomBroadcast) };
  if (urls.length > 1) {
    progress(`compare: cross-instance over ${urls.length} URLs`);
    scenarios['cross-instance'] = {
      target: await measureBroadcast(urls, { ...plan.crossInstance, instances: urls.length }),
    };
  }
  return scenarios;
}

/**
 * Connect rate and failures for `count` idle clients spread over the URLs. Server RSS per connection only
 * for servers on this machine (found by their listening port), read without a forced GC, so it also
 * counts garbage not yet collected.
 */
async function idle(urls: string[], count: number): Promise<Record<string, unknown>> {
  const pids: Array<number | undefined> = [];
  for (const url of urls) {
    const u = new URL(url);
    const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    pids.push(LOOPBACK.test(u.hostname) ? await listeningPid(port) : undefined);
  }
  const local = pids.every((p) => p !== undefined) ? (pids as number[]) : undefined;
  const rss = async (list: number[]) => (await Promise.all(list.map(rssOf))).reduce((a, b) => a + b, 0);
  const before = local ? await rss(local) : 0;
  const workers = startWorkers(Math.max(2, Math.ceil(count / MAX_SOCKETS_PER_WORKER)));
  try {
    const c = await connectClients(workers, { urls, count, room: 'idle' });
    if (c.firstError) progress(`  first connect error: ${c.firstError}`);
    await sleep(1000);
    const after = local ? await rss(local) : 0;
    const result = {
      connections: c.connected,
      failed: c.failed,
      connectsPerSecond: Math.round(c.connected / (c.elapsedMs / 1000)),
      rssBytesPerConnection: local && c.connected > 0 ? Math.round((after - before) / c.connected) : null,
      serverPids: local ?? null,
    };
    progress(
      `  ${result.connections} connected, ${result.failed} failed, ${result.connectsPerSecond} connects/s, ` +
        (local ? `${result.rssBytesPerConnection} B RSS/conn (no forced GC)` : 'server RSS: not local'),
    );
    return result;
  } finally {
    await stopWorkers(workers);
  }
}
