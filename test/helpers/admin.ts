import assert from 'node:assert/strict';
import type { RelayProcess } from './relay.js';

/** `POST /v1/publish` on a relay's admin port; asserts the 202. */
export async function adminPublish(relay: RelayProcess, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${relay.adminUrl}/v1/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 202, `publish answered ${res.status}: ${await res.text()}`);
}

/** The sum of a Prometheus metric's series that carry all of `labels` (0 when there is none). */
export async function metric(
  relay: RelayProcess,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${relay.adminUrl}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (wanted.every((pair) => line.includes(pair))) total += Number(line.split(' ').pop());
  }
  return total;
}
