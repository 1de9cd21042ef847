import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { parseCommandLine } from '../../src/config/cli.js';
import { loadConfig, usage } from '../../src/config/load.js';
import { setting, settingOf, settings } from '../../src/config/schema.js';
import { integer, optional } from '../../src/config/values.js';
import { ConfigError } from '../../src/errors.js';

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

describe('settings declared once', () => {
  test('every setting has a key, a flag, an env variable, a default and a doc, none shared', () => {
    for (const s of settings) {
      assert.match(s.key, /^[a-z][A-Za-z]+$/);
      assert.match(s.flag, /^--[a-z][a-z-]+$/, s.key);
      assert.match(s.env, /^[A-Z][A-Z_]+$/, s.key);
      assert.equal(typeof s.defaultValue, 'function', s.key);
      assert.ok(s.doc.length > 10, s.key);
      assert.equal(settingOf[s.key], s);
    }
    for (const field of ['key', 'flag', 'env'] as const) {
      assert.equal(new Set(settings.map((s) => s[field])).size, settings.length, `${field}s are unique`);
    }
  });

  test('every documented default fits its schema and reads back through its own parser', () => {
    for (const s of settings) {
      const value = s.defaultValue();
      if (value === undefined) continue;
      assert.ok(Value.Check(s.schema, value), `${s.key} default ${JSON.stringify(value)}`);
      assert.deepEqual(s.parse(value), value, s.key);
    }
  });

  test('--help shows each default, or "unset"', () => {
    const lines = usage().split('\n');
    const line = (flag: string) => lines.find((l) => l.trimStart().startsWith(`${flag} `)) ?? '';
    assert.match(line('--port'), /RELAY_PORT\s+3000\s/);
    assert.match(line('--redis-url'), /REDIS_URL\s+unset\s/);
    assert.match(line('--instance-id'), /hostname-pid/);
  });

  test('a declaration is checked against its own type', () => {
    const kind = integer(1, 10, 'a count');
    setting({ flag: '--count', env: 'COUNT', ...kind, default: 5, doc: 'a count' });
    setting({ flag: '--limit', env: 'LIMIT', ...optional(kind), doc: 'unset: no limit' });
    // @ts-expect-error a required setting needs its default
    setting({ flag: '--count', env: 'COUNT', ...kind, doc: 'a count' });
    // @ts-expect-error the default must have the setting's type
    setting({ flag: '--count', env: 'COUNT', ...kind, default: 'five', doc: 'a count' });
    // @ts-expect-error an optional setting is unset by default
    setting({ flag: '--limit', env: 'LIMIT', ...optional(kind), default: 5, doc: 'unset: no limit' });
    // @ts-expect-error flags start with --
    setting({ flag: 'count', env: 'COUNT', ...kind, default: 5, doc: 'a count' });
  });
});

describe('command line', () => {
  const flags = (argv: string[]) =>
    Object.fromEntries([...parseCommandLine(argv).flags].map(([s, raw]) => [s.key, raw]));

  test('reads --flag value and --flag=value; the last of a repeated flag wins', () => {
    assert.deepEqual(flags(['start', '--port', '4001', '--host=::', '--port=4002']), {
      port: '4002',
      host: '::',
    });
    assert.deepEqual(flags(['--cors-origin=https://a.example,https://b.example']), {
      corsOrigin: 'https://a.example,https://b.example',
    });
    // A value may start with one dash (parseArgs in strict mode would refuse it).
    assert.deepEqual(flags(['--instance-id', '-edge-1']), { instanceId: '-edge-1' });
  });

  test('start is the default command; help, --help and -h ask for usage', () => {
    assert.equal(parseCommandLine([]).command, 'start');
    assert.equal(parseCommandLine(['--port', '1']).command, 'start');
    for (const argv of [['help'], ['--help'], ['-h'], ['start', '--help'], ['--port', '1', '-h']]) {
      assert.equal(parseCommandLine(argv).command, 'help', argv.join(' '));
    }
    assert.match(
      message(() => loadConfig({ argv: ['--help', '--port', 'abc'], env: {} })),
      /^--port: expected a port/,
    );
  });

  test('refuses missing values, unknown flags and stray arguments, naming them', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--port'], /^--port: expected a value after the flag$/],
      [['--port', '--host', '::'], /^--port: expected a value after the flag$/],
      [['--nope=1'], /^--nope: unknown flag \(see edge-relay --help\)$/],
      [['-x'], /^-x: unknown flag/],
      [['start', '--', '--port', '1'], /^--: unknown flag/],
      [['start', 'start'], /^start: unexpected argument \(expected flags after "start"\)$/],
      [['help', 'start'], /^start: unexpected argument/],
      [['run'], /^run: unknown command \(expected "start"\)$/],
    ];
    for (const [argv, expected] of cases) {
      assert.match(
        message(() => parseCommandLine(argv)),
        expected,
        argv.join(' '),
      );
    }
    assert.match(
      message(() => loadConfig({ argv: ['--port='], env: {} })),
      /^--port: expected a port \(an integer from 0 to 65535\), got ""$/,
    );
  });
});

describe('sources', () => {
  test('an empty env variable counts as unset', () => {
    const { config } = loadConfig({ argv: [], env: { RELAY_PORT: '', RELAY_CONFIG: '', REDIS_URL: '' } });
    assert.equal(config.port, 3000);
    assert.equal(config.configFile, undefined);
    assert.equal(config.redisUrl, undefined);
  });

  test('env gives lists as comma-separated text; files as lists or text, numbers as numbers or digits', () => {
    const env = { RELAY_REDIS_CLUSTER: '10.0.0.1:7000, [::1]:7001', RELAY_MAX_PAYLOAD: ' 2048 ' };
    const fromEnv = loadConfig({ argv: [], env }).config;
    assert.deepEqual(fromEnv.redisCluster, [
      { host: '10.0.0.1', port: 7000 },
      { host: '::1', port: 7001 },
    ]);
    assert.equal(fromEnv.maxPayload, 2048);
    const path = join(tmpdir(), `relay-settings-${process.pid}.yaml`);
    writeFileSync(
      path,
      'corsOrigin: [https://a.example]\nadminAllowedHosts: Admin.internal\nrateLimit: "50"\n',
    );
    const fromFile = loadConfig({ argv: ['--config', path], env: {} }).config;
    assert.deepEqual(fromFile.corsOrigin, ['https://a.example']);
    assert.deepEqual(fromFile.adminAllowedHosts, ['admin.internal']);
    assert.equal(fromFile.rateLimit, 50);
    assert.ok(Object.isFrozen(fromFile.corsOrigin));
    writeFileSync(path, 'rateLimit: 2.5\n');
    assert.match(
      message(() => loadConfig({ argv: ['--config', path], env: {} })),
      /^rateLimit \(in .*\): expected events per second \(an integer from 1 to 1000000\), got 2.5$/,
    );
    writeFileSync(path, 'configFile: other.yaml\n');
    assert.match(
      message(() => loadConfig({ argv: ['--config', path], env: {} })),
      /^configFile \(in .*\): unknown key in config file$/,
    );
  });

  test('errors never echo a secret or a URL that may carry a password', () => {
    const secret = message(() => loadConfig({ argv: ['--jwt-secret', 'hunter2'], env: {} }));
    assert.equal(secret, '--jwt-secret: expected a secret of at least 16 characters');
    const url = message(() => loadConfig({ argv: [], env: { REDIS_URL: 'http://u:hunter2@x' } }));
    assert.equal(url, 'REDIS_URL: expected a redis:// or rediss:// URL, got the scheme "http:"');
  });
});
