import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';
import { type Setting, settings } from './schema.js';

export type Command = 'start' | 'help';

const byName = new Map(settings.map((s) => [s.flag.slice(2), s]));
const options = {
  help: { type: 'boolean', short: 'h' },
  ...Object.fromEntries(settings.map((s) => [s.flag.slice(2), { type: 'string' } as const])),
} as const;

/**
 * Reads the command (`start`, default; `help`, `--help` or `-h`) and `--flag value` / `--flag=value`
 * pairs; a repeated flag's last value wins. Throws ConfigError naming the bad argument.
 */
export function parseCommandLine(argv: readonly string[]): {
  command: Command;
  flags: Map<Setting, string>;
} {
  // Not strict: parseArgs would refuse unknown flags and missing values in its own words; we name the flag.
  const { tokens } = parseArgs({
    args: [...argv],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const flags = new Map<Setting, string>();
  let command: Command | undefined;
  for (const token of tokens) {
    if (token.kind === 'positional') {
      if (token.value === 'help') command = 'help';
      else if (command !== undefined) {
        throw new ConfigError(token.value, 'unexpected argument (expected flags after "start")');
      } else if (token.value !== 'start')
        throw new ConfigError(token.value, 'unknown command (expected "start")');
      else command = 'start';
      continue;
    }
    // `--` would turn the flags after it into stray arguments: refuse it as the flag it looks like.
    if (token.kind === 'option-terminator')
      throw new ConfigError('--', 'unknown flag (see edge-relay --help)');
    if (token.name === 'help') {
      command = 'help';
      continue;
    }
    const setting = byName.get(token.name);
    if (setting === undefined) throw new ConfigError(token.rawName, 'unknown flag (see edge-relay --help)');
    // parseArgs takes the next argument as the value even when it is the next flag.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) {
      throw new ConfigError(token.rawName, 'expected a value after the flag');
    }
    flags.set(setting, token.value);
  }
  return { command: command ?? 'start', flags };
}

/** The text of `edge-relay --help`, generated from the settings. */
export function usage(): string {
  const lines = ['Usage: edge-relay start [flags]', '', 'Flags (flag > env > config file > default):'];
  for (const s of settings) {
    const def = s.defaultValue();
    const shown = s.key === 'instanceId' ? 'hostname-pid' : def === undefined ? 'unset' : String(def);
    lines.push(`  ${s.flag.padEnd(18)} ${s.env.padEnd(26)} ${shown.padEnd(10)} ${s.doc}`);
  }
  return lines.join('\n');
}
