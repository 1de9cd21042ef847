import { spawnSync } from 'node:child_process';

/** The Debian package that installs each tool the tests use. */
const PACKAGES: Record<string, string> = {
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  nginx: 'nginx',
  haproxy: 'haproxy',
  chromium: 'chromium',
  openssl: 'openssl',
};

/** Set to 1 to skip, rather than fail, the tests whose tool is missing (the run's summary counts them). */
const SKIP_MISSING = 'RELAY_TEST_SKIP_MISSING_TOOLS';

/**
 * True when `command` is on PATH. A missing tool fails the test with the command that installs it, unless
 * RELAY_TEST_SKIP_MISSING_TOOLS=1 asks to skip: then this returns false and the caller skips.
 */
export function toolAvailable(command: string): boolean {
  if (spawnSync('sh', ['-c', `command -v ${command}`]).status === 0) return true;
  if (process.env[SKIP_MISSING] === '1' && process.env.CI !== 'true') return false;
  const install = `apt-get install ${PACKAGES[command] ?? command}`;
  throw new Error(
    `${command} is required by this test but is not installed: run \`${install}\` (or ${SKIP_MISSING}=1 to skip)`,
  );
}
