import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DatabenchError } from 'databench';
import { importOptional } from './optional.js';

test('a missing optional package is an error naming the npm install to run', async () => {
  await assert.rejects(
    importOptional(
      // a package that is not installed (and is not on the registry either)
      () => import('databench-optional-missing-package' as string),
      ['databench-optional-missing-package'],
      'the feature',
    ),
    (error: unknown) => {
      assert.ok(error instanceof DatabenchError);
      assert.equal(error.code, 'MISSING_DEPENDENCY');
      assert.match(
        error.message,
        /^the feature needs the package databench-optional-missing-package/,
      );
      assert.match(error.message, /run npm install databench-optional-missing-package$/);
      return true;
    },
  );
});

test('an installed optional package loads; other errors pass through', async () => {
  const yaml = await importOptional(() => import('yaml'), ['yaml'], 'x');
  assert.equal(typeof yaml.parse, 'function');
  const boom = new Error('boom');
  await assert.rejects(
    importOptional(() => Promise.reject(boom), ['yaml'], 'x'),
    (e) => e === boom,
  );
});
