import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DatabenchError } from 'databench-ts';
import { importOptional } from './optional.js';

/** A package that is not installed (nor on the registry). */
const MISSING: string = 'databench-optional-missing-package';

test('a missing optional package is an error naming the npm install to run', async () => {
  await assert.rejects(
    importOptional(() => import(MISSING), ['databench-optional-missing-package'], 'the feature'),
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
