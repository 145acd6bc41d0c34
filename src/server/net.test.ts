import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { forwardedClient, isLoopbackAddress, retentionOwner } from './net.ts';

describe('isLoopbackAddress', () => {
  test('decides on the address, whatever its spelling', () => {
    for (const a of [
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
      '::FFFF:127.0.0.2',
      '0:0:0:0:0:ffff:7f00:1',
      '::ffff:7f00:1',
      'localhost',
      'app.localhost',
    ]) {
      assert.equal(isLoopbackAddress(a), true, a);
    }
    for (const a of ['0.0.0.0', '::', '192.168.1.1', '::ffff:192.168.1.1', '::2', 'example.com']) {
      assert.equal(isLoopbackAddress(a), false, a);
    }
  });
});

describe('retentionOwner', () => {
  test('IPv4 as it is, mapped IPv4 unmapped, IPv6 as its /64', () => {
    assert.equal(retentionOwner('192.0.2.1'), '192.0.2.1');
    assert.equal(retentionOwner('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(retentionOwner('2001:db8::1234'), '2001:db8:0:0::/64');
    assert.equal(retentionOwner('2001:db8:0:0:ffff::9'), '2001:db8:0:0::/64');
    assert.equal(retentionOwner('::1'), '0:0:0:0::/64');
  });
});

describe('forwardedClient', () => {
  test('the last address of X-Forwarded-For, the one the nearest proxy added', () => {
    assert.equal(forwardedClient('203.0.113.7'), '203.0.113.7');
    assert.equal(forwardedClient('198.51.100.1, 203.0.113.7'), '203.0.113.7');
    assert.equal(forwardedClient(' 10.0.0.1 ,2001:db8::1 '), '2001:db8::1');
    assert.equal(forwardedClient(['1.1.1.1', '9.9.9.9, 203.0.113.7']), '203.0.113.7');
  });
  test('none, or not an address: undefined', () => {
    for (const h of [undefined, '', 'unknown', '203.0.113.7, ', '203.0.113.7:80', []]) {
      assert.equal(forwardedClient(h), undefined, JSON.stringify(h));
    }
  });
});
