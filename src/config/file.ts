import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import { type NamespacePolicy, parseNamespaces } from './namespaces.js';
import { type SettingKey, settings } from './schema.js';
import { field } from './values.js';

/** What a config file sets: settings by key, and the namespace policies when it has them. */
export interface ConfigFile {
  values: Map<SettingKey, unknown>;
  namespaces: Record<string, NamespacePolicy> | undefined;
}

/** Reads and validates a JSON or YAML config file; errors name the file key (`port (in relay.yaml)`). */
export function readConfigFile(path: string): ConfigFile {
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
  const values = new Map<SettingKey, unknown>();
  let namespaces: Record<string, NamespacePolicy> | undefined;
  for (const [key, raw] of Object.entries(doc as Record<string, unknown>)) {
    if (key === 'namespaces') {
      namespaces = parseNamespaces(raw);
      continue;
    }
    const setting = settings.find((s) => s.key === key);
    // A file cannot name another file.
    if (setting === undefined || setting.key === 'configFile') {
      throw new ConfigError(`${key} (in ${path})`, 'unknown key in config file');
    }
    values.set(setting.key, field(`${key} (in ${path})`, setting.parse, raw));
  }
  return { values, namespaces };
}
