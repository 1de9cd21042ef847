import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as api from '../../src/index.js';

test('error codes are unique, RLY_ERR_-prefixed, and exported with the error classes', () => {
  const codes = Object.values(api.ErrorCodes);
  assert.equal(new Set(codes).size, codes.length);
  for (const code of codes) assert.match(code, /^RLY_ERR_[A-Z_]+$/);
  const err = new api.RelayError(api.ErrorCodes.FORBIDDEN, 'no');
  assert.ok(err instanceof Error);
  assert.deepEqual(err.toBody(), { code: 'RLY_ERR_FORBIDDEN', message: 'no' });
  const config = new api.ConfigError('--port', 'expected a port');
  assert.ok(config instanceof api.RelayError);
  assert.equal(config.message, '--port: expected a port');
  assert.equal(typeof api.createRelay, 'function');
});
