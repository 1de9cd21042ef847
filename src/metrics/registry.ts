import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** One Prometheus registry per relay, every metric name in one place. */
export function createMetrics(labels: { instanceId: string; transport: string }) {
  const registry = new Registry();
  registry.setDefaultLabels({ instance_id: labels.instanceId, transport: labels.transport });
  collectDefaultMetrics({ register: registry, prefix: 'relay_process_' });
  const metrics = {
    registry,
    connections: new Gauge({
      name: 'relay_connections',
      help: 'Socket.IO sockets connected to this instance',
      labelNames: ['namespace'],
      registers: [registry],
    }),
    connectionsOpened: new Counter({
      name: 'relay_connections_opened_total',
      help: 'Socket.IO sockets accepted',
      labelNames: ['namespace'],
      registers: [registry],
    }),
    eventsIn: new Counter({
      name: 'relay_events_in_total',
      help: 'Events received from clients, by built-in name (other: not a built-in)',
      labelNames: ['namespace', 'event'],
      registers: [registry],
    }),
    eventsOut: new Counter({
      name: 'relay_events_out_total',
      help: 'Acks sent back to clients, by outcome',
      labelNames: ['namespace', 'outcome'],
      registers: [registry],
    }),
    publishes: new Counter({
      name: 'relay_publishes_total',
      help: 'Publishes into the cluster, by source (client, admin, backend, presence)',
      labelNames: ['namespace', 'source'],
      registers: [registry],
    }),
    recoveries: new Counter({
      name: 'relay_recoveries_total',
      help: 'Reconnects that asked for connection state recovery, by result',
      labelNames: ['namespace', 'result'],
      registers: [registry],
    }),
    recoveryFailures: new Counter({
      name: 'relay_recovery_failures_total',
      help: 'Recoveries refused, by reason (session-missing, session-in-use, token-expired, offset-gone, offset-unknown, invalid-offset, replay-too-long, error)',
      labelNames: ['namespace', 'reason'],
      registers: [registry],
    }),
    replayedPackets: new Counter({
      name: 'relay_replayed_packets_total',
      help: 'Missed packets replayed to recovered sockets',
      labelNames: ['namespace'],
      registers: [registry],
    }),
    sessionWrites: new Counter({
      name: 'relay_session_writes_total',
      help: 'Session commands sent to Redis, by kind (save, persist, delete, put-back)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    streamTrims: new Counter({
      name: 'relay_stream_trimmed_entries_total',
      help: 'Stream entries removed, by cause (age: older than the recovery horizon; cap: the length cap)',
      labelNames: ['cause'],
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'relay_rate_limited_total',
      help: 'Client events refused by --rate-limit',
      labelNames: ['namespace'],
      registers: [registry],
    }),
    handshakesRefused: new Counter({
      name: 'relay_handshakes_refused_total',
      help: 'Handshakes refused by the admission gate (RLY_ERR_ADMISSION), by reason (draining, max-connections, origin, max-handshake-rate)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'relay_auth_failures_total',
      help: 'Handshakes refused and connections closed for a bad or expired JWT, by reason',
      labelNames: ['namespace', 'reason'],
      registers: [registry],
    }),
    slowConsumers: new Counter({
      name: 'relay_slow_consumers_dropped_total',
      help: 'Connections dropped for having more than --max-backpressure bytes queued, by Engine.IO transport',
      labelNames: ['engine'],
      registers: [registry],
    }),
    redisErrors: new Counter({
      name: 'relay_redis_errors_total',
      help: 'Errors reported by Redis clients',
      labelNames: ['client'],
      registers: [registry],
    }),
    upstreamCalls: new Counter({
      name: 'relay_upstream_calls_total',
      help: 'Calls to namespace backends, by kind (http, queue), type (connect, event, disconnect) and outcome (ok or an error code)',
      labelNames: ['namespace', 'kind', 'type', 'outcome'],
      registers: [registry],
    }),
    upstreamSeconds: new Histogram({
      name: 'relay_upstream_duration_seconds',
      help: 'Time from sending a call to a backend to its answer',
      labelNames: ['namespace', 'kind', 'type'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    upstreamCircuitOpen: new Gauge({
      name: 'relay_upstream_circuit_open',
      help: '1 while calls to the namespace backend are refused after repeated failures',
      labelNames: ['namespace'],
      registers: [registry],
    }),
    lostDisconnects: new Counter({
      name: 'relay_lost_instance_disconnects_total',
      help: 'Disconnects this instance sent to backends for sockets of lost instances',
      labelNames: ['namespace'],
      registers: [registry],
    }),
    draining: new Gauge({
      name: 'relay_draining',
      help: '1 while this instance drains',
      registers: [registry],
    }),
  };
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;
