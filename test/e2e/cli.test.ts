// The `edge-relay` command as a user runs it (bin/edge-relay.js, which runs dist/): exit codes and the
// one-line messages of a bad setting, and --help. The settings themselves are checked in-process by
// test/unit/config.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { BIN } from '../helpers/relay.js';

describe('edge-relay CLI', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 10_000,
    });

  test('a bad value exits 2 with one line naming the setting, and nothing starts', () => {
    for (const [args, env, setting] of [
      [['start', '--port', 'abc'], {}, '--port'],
      [['start'], { RELAY_RECOVERY_WINDOW_MS: 'soon' }, 'RELAY_RECOVERY_WINDOW_MS'],
      [['start', '--config', '/nonexistent.yaml'], {}, '--config'],
      [['start', '--max-everything', '1'], {}, '--max-everything'],
    ] as const) {
      const result = run([...args], { ...env });
      assert.equal(result.status, 2, `${args.join(' ')} exits 2`);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(
        lines[0] as string,
        new RegExp(
          `^edge-relay: RLY_ERR_CONFIG ${setting}: expected|^edge-relay: RLY_ERR_CONFIG ${setting}: unknown`,
        ),
      );
      assert.equal(result.stdout, '', 'nothing started');
    }
  });

  test('--help prints usage and exits 0', () => {
    const result = run(['--help']);
    assert.equal(result.status, 0);
    assert.match(result.stdout, /^Usage: edge-relay start \[flags\]/);
  });
});
