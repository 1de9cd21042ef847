import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import { defaultNamespaces, type NamespacePolicy, parseNamespaces } from './namespaces.js';
import { isLoopback, type RelayConfig, settings } from './schema.js';

export type Command = 'start' | 'help';

export interface LoadInput {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
}

export interface Loaded {
  command: Command;
  config: RelayConfig;
}

const byFlag = new Map(settings.map((s) => [s.flag, s]));
const byKey = new Map(settings.map((s) => [s.key as string, s]));

/**
 * Builds the one validated, frozen config: flags win over env, env over the config file, the file over
 * defaults. Throws ConfigError naming the first bad setting.
 */
export function loadConfig(input: LoadInput): Loaded {
  const { command, flags } = parseArgv(input.argv);
  const values: Partial<Record<keyof RelayConfig, unknown>> = {};
  let namespaces: Record<string, NamespacePolicy> | undefined;

  const configFile = flags.get('configFile') ?? input.env.RELAY_CONFIG;
  if (configFile !== undefined) {
    const file = readConfigFile(configFile);
    namespaces = file.namespaces;
    Object.assign(values, file.values);
  }
  for (const s of settings) {
    const fromEnv = input.env[s.env];
    if (fromEnv !== undefined && fromEnv !== '') values[s.key] = parseWith(s.key, fromEnv, s.env);
  }
  for (const [key, raw] of flags) values[key] = parseWith(key, raw, byKey.get(key)?.flag ?? key);

  const config = {} as Record<string, unknown>;
  for (const s of settings) config[s.key] = s.key in values ? values[s.key] : s.defaultValue();
  config.namespaces = Object.freeze(namespaces ?? defaultNamespaces);
  checkCombinations(config as unknown as RelayConfig);
  return { command, config: Object.freeze(config) as unknown as RelayConfig };
}

/** Cluster mode: Redis reached by URL, or through Sentinel. */
export function usesRedis(config: RelayConfig): boolean {
  return (
    config.redisUrl !== undefined || config.redisSentinel !== undefined || config.redisCluster !== undefined
  );
}

/** Rules that span settings; each names the setting to change. */
function checkCombinations(config: RelayConfig): void {
  if (!isLoopback(config.adminHost) && config.adminToken === undefined) {
    throw new ConfigError(
      '--admin-host',
      `expected a loopback address unless --admin-token is set (the admin API publishes, disconnects and drains), got ${JSON.stringify(config.adminHost)}`,
    );
  }
  for (const [name, policy] of Object.entries(config.namespaces)) {
    if (policy.upstream?.kind === 'queue' && !usesRedis(config)) {
      throw new ConfigError(`namespaces.${name}.upstream.queue`, 'a work queue needs --redis-url');
    }
  }
  if (config.redisCluster !== undefined && config.redisSentinel !== undefined) {
    throw new ConfigError('--redis-cluster', 'expected either --redis-cluster or --redis-sentinel, not both');
  }
  if ((config.redisSentinel === undefined) !== (config.redisSentinelName === undefined)) {
    throw new ConfigError(
      config.redisSentinel === undefined ? '--redis-sentinel' : '--redis-sentinel-name',
      'expected --redis-sentinel and --redis-sentinel-name together',
    );
  }
  if (config.jwtSecret !== undefined && config.jwtJwksUrl !== undefined) {
    throw new ConfigError('--jwt-jwks-url', 'expected either --jwt-secret or --jwt-jwks-url, not both');
  }
  const verifies = config.jwtSecret !== undefined || config.jwtJwksUrl !== undefined;
  for (const [flag, value] of [
    ['--jwt-audience', config.jwtAudience],
    ['--jwt-issuer', config.jwtIssuer],
  ]) {
    if (value !== undefined && !verifies) {
      throw new ConfigError(flag as string, 'expected together with --jwt-secret or --jwt-jwks-url');
    }
  }
}

function parseWith(key: keyof RelayConfig, raw: unknown, label: string): unknown {
  const setting = byKey.get(key);
  if (!setting) throw new ConfigError(label, 'unknown setting');
  try {
    return setting.parse(raw);
  } catch (err) {
    throw new ConfigError(label, (err as Error).message);
  }
}

function parseArgv(argv: readonly string[]): { command: Command; flags: Map<keyof RelayConfig, string> } {
  const flags = new Map<keyof RelayConfig, string>();
  let command: Command | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h' || arg === 'help') {
      command = 'help';
      continue;
    }
    if (!arg.startsWith('--')) {
      if (command !== undefined)
        throw new ConfigError(arg, 'unexpected argument (expected flags after "start")');
      if (arg !== 'start') throw new ConfigError(arg, 'unknown command (expected "start")');
      command = 'start';
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const setting = byFlag.get(flag);
    if (!setting) throw new ConfigError(flag, 'unknown flag (see edge-relay --help)');
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined || (eq === -1 && value.startsWith('--'))) {
      throw new ConfigError(flag, 'expected a value after the flag');
    }
    flags.set(setting.key, value);
  }
  return { command: command ?? 'start', flags };
}

function readConfigFile(path: string): {
  values: Partial<Record<keyof RelayConfig, unknown>>;
  namespaces: Record<string, NamespacePolicy> | undefined;
} {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      '--config',
      `expected a readable JSON or YAML file, could not read ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(
      '--config',
      `expected valid JSON or YAML in ${JSON.stringify(path)}: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  if (doc === null || doc === undefined) doc = {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError('--config', `expected a mapping at the top of ${JSON.stringify(path)}`);
  }
  const values: Partial<Record<keyof RelayConfig, unknown>> = {};
  let namespaces: Record<string, NamespacePolicy> | undefined;
  for (const [key, raw] of Object.entries(doc as Record<string, unknown>)) {
    if (key === 'namespaces') {
      namespaces = parseNamespaces(raw);
      continue;
    }
    if (!byKey.has(key) || key === 'configFile') {
      throw new ConfigError(`${key} (in ${path})`, 'unknown key in config file');
    }
    values[key as keyof RelayConfig] = parseWith(key as keyof RelayConfig, raw, `${key} (in ${path})`);
  }
  return { values, namespaces };
}

/** The text of `edge-relay --help`, generated from the settings table. */
export function usage(): string {
  const lines = ['Usage: edge-relay start [flags]', '', 'Flags (flag > env > config file > default):'];
  for (const s of settings) {
    const def = s.defaultValue();
    const shown = s.key === 'instanceId' ? 'hostname-pid' : def === undefined ? 'unset' : String(def);
    lines.push(`  ${s.flag.padEnd(18)} ${s.env.padEnd(26)} ${shown.padEnd(10)} ${s.doc}`);
  }
  return lines.join('\n');
}
