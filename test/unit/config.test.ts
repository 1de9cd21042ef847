import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig, usage } from '../../src/config/load.js';
import { settings } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';

function file(name: string, text: string): string {
  const path = join(tmpdir(), `relay-config-${process.pid}-${name}`);
  writeFileSync(path, text);
  return path;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    assert.equal(err.code, 'RLY_ERR_CONFIG');
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('config loading', () => {
  test('embedded defaults', () => {
    const { command, config } = loadConfig({ argv: ['start'], env: {} });
    assert.equal(command, 'start');
    assert.equal(config.port, 3000);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.adminPort, 9100);
    assert.equal(config.adminHost, '127.0.0.1');
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.transport, 'uws');
    assert.equal(config.instanceId, `${hostname()}-${process.pid}`);
    assert.equal(config.recoveryWindowMs, 120_000);
    assert.equal(config.drainTimeoutMs, 30_000);
    assert.equal(config.adminToken, undefined);
    assert.equal(config.drainRate, undefined);
    assert.equal(config.recoveryMaxEntries, 1_000_000);
    assert.deepEqual(config.namespaces, { '/': { join: ['*'], publish: ['*'], presence: [] } });
    assert.ok(Object.isFrozen(config));
  });

  test('flag beats env beats file beats default', () => {
    const path = file(
      'precedence.yaml',
      'port: 4001\nadminPort: 9201\ntransport: ws\ndrainTimeoutMs: 1234\n',
    );
    const env = { RELAY_PORT: '4002', RELAY_ADMIN_PORT: '9202' };
    const { config } = loadConfig({ argv: ['start', '--config', path, '--port=4003'], env });
    assert.equal(config.port, 4003, 'flag');
    assert.equal(config.adminPort, 9202, 'env');
    assert.equal(config.transport, 'ws', 'file');
    assert.equal(config.drainTimeoutMs, 1234, 'file');
    assert.equal(config.recoveryWindowMs, 120_000, 'default');
    assert.equal(loadConfig({ argv: [], env: { RELAY_CONFIG: path } }).config.port, 4001, 'RELAY_CONFIG');
  });

  test('every setting has a flag and an env var, and --help lists them', () => {
    const text = usage();
    const keys = Object.keys(loadConfig({ argv: [], env: {} }).config).filter((k) => k !== 'namespaces');
    assert.deepEqual(
      keys,
      settings.map((s) => s.key),
    );
    for (const s of settings) {
      assert.match(s.flag, /^--[a-z-]+$/);
      assert.match(s.env, /^[A-Z_]+$/);
      assert.ok(text.includes(s.flag) && text.includes(s.env), s.flag);
    }
  });

  test('JSON config with namespace policies', () => {
    const path = file(
      'policies.json',
      JSON.stringify({ redisUrl: 'redis://127.0.0.1:6390', namespaces: { '/app': { join: ['a:*'] } } }),
    );
    const { config } = loadConfig({ argv: ['--config', path], env: {} });
    assert.equal(config.redisUrl, 'redis://127.0.0.1:6390');
    assert.deepEqual(config.namespaces, { '/app': { join: ['a:*'], publish: [], presence: [] } });
  });

  const bad: Array<[string, string[], Record<string, string>, RegExp]> = [
    ['non-numeric port', ['--port', 'abc'], {}, /^--port: expected a port/],
    ['port out of range', ['--admin-port', '70000'], {}, /^--admin-port: expected a port from 0 to 65535/],
    ['unknown flag', ['--nope', '1'], {}, /^--nope: unknown flag/],
    ['missing value', ['--port'], {}, /^--port: expected a value/],
    ['unknown transport', ['--transport', 'tcp'], {}, /^--transport: expected "uws" or "ws"/],
    ['bad env value', [], { RELAY_TRANSPORT: 'quic' }, /^RELAY_TRANSPORT: expected "uws" or "ws"/],
    [
      'redis scheme',
      ['--redis-url', 'http://x'],
      {},
      /^--redis-url: expected a redis:\/\/ or rediss:\/\/ URL/,
    ],
    ['zero duration', ['--drain-timeout', '0'], {}, /^--drain-timeout: expected a duration/],
    ['a stray argument', ['serve'], {}, /^serve: unexpected argument/],
    [
      'missing file',
      ['--config', '/nonexistent/relay.yaml'],
      {},
      /^--config: expected a readable JSON or YAML file/,
    ],
    ['bad instance id', ['--instance-id', 'a b'], {}, /^--instance-id: expected 1-128 characters/],
  ];
  for (const [name, argv, env, message] of bad) {
    test(`rejects ${name}`, () => {
      assert.match(configError(() => loadConfig({ argv: ['start', ...argv], env })).message, message);
    });
  }

  test('refuses a non-loopback admin port without a token, and two JWT key sources', () => {
    const open = configError(() => loadConfig({ argv: ['--admin-host', '0.0.0.0'], env: {} }));
    assert.match(open.message, /^--admin-host: expected a loopback address unless --admin-token is set/);
    const withToken = loadConfig({ argv: ['--admin-host', '0.0.0.0', '--admin-token', 't0ken'], env: {} });
    assert.equal(withToken.config.adminHost, '0.0.0.0');
    assert.equal(loadConfig({ argv: ['--admin-host', '::1'], env: {} }).config.adminHost, '::1');
    const both = ['--jwt-secret', 'x'.repeat(16), '--jwt-jwks-url', 'https://id.example/jwks'];
    assert.match(
      configError(() => loadConfig({ argv: both, env: {} })).message,
      /^--jwt-jwks-url: expected either/,
    );
    assert.match(
      configError(() => loadConfig({ argv: ['--jwt-secret', 'short'], env: {} })).message,
      /^--jwt-secret: expected a secret of at least 16/,
    );
    assert.match(
      configError(() => loadConfig({ argv: ['--jwt-audience', 'relay'], env: {} })).message,
      /^--jwt-audience: expected together with --jwt-secret or --jwt-jwks-url/,
    );
    assert.equal(
      loadConfig({ argv: ['--jwt-secret', 'x'.repeat(16), '--jwt-issuer', 'https://id.example/'], env: {} })
        .config.jwtIssuer,
      'https://id.example/',
    );
    assert.equal(loadConfig({ argv: [], env: {} }).config.jwtUserClaim, 'sub');
    assert.equal(
      loadConfig({ argv: ['--jwt-secret', 'x'.repeat(16)], env: { RELAY_JWT_USER_CLAIM: 'email' } }).config
        .jwtUserClaim,
      'email',
    );
    assert.match(
      configError(() => loadConfig({ argv: ['--jwt-user-claim', 'email'], env: {} })).message,
      /^--jwt-user-claim: expected together with --jwt-secret or --jwt-jwks-url/,
    );
    assert.deepEqual(
      loadConfig({ argv: [], env: { RELAY_ADMIN_ALLOWED_HOSTS: 'Relay-Admin.internal, admin.example.com' } })
        .config.adminAllowedHosts,
      ['relay-admin.internal', 'admin.example.com'],
    );
    assert.deepEqual(loadConfig({ argv: [], env: {} }).config.adminAllowedHosts, []);
    assert.match(
      configError(() => loadConfig({ argv: ['--admin-allowed-hosts', 'admin.example.com:9100'], env: {} }))
        .message,
      /^--admin-allowed-hosts: expected host names such as relay-admin.internal \(no port\)/,
    );
    assert.match(
      configError(() => loadConfig({ argv: ['--cors-origin', 'evil.example'], env: {} })).message,
      /^--cors-origin: expected origins/,
    );
    assert.deepEqual(
      loadConfig({ argv: ['--cors-origin', 'https://a.example, https://b.example'], env: {} }).config
        .corsOrigin,
      ['https://a.example', 'https://b.example'],
    );
  });

  test('rejects an unknown command', () => {
    assert.match(
      configError(() => loadConfig({ argv: ['serve'], env: {} })).message,
      /^serve: unknown command/,
    );
  });

  test('rejects bad config files, naming the key', () => {
    const unknownKey = file('unknown.yaml', 'prot: 3000\n');
    assert.match(
      configError(() => loadConfig({ argv: ['--config', unknownKey], env: {} })).message,
      /^prot \(in .*\): unknown key/,
    );
    const badValue = file('badvalue.yaml', 'port: nope\n');
    assert.match(
      configError(() => loadConfig({ argv: ['--config', badValue], env: {} })).message,
      /^port \(in .*\): expected a port/,
    );
    const badYaml = file('broken.yaml', 'port: [\n');
    assert.match(
      configError(() => loadConfig({ argv: ['--config', badYaml], env: {} })).message,
      /^--config: expected valid JSON or YAML/,
    );
    const badPolicy = file('policy.yaml', 'namespaces:\n  /app:\n    join: "*"\n');
    assert.match(
      configError(() => loadConfig({ argv: ['--config', badPolicy], env: {} })).message,
      /^namespaces\.\/app\.join: expected a list/,
    );
    const badNamespace = file('nsp.yaml', 'namespaces:\n  app: {}\n');
    assert.match(
      configError(() => loadConfig({ argv: ['--config', badNamespace], env: {} })).message,
      /^namespaces\.app: expected a namespace name/,
    );
  });

  test('reads Sentinel addresses, and wants the master name with them', () => {
    const { config } = loadConfig({
      argv: ['--redis-sentinel', '10.0.0.1:26379, sentinel-2:26380', '--redis-sentinel-name', 'relay'],
      env: {},
    });
    assert.deepEqual(config.redisSentinel, [
      { host: '10.0.0.1', port: 26379 },
      { host: 'sentinel-2', port: 26380 },
    ]);
    assert.equal(config.redisSentinelName, 'relay');
    assert.match(
      configError(() => loadConfig({ argv: ['--redis-sentinel', '10.0.0.1'], env: {} })).message,
      /^--redis-sentinel: expected host:port addresses/,
    );
    assert.match(
      configError(() => loadConfig({ argv: ['--redis-sentinel', '10.0.0.1:26379'], env: {} })).message,
      /^--redis-sentinel-name: expected --redis-sentinel and --redis-sentinel-name together/,
    );
  });

  test('reads Redis Cluster nodes and the stream count; refuses cluster and sentinel together', () => {
    const { config } = loadConfig({
      argv: ['--redis-cluster', '10.0.0.1:7000,10.0.0.2:7000', '--stream-count', '3'],
      env: {},
    });
    assert.deepEqual(config.redisCluster, [
      { host: '10.0.0.1', port: 7000 },
      { host: '10.0.0.2', port: 7000 },
    ]);
    assert.equal(config.streamCount, 3);
    assert.match(
      configError(() => loadConfig({ argv: ['--stream-count', '0'], env: {} })).message,
      /^--stream-count: expected a number of streams/,
    );
    assert.match(
      configError(() =>
        loadConfig({
          argv: ['--redis-cluster', 'a:1', '--redis-sentinel', 'b:2', '--redis-sentinel-name', 'm'],
          env: {},
        }),
      ).message,
      /^--redis-cluster: expected either --redis-cluster or --redis-sentinel, not both/,
    );
  });

  test('reads namespace upstreams with their defaults, and names the bad key', () => {
    const good = file(
      'upstreams.yaml',
      [
        'redisUrl: redis://127.0.0.1:6390',
        'namespaces:',
        '  /app:',
        '    join: ["*"]',
        '    upstream:',
        '      http: { url: "https://functions.example/relay", secret: "0123456789abcdef" }',
        '  /jobs:',
        '    upstream:',
        '      queue: {}',
        '      authorizeJoin: true',
        '',
      ].join('\n'),
    );
    const { config } = loadConfig({ argv: ['--config', good], env: {} });
    assert.deepEqual(config.namespaces['/app']?.upstream, {
      kind: 'http',
      url: 'https://functions.example/relay',
      secret: '0123456789abcdef',
      timeoutMs: 5000,
      concurrency: 64,
      authorizeJoin: false,
    });
    assert.deepEqual(config.namespaces['/jobs']?.upstream, {
      kind: 'queue',
      stream: 'relay:queue:/jobs',
      timeoutMs: 30000,
      maxLen: 100000,
      authorizeJoin: true,
    });
    const cases: Array<[string, RegExp]> = [
      [
        'upstream: { http: { url: "ftp://x", secret: "0123456789abcdef" } }',
        /^namespaces\.\/a\.upstream\.http\.url: expected an http/,
      ],
      [
        'upstream: { http: { url: "http://x", secret: "short" } }',
        /^namespaces\.\/a\.upstream\.http\.secret: expected a secret of at least 16/,
      ],
      [
        'upstream: { http: { url: "http://x", secret: "0123456789abcdef", timeoutMs: 0 } }',
        /^namespaces\.\/a\.upstream\.http\.timeoutMs: expected a timeout/,
      ],
      [
        'upstream: { http: { url: "http://x", secret: "0123456789abcdef" }, queue: {} }',
        /^namespaces\.\/a\.upstream: expected exactly one of http or queue/,
      ],
      ['upstream: { lambda: {} }', /^namespaces\.\/a\.upstream\.lambda: unknown key/],
      [
        'upstream: { queue: {}, authorizeJoin: "yes" }',
        /^namespaces\.\/a\.upstream\.authorizeJoin: expected true or false/,
      ],
      [
        'upstream: { queue: { stream: "" } }',
        /^namespaces\.\/a\.upstream\.queue\.stream: expected a non-empty/,
      ],
    ];
    for (const [line, message] of cases) {
      const bad = file(
        'bad-upstream.yaml',
        `redisUrl: redis://127.0.0.1:6390\nnamespaces:\n  /a:\n    ${line}\n`,
      );
      assert.match(configError(() => loadConfig({ argv: ['--config', bad], env: {} })).message, message);
    }
    const queueWithoutRedis = file(
      'queue-no-redis.yaml',
      'namespaces:\n  /a:\n    upstream: { queue: {} }\n',
    );
    assert.match(
      configError(() => loadConfig({ argv: ['--config', queueWithoutRedis], env: {} })).message,
      /^namespaces\.\/a\.upstream\.queue: a work queue needs --redis-url/,
    );
  });
});
