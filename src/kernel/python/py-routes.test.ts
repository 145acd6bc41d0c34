import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHttpResponse, parsePyRoutes, routePattern } from './py-routes.ts';

test('a routes.py pattern matches the whole path below /<name>/, as Tornado matches it', () => {
  const post = routePattern('post');
  assert.ok(post?.test('post'));
  assert.equal(post?.test('posts'), false);
  assert.equal(post?.test('a/post'), false);
  // a pattern that ends in $ already, or has alternatives, stays whole
  assert.ok(routePattern('a|b$')?.test('b'));
  assert.equal(routePattern('a|b')?.test('ab'), false);
});

test("Python's named groups and backreferences become JavaScript's; what JavaScript cannot read is undefined", () => {
  const item = routePattern('item/(?P<key>[a-z]+)/(?P=key)');
  assert.equal(item?.source, '^(?:item\\/(?<key>[a-z]+)\\/\\k<key>)$');
  assert.ok(item?.test('item/ab/ab'));
  assert.equal(item?.test('item/ab/cd'), false);
  assert.equal(routePattern('(?P<x'), undefined);
});

test('the routes of a ready line and an http-response line are checked', () => {
  assert.deepEqual(
    parsePyRoutes([{ pattern: 'a', crossOrigin: true }, { pattern: 'b' }, { pattern: 3 }, 'c']),
    [
      { pattern: 'a', crossOrigin: true },
      { pattern: 'b', crossOrigin: false },
    ],
  );
  assert.deepEqual(parsePyRoutes(undefined), []);
  const good = { rid: 1, status: 200, reason: 'OK', headers: [['A', 'b']], body: '' };
  assert.deepEqual(parseHttpResponse(good), { t: 'http-response', ...good });
  for (const bad of [
    { ...good, rid: '1' },
    { ...good, status: 42 },
    { ...good, headers: [['A']] },
    { ...good, body: null },
  ]) {
    assert.equal(parseHttpResponse(bad), undefined, JSON.stringify(bad));
  }
});
