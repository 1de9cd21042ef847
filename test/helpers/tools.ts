import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Each tool the tests start, and the Debian package that installs it (scripts/tools.txt). */
const TOOLS: Array<{ command: string; package: string }> = readFileSync(
  new URL('../../scripts/tools.txt', import.meta.url),
  'utf8',
)
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.startsWith('#'))
  .map((line) => {
    const [command = '', pkg = ''] = line.trim().split(/\s+/);
    return { command, package: pkg };
  });

/** Set to 1 to skip, rather than fail, the tests whose tool is missing (the run's summary counts them). */
export const SKIP_MISSING = 'RELAY_TEST_SKIP_MISSING_TOOLS';

const onPath = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

/** The tools of scripts/tools.txt that are not on PATH. */
export function missingTools(): Array<{ command: string; package: string }> {
  return TOOLS.filter((tool) => !onPath(tool.command));
}

/**
 * True when `command` is on PATH. A missing tool fails the test with the command that installs it, unless
 * RELAY_TEST_SKIP_MISSING_TOOLS=1 asks to skip: then this returns false and the caller skips.
 */
export function toolAvailable(command: string): boolean {
  if (onPath(command)) return true;
  if (process.env[SKIP_MISSING] === '1' && process.env.CI !== 'true') return false;
  const pkg = TOOLS.find((tool) => tool.command === command)?.package ?? command;
  throw new Error(
    `${command} is required by this test but is not installed: run \`npm run setup\` (apt-get install ${pkg}), or ${SKIP_MISSING}=1 to skip`,
  );
}
