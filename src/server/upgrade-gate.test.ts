import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHostCheck } from './upgrade-gate.js';

test('the Host check of a loopback bind: remembering the last allowed Host never lets another through', () => {
  const allowed = createHostCheck('127.0.0.1', new Set(['http://app.example:8080']));
  assert.equal(allowed('127.0.0.1:5000'), true);
  assert.equal(allowed('127.0.0.1:5000'), true, 'the remembered answer');
  assert.equal(allowed('evil.example:5000'), false, 'another Host after an allowed one');
  assert.equal(allowed('evil.example:5000'), false, 'a refusal is not remembered as allowed');
  assert.equal(allowed('LOCALHOST'), true);
  assert.equal(allowed('[::1]:5000'), true);
  assert.equal(allowed('app.example:5000'), true, 'a host of allowOrigins');
  assert.equal(allowed(undefined), false);
  assert.equal(allowed('127.0.0.1:5000'), true);
});

test('a public bind takes any Host', () => {
  const allowed = createHostCheck('0.0.0.0', new Set());
  assert.equal(allowed('anything.example'), true);
});
