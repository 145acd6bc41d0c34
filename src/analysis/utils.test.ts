import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { utils } from 'databench-ts';

/** The first bytes of every PNG file, then some bytes that are not ASCII. */
const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2, 0xfe, 0xff]);

/** Read a data URI the way a browser does (WHATWG fetch's data: URL processor). */
async function readDataUri(uri: string): Promise<{ type: string | null; bytes: Buffer }> {
  const response = await fetch(uri);
  return {
    type: response.headers.get('content-type'),
    bytes: Buffer.from(await response.arrayBuffer()),
  };
}

describe('utils.pngToSrc', () => {
  test('is a base64 PNG data URI of exactly the given bytes', async () => {
    const src = utils.pngToSrc(PNG);
    assert.ok(src.startsWith('data:image/png;base64,'));
    const base64 = src.slice('data:image/png;base64,'.length);
    assert.deepEqual(new Uint8Array(Buffer.from(base64, 'base64')), PNG);
    const { type, bytes } = await readDataUri(src);
    assert.equal(type, 'image/png');
    assert.deepEqual(new Uint8Array(bytes), PNG);
  });

  test('accepts a Buffer, an ArrayBuffer and a view into a larger buffer', () => {
    const expected = utils.pngToSrc(PNG);
    assert.equal(utils.pngToSrc(Buffer.from(PNG)), expected);
    assert.equal(utils.pngToSrc(PNG.slice().buffer), expected);
    const padded = new Uint8Array(PNG.length + 6);
    padded.set(PNG, 3);
    assert.equal(utils.pngToSrc(padded.subarray(3, 3 + PNG.length)), expected);
  });

  test('an empty image is an empty payload', () => {
    assert.equal(utils.pngToSrc(new Uint8Array()), 'data:image/png;base64,');
  });
});

describe('utils.svgToSrc', () => {
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="100%" height="50%">' +
    '<defs><linearGradient id="g"><stop offset="0%" stop-color="#ff0000"/></linearGradient></defs>' +
    '<rect fill="url(#g)" stroke="#00f" width="100%" height="100%"/>' +
    '<text>50% done, 100%25 literal, a+b & c &lt; d, café ✓, "quotes" \'single\'\n</text>' +
    '</svg>';

  test('is an SVG data URI', () => {
    assert.ok(utils.svgToSrc(svg).startsWith('data:image/svg+xml'));
  });

  test('round-trips an SVG with "#" and "%" when decoded back', () => {
    const src = utils.svgToSrc(svg);
    const comma = src.indexOf(',');
    assert.ok(comma > 0);
    const payload = src.slice(comma + 1);
    assert.equal(payload.includes('#'), false, 'a raw "#" starts a fragment and cuts the image');
    assert.equal(decodeURIComponent(payload), svg);
  });

  test('a data: URL reader gets the SVG back exactly, with an SVG content type', async () => {
    const { type, bytes } = await readDataUri(utils.svgToSrc(svg));
    assert.match(type ?? '', /^image\/svg\+xml/);
    assert.equal(bytes.toString('utf8'), svg);
  });

  test('the raw utf8 form of the original would not round-trip (why this matters)', async () => {
    const { bytes } = await readDataUri('data:image/svg+xml;utf8,' + svg);
    assert.notEqual(bytes.toString('utf8'), svg);
  });
});
