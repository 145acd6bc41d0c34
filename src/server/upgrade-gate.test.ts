import assert from 'node:assert/strict';
import { hostname } from 'node:os';
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

test("a public bind takes the machine's names, IP literals and allowOrigins' hosts, no other Host", () => {
  const allowed = createHostCheck('0.0.0.0', new Set(['https://app.example']));
  const name = hostname();
  assert.equal(allowed(`${name}:5000`), true, 'the machine name');
  assert.equal(allowed(`${name.toUpperCase()}.:5000`), true, 'in capitals, with the root dot');
  assert.equal(allowed(`${name.split('.')[0]}.local`), true, 'its mDNS name');
  assert.equal(allowed('203.0.113.9:5000'), true, 'an IPv4 literal');
  assert.equal(allowed('[2001:db8::7]:5000'), true, 'an IPv6 literal');
  assert.equal(allowed('localhost:5000'), true);
  assert.equal(allowed('app.example'), true, 'a host of allowOrigins');
  assert.equal(allowed('evil.example:5000'), false);
  assert.equal(
    allowed(`${name}.evil.example`),
    false,
    'a name that only starts with the machine name',
  );
  assert.equal(allowed(undefined), false);
});

test('a bind to a name takes that name', () => {
  const allowed = createHostCheck('box.example.', new Set());
  assert.equal(allowed('Box.Example:8080'), true);
  assert.equal(allowed('other.example:8080'), false);
});
