// The packaging in infra/, read as files: every YAML file parses, the Kubernetes manifests and the compose
// file agree with each other and with the relay's drain contract, and the load-balancer templates render
// what the relay needs. test/e2e/infra.test.ts runs `haproxy -c`, `nginx -t` and the render.mjs CLI.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { type Backend, renderConfig } from '../../infra/render.mjs';
import { NODE_FLAGS } from '../helpers/relay.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const INFRA = join(ROOT, 'infra');

// Loose shapes: the tests below check what they read.
// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, checked field by field
type Doc = Record<string, any>;

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry.name) ? [path] : [];
  });
}

/** Every document of a YAML file; merge keys (`<<:`) on, as Docker Compose reads them. */
function load(path: string): Doc[] {
  return parseAllDocuments(readFileSync(path, 'utf8'), { merge: true }).map((doc) => {
    assert.deepEqual(doc.errors, [], `${relative(ROOT, path)} parses`);
    return doc.toJS() as Doc;
  });
}

function manifest(file: string, kind: string): Doc {
  const found = load(join(INFRA, 'k8s', file)).filter((doc) => doc?.kind === kind);
  assert.equal(found.length, 1, `${file} holds one ${kind}`);
  return found[0] as Doc;
}

/** Docker duration ("40s", "1m30s") in seconds. */
function seconds(duration: string): number {
  const parts = [...String(duration).matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us)/g)];
  assert.ok(parts.length > 0, `duration ${duration}`);
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 0.000001 };
  return parts.reduce((sum, [, n, u]) => sum + Number(n) * (unit[u as string] as number), 0);
}

function envOf(container: Doc): Map<string, Doc> {
  return new Map((container.env as Doc[]).map((e) => [e.name as string, e]));
}

describe('infra/ YAML', () => {
  test('every YAML file under infra/ parses', () => {
    const files = yamlFiles(INFRA);
    assert.ok(files.length >= 6, `found ${files.map((f) => relative(ROOT, f)).join(', ')}`);
    for (const file of files) assert.ok(load(file).length > 0, `${relative(ROOT, file)} has a document`);
  });

  test('Kubernetes: probes, drain timing, instance id, secrets, security context', () => {
    const deployment = manifest('deployment.yaml', 'Deployment');
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers as Doc[];
    assert.ok(container);
    const ports = new Map(
      (container.ports as Doc[]).map((p) => [p.name as string, p.containerPort as number]),
    );
    const env = envOf(container);
    const portOf = (ref: string | number) => (typeof ref === 'number' ? ref : ports.get(ref));

    // Probes on the admin port: readiness follows /readyz (drain, Redis), liveness only /healthz.
    assert.equal(Number(env.get('RELAY_ADMIN_PORT')?.value), ports.get('admin'));
    assert.equal(Number(env.get('RELAY_PORT')?.value), ports.get('http'));
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.equal(portOf(container.readinessProbe.httpGet.port), ports.get('admin'));
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    assert.equal(portOf(container.livenessProbe.httpGet.port), ports.get('admin'));

    // The grace period covers preStop plus the whole drain.
    const drainSeconds = Number(env.get('RELAY_DRAIN_TIMEOUT_MS')?.value) / 1000;
    const preStop = container.lifecycle.preStop.exec.command as string[];
    assert.equal(preStop[0], 'sleep');
    const preStopSeconds = Number(preStop[1]);
    assert.ok(preStopSeconds >= 2, 'preStop leaves time for endpoints to update');
    assert.ok(
      pod.terminationGracePeriodSeconds > preStopSeconds + drainSeconds,
      `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} > preStop ${preStopSeconds} + drain ${drainSeconds}`,
    );
    assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);

    assert.equal(env.get('RELAY_INSTANCE_ID')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
    const secret = manifest('secret.example.yaml', 'Secret');
    for (const name of ['REDIS_URL', 'RELAY_ADMIN_TOKEN']) {
      const ref = env.get(name)?.valueFrom?.secretKeyRef;
      assert.equal(ref?.name, secret.metadata.name, `${name} comes from the Secret`);
      assert.ok(ref.key in secret.stringData, `the example Secret has ${ref.key}`);
    }

    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    assert.ok(container.resources.requests.cpu && container.resources.limits.memory);
  });

  test('Kubernetes: Service, PDB and HPA select the Deployment', () => {
    const deployment = manifest('deployment.yaml', 'Deployment');
    const podLabels = deployment.spec.template.metadata.labels as Record<string, string>;
    const matches = (selector: Record<string, string>) =>
      Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => podLabels[k] === v);
    assert.ok(matches(deployment.spec.selector.matchLabels), 'the Deployment selects its own pods');

    const service = manifest('service.yaml', 'Service');
    assert.ok(matches(service.spec.selector), 'Service selector matches the pod labels');
    assert.equal(service.spec.sessionAffinity, 'ClientIP');
    const container = (deployment.spec.template.spec.containers as Doc[])[0] as Doc;
    const portNames = (container.ports as Doc[]).map((p) => p.name);
    assert.deepEqual(
      (service.spec.ports as Doc[]).map((p) => p.targetPort),
      ['http'],
      'only the public port is exposed',
    );
    assert.ok(portNames.includes('http'));

    const pdb = manifest('pdb.yaml', 'PodDisruptionBudget');
    assert.ok(matches(pdb.spec.selector.matchLabels), 'PDB selector matches the pod labels');
    const hpa = manifest('hpa.yaml', 'HorizontalPodAutoscaler');
    assert.equal(hpa.spec.scaleTargetRef.kind, 'Deployment');
    assert.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name);
    assert.ok(hpa.spec.minReplicas > pdb.spec.maxUnavailable, 'the PDB never allows every pod down');
    assert.ok(deployment.spec.replicas >= hpa.spec.minReplicas);
  });

  test('compose: Redis, 3 relays from the repository Dockerfile, HAProxy with the rendered config', () => {
    const [compose] = load(join(INFRA, 'compose.yaml'));
    const services = compose?.services as Record<string, Doc>;
    const relays = Object.entries(services).filter(([, s]) => s.build);
    assert.equal(relays.length, 3, `3 relays: ${relays.map(([name]) => name).join(', ')}`);
    const ids = new Set<string>();
    const redisService = Object.keys(services).find((name) =>
      String(services[name]?.image).startsWith('redis'),
    );
    assert.ok(redisService, 'a Redis service');
    for (const [name, relay] of relays) {
      const context = resolve(INFRA, relay.build.context);
      assert.equal(context, ROOT.replace(/\/$/, ''), `${name} builds the repository`);
      assert.ok(existsSync(join(context, relay.build.dockerfile)), `${name}: the Dockerfile exists`);
      const env = relay.environment as Record<string, string>;
      ids.add(env.RELAY_INSTANCE_ID as string);
      assert.equal(new URL(env.REDIS_URL as string).hostname, redisService, `${name} uses the Redis service`);
      assert.ok(env.RELAY_ADMIN_TOKEN, `${name} sets an admin token`);
      assert.ok(
        seconds(relay.stop_grace_period) > Number(env.RELAY_DRAIN_TIMEOUT_MS) / 1000,
        `${name}: stop_grace_period ${relay.stop_grace_period} > drain timeout`,
      );
      assert.ok(relay.depends_on[redisService]);
    }
    assert.equal(ids.size, 3, 'distinct RELAY_INSTANCE_IDs');

    // HAProxy mounts the committed rendering of the template for exactly these relays.
    const haproxy = Object.values(services).find((s) => String(s.image).startsWith('haproxy'));
    assert.ok(haproxy, 'an HAProxy service');
    const mount = (haproxy.volumes as string[]).find((v) => v.endsWith(':ro') && v.includes('haproxy.cfg'));
    assert.ok(mount, 'the config is mounted read-only');
    const configPath = resolve(INFRA, mount.split(':')[0] as string);
    const backends: Backend[] = relays.map(([name]) => ({ name, host: name, port: 3000, adminPort: 9100 }));
    assert.equal(
      readFileSync(configPath, 'utf8'),
      renderConfig('haproxy', { backends, listen: '0.0.0.0:8080', resolver: '127.0.0.11:53' }),
      `${relative(ROOT, configPath)} is up to date with the template (re-render it: see infra/compose.yaml)`,
    );
    const published = (haproxy.ports as string[]).map((p) => p.split(':').at(-1));
    assert.ok(published.includes('8080'), 'HAProxy publishes the port it listens on');
  });
});

describe('load balancer templates', () => {
  const backends: Backend[] = [
    { name: 'relay-1', host: '127.0.0.1', port: 3001, adminPort: 9101 },
    { name: 'relay-2', host: '127.0.0.1', port: 3002, adminPort: 9102 },
    { name: 'relay-3', host: '127.0.0.1', port: 3003, adminPort: 9103 },
  ];

  test('haproxy: WebSocket, stickiness and /readyz checks on each admin port', () => {
    const text = renderConfig('haproxy', { backends, listen: '127.0.0.1:18080', statsSocket: '/tmp/x' });
    assert.match(text, /^\s*cookie SERVERID insert indirect nocache/m);
    assert.match(text, /^\s*option httpchk GET \/readyz$/m);
    assert.match(text, /^\s*timeout tunnel (\d+)s$/m);
    const tunnel = Number(/^\s*timeout tunnel (\d+)s$/m.exec(text)?.[1]);
    assert.ok(tunnel > 25 + 20, 'tunnel timeout above pingInterval + pingTimeout');
    for (const b of backends) {
      assert.match(
        text,
        new RegExp(`server ${b.name} ${b.host}:${b.port} cookie ${b.name} port ${b.adminPort}`),
      );
    }
    assert.doesNotMatch(
      text,
      /^[^#]*shutdown-sessions/m,
      'a draining server keeps its tunnels until it closes them',
    );
  });

  test('nginx: WebSocket upgrade, full-address hash, timeouts', () => {
    const text = renderConfig('nginx', { backends, listen: '127.0.0.1:18080' });
    assert.match(text, /proxy_http_version 1\.1;/);
    assert.match(text, /proxy_set_header Upgrade \$http_upgrade;/);
    assert.match(text, /proxy_set_header Connection \$connection_upgrade;/);
    assert.match(text, /^\s*hash \$remote_addr consistent;$/m);
    assert.doesNotMatch(text, /^\s*ip_hash;/m, 'ip_hash would pin a whole /24 to one relay');
    const read = Number(/proxy_read_timeout (\d+)s;/.exec(text)?.[1]);
    assert.ok(read > 25 + 20, 'read timeout above pingInterval + pingTimeout');
  });
});

test('the relay command, the Dockerfile and the test launchers give Node the same flags', () => {
  const [shebang] = readFileSync(join(ROOT, 'bin', 'edge-relay.js'), 'utf8').split('\n');
  assert.equal(shebang, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
  const entrypoint = /^ENTRYPOINT (.*)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
  assert.deepEqual(JSON.parse(entrypoint ?? '[]'), ['node', ...NODE_FLAGS, 'bin/edge-relay.js']);
});
