import { ConfigError } from '../errors.js';
import { type Command, parseCommandLine } from './cli.js';
import { readConfigFile } from './file.js';
import { defaultNamespaces } from './namespaces.js';
import { type RelayConfig, type Setting, settingOf, settings } from './schema.js';
import { field } from './values.js';

export { type Command, usage } from './cli.js';

export interface LoadInput {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
}

export interface Loaded {
  command: Command;
  config: RelayConfig;
}

/**
 * Builds the one validated, frozen config: flags win over env, env over the config file, the file over
 * defaults. An empty env variable counts as unset. Throws ConfigError naming the first bad setting.
 */
export function loadConfig(input: LoadInput): Loaded {
  const { command, flags } = parseCommandLine(input.argv);
  const env = new Map<Setting, string>();
  for (const s of settings) {
    const raw = input.env[s.env];
    if (raw !== undefined && raw !== '') env.set(s, raw);
  }

  const path = flags.get(settingOf.configFile) ?? env.get(settingOf.configFile);
  const file = path === undefined ? undefined : readConfigFile(path);
  const values = new Map(file?.values);
  for (const [s, raw] of env) values.set(s.key, field(s.env, s.parse, raw));
  for (const [s, raw] of flags) values.set(s.key, field(s.flag, s.parse, raw));

  const config: Record<string, unknown> = {};
  for (const s of settings) config[s.key] = values.has(s.key) ? values.get(s.key) : s.defaultValue();
  config.namespaces = Object.freeze(file?.namespaces ?? defaultNamespaces);
  checkCombinations(config as RelayConfig);
  return { command, config: Object.freeze(config) as RelayConfig };
}

/** Cluster mode: Redis reached by URL, through Sentinel, or as a Redis Cluster. */
export function usesRedis(config: RelayConfig): boolean {
  return (
    config.redisUrl !== undefined || config.redisSentinel !== undefined || config.redisCluster !== undefined
  );
}

/** Addresses only this machine can reach. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
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
    // Its default is `sub`: another claim only means something when tokens are verified.
    ['--jwt-user-claim', config.jwtUserClaim === 'sub' ? undefined : config.jwtUserClaim],
  ]) {
    if (value !== undefined && !verifies) {
      throw new ConfigError(flag as string, 'expected together with --jwt-secret or --jwt-jwks-url');
    }
  }
}
