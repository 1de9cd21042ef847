import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CONFIGURATION_PATH, generate } from '../../scripts/docs.js';
import { ErrorCodes, errorDescriptions } from '../../src/errors.js';

test('docs/configuration.md matches the settings table and the error codes in the code', () => {
  const committed = readFileSync(CONFIGURATION_PATH, 'utf8');
  assert.ok(
    committed === generate(committed),
    'docs/configuration.md is out of date with src/config/schema.ts or src/errors.ts: run `npm run docs` and commit the result',
  );
});

test('every error code has a description, and every description a code', () => {
  assert.deepEqual(Object.keys(errorDescriptions).sort(), Object.values(ErrorCodes).sort());
  for (const text of Object.values(errorDescriptions)) assert.ok(text.trim().length > 0);
});
