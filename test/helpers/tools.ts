import { spawnSync } from 'node:child_process';

/**
 * True when `command` is on PATH. A missing tool fails the run under CI=true (CI must install it); on a
 * developer machine the caller skips the tests that need it.
 */
export function toolAvailable(command: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
  if (!found && process.env.CI === 'true') {
    throw new Error(`${command} is required under CI=true but is not installed`);
  }
  return found;
}
