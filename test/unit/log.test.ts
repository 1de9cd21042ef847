import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/log.js';

test('one JSON line per call: level as a string, ISO time, instanceId, msg, then the fields', () => {
  const lines: string[] = [];
  const log = createLogger('a', (line) => lines.push(line));
  log.info('listening', { port: 3000 });
  log.warn('w');
  log.error('e', { code: 'RLY_ERR_INTERNAL' });
  assert.equal(lines.length, 3);
  for (const line of lines) assert.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'));
  const [info, warn, error] = lines.map((l) => JSON.parse(l));
  assert.deepEqual(Object.keys(info), ['level', 'time', 'instanceId', 'msg', 'port']);
  assert.equal(new Date(info.time).toISOString(), info.time);
  assert.deepEqual([info.level, warn.level, error.level], ['info', 'warn', 'error']);
  assert.deepEqual(
    { ...error, time: 0 },
    { level: 'error', time: 0, instanceId: 'a', msg: 'e', code: 'RLY_ERR_INTERNAL' },
  );
});

test('an Error in a field keeps its type, message, stack and code, and nothing else it carries', () => {
  const lines: string[] = [];
  const log = createLogger('a', (line) => lines.push(line));
  const err = Object.assign(new TypeError('Invalid URL'), {
    code: 'ERR_INVALID_URL',
    input: 'redis://:secret-pw@h',
  });
  log.error('start failed', { error: err });
  log.pino.error({ err }, 'from Fastify');
  for (const line of lines) assert.equal(line.includes('secret-pw'), false);
  const [ours, fastify] = lines.map((l) => JSON.parse(l));
  for (const logged of [ours.error, fastify.err]) {
    assert.deepEqual(Object.keys(logged).sort(), ['code', 'message', 'stack', 'type']);
    assert.equal(logged.type, 'TypeError');
    assert.equal(logged.code, 'ERR_INVALID_URL');
    assert.match(logged.stack, /^TypeError: Invalid URL\n {4}at /);
  }
});
