import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inflateSync } from 'node:zlib';
import type { Spec as VegaSpec } from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { DatabenchError, utils } from 'databench-ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A Vega-Lite line chart, 300 × 150 CSS px of plot area. */
function lineChart(extra: Record<string, unknown> = {}): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 300,
    height: 150,
    data: {
      values: [
        { draws: 1000, estimate: 3.2 },
        { draws: 2000, estimate: 3.1 },
        { draws: 3000, estimate: 3.15 },
      ],
    },
    mark: 'line',
    encoding: {
      x: { field: 'draws', type: 'quantitative', title: 'number of draws' },
      y: { field: 'estimate', type: 'quantitative', title: 'estimate of pi' },
    },
    ...extra,
  };
}

function pngBytes(src: string): Buffer {
  const prefix = 'data:image/png;base64,';
  assert.ok(src.startsWith(prefix), src.slice(0, 40));
  return Buffer.from(src.slice(prefix.length), 'base64');
}

/**
 * A small PNG decoder for what resvg writes (8-bit, RGB/RGBA/grey, not
 * interlaced): the IHDR size and the unfiltered pixel bytes.
 */
function decodePng(png: Buffer): {
  width: number;
  height: number;
  channels: number;
  pixels: Buffer;
} {
  assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE, 'PNG signature');
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const bitDepth = data[8];
      const colorType = data[9]!;
      assert.equal(bitDepth, 8, 'bit depth');
      assert.equal(data[12], 0, 'not interlaced');
      channels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[colorType]!;
      assert.ok(channels, `colour type ${colorType}`);
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? pixels[y * stride + i - channels]! : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + i]! : 0;
      const c = y > 0 && i >= channels ? pixels[(y - 1) * stride + i - channels]! : 0;
      let predictor: number;
      switch (filter) {
        case 0:
          predictor = 0;
          break;
        case 1:
          predictor = a;
          break;
        case 2:
          predictor = b;
          break;
        case 3:
          predictor = (a + b) >> 1;
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          throw new Error(`PNG filter ${filter}`);
      }
      pixels[y * stride + i] = (line[i]! + predictor) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

/** How many pixels are not (near) white. */
function inkedPixels({ pixels, channels }: ReturnType<typeof decodePng>): number {
  let n = 0;
  for (let i = 0; i < pixels.length; i += channels) {
    const alpha = channels === 4 ? pixels[i + 3]! : 255;
    const dark = Math.min(pixels[i]!, pixels[i + 1] ?? pixels[i]!, pixels[i + 2] ?? pixels[i]!);
    if (alpha > 0 && dark < 200) n++;
  }
  return n;
}

function differingPixels(a: ReturnType<typeof decodePng>, b: ReturnType<typeof decodePng>): number {
  assert.equal(a.width, b.width);
  assert.equal(a.height, b.height);
  let n = 0;
  for (let i = 0; i < a.pixels.length; i += a.channels) {
    if (a.pixels.compare(b.pixels, i, i + a.channels, i, i + a.channels) !== 0) n++;
  }
  return n;
}

describe('utils.figToSrc', () => {
  test('a Vega-Lite line chart to SVG, with its axis titles as text', async () => {
    const src = await utils.figToSrc(lineChart(), { format: 'svg' });
    const prefix = 'data:image/svg+xml;charset=utf-8,';
    assert.ok(src.startsWith(prefix));
    const svg = decodeURIComponent(src.slice(prefix.length));
    assert.match(svg, /<svg[\s>]/);
    assert.ok(svg.includes('number of draws'), 'x axis title');
    assert.ok(svg.includes('estimate of pi'), 'y axis title');
    assert.ok(svg.includes('DejaVu Sans'), 'Vega uses the bundled font family');
    // a browser reads it back to the same document
    const response = await fetch(src);
    assert.equal(response.headers.get('content-type'), 'image/svg+xml;charset=utf-8');
    assert.equal(await response.text(), svg);
  });

  test('a Vega-Lite line chart to PNG, its size proportional to dpi, not blank', async () => {
    const at96 = decodePng(pngBytes(await utils.figToSrc(lineChart(), { format: 'png', dpi: 96 })));
    const at192 = decodePng(
      pngBytes(await utils.figToSrc(lineChart(), { format: 'png', dpi: 192 })),
    );
    const at80 = decodePng(pngBytes(await utils.figToSrc(lineChart(), { format: 'png', dpi: 80 })));
    // dpi 96 is one pixel per CSS px: the plot area and the axes around it
    assert.ok(at96.width > 300 && at96.width < 420, `width ${at96.width}`);
    assert.ok(at96.height > 150 && at96.height < 260, `height ${at96.height}`);
    assert.ok(Math.abs(at192.width - 2 * at96.width) <= 1, `${at192.width} vs 2 × ${at96.width}`);
    assert.ok(Math.abs(at192.height - 2 * at96.height) <= 1);
    assert.ok(Math.abs(at80.width - (at96.width * 80) / 96) <= 1, `${at80.width} at 80 dpi`);
    assert.ok(Math.abs(at80.height - (at96.height * 80) / 96) <= 1);
    // not blank: a white background with a line, axes and labels on it
    const inked = inkedPixels(at96);
    assert.ok(inked > 500, `${inked} inked pixels`);
    assert.ok(inked < at96.width * at96.height * 0.5, `${inked} inked pixels`);
  });

  test('crisp by default: an SVG; a PNG at 2x its CSS size (HiDPI), or at the scale or dpi asked', async () => {
    const byDefault = await utils.figToSrc(lineChart());
    assert.equal(byDefault, await utils.figToSrc(lineChart(), { format: 'svg' }));
    const png = await utils.figToSrc(lineChart(), { format: 'png' });
    assert.equal(png, await utils.figToSrc(lineChart(), { format: 'png', dpi: 192 }));
    assert.equal(png, await utils.figToSrc(lineChart(), { scale: 2 }));
    const at1 = decodePng(pngBytes(await utils.figToSrc(lineChart(), { scale: 1 })));
    const at2 = decodePng(pngBytes(png));
    assert.ok(Math.abs(at2.width - 2 * at1.width) <= 1, `${at2.width} is twice ${at1.width}`);
    await assert.rejects(utils.figToSrc(lineChart(), { scale: 2, dpi: 96 }), (e: Error) =>
      /scale or dpi, not both/.test(e.message),
    );
    await assert.rejects(utils.figToSrc(lineChart(), { scale: 0 }), (e: Error) =>
      /scale must be a number/.test(e.message),
    );
  });

  test('text is rendered with the bundled font: a title changes the pixels', async () => {
    const title = { text: 'CONVERGENCE', fontSize: 28 };
    // the same layout, the title once in black and once in white on white
    const withTitle = decodePng(
      pngBytes(
        await utils.figToSrc(lineChart({ title: { ...title, color: 'black' } }), { dpi: 96 }),
      ),
    );
    const invisible = decodePng(
      pngBytes(
        await utils.figToSrc(lineChart({ title: { ...title, color: 'white' } }), { dpi: 96 }),
      ),
    );
    const differ = differingPixels(withTitle, invisible);
    // 11 glyphs at 28 px cover far more than a few hundred pixels
    assert.ok(differ > 500, `only ${differ} pixels differ: the title's glyphs were not drawn`);

    // and a bare SVG <text> draws glyphs too (no system fonts are loaded)
    const svg = (text: string) =>
      `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="60"><rect width="200" height="60" fill="white"/>` +
      `<text x="10" y="40" font-family="sans-serif" font-size="30">${text}</text></svg>`;
    const hello = decodePng(pngBytes(await utils.figToSrc(svg('Hello'), { dpi: 96 })));
    const empty = decodePng(pngBytes(await utils.figToSrc(svg(''), { dpi: 96 })));
    assert.equal(inkedPixels(empty), 0);
    assert.ok(inkedPixels(hello) > 200, `${inkedPixels(hello)} inked pixels for "Hello"`);
  });

  test("an SVG string with '#' and '%' round-trips", async () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">' +
      '<rect width="100%" height="50%" fill="#ff0000"/><text>50% #1</text></svg>';
    const src = await utils.figToSrc(svg, { format: 'svg' });
    assert.equal(src, utils.svgToSrc(svg));
    assert.equal(await (await fetch(src)).text(), svg);
    // and as PNG: the top half red, the bottom half transparent
    const png = decodePng(pngBytes(await utils.figToSrc(svg, { format: 'png', dpi: 96 })));
    assert.equal(png.width, 10);
    assert.equal(png.height, 10);
    assert.deepEqual([...png.pixels.subarray(0, 4)], [255, 0, 0, 255]);
  });

  test('an object with toSVG(), sync or async', async () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><circle r="2" cx="2" cy="2"/></svg>';
    assert.equal(
      await utils.figToSrc({ toSVG: () => svg }, { format: 'svg' }),
      utils.svgToSrc(svg),
    );
    assert.equal(
      await utils.figToSrc({ toSVG: async () => svg }, { format: 'svg' }),
      utils.svgToSrc(svg),
    );
    const png = decodePng(pngBytes(await utils.figToSrc({ toSVG: async () => svg }, { dpi: 192 })));
    assert.equal(png.width, 8);
  });

  test('a Vega spec renders too', async () => {
    const spec: VegaSpec = {
      $schema: 'https://vega.github.io/schema/vega/v6.json',
      width: 100,
      height: 50,
      marks: [
        {
          type: 'text',
          encode: { enter: { x: { value: 10 }, y: { value: 30 }, text: { value: 'vega text' } } },
        },
      ],
    };
    const svg = decodeURIComponent((await utils.figToSrc(spec, { format: 'svg' })).split(',')[1]!);
    assert.ok(svg.includes('vega text'));
    assert.ok(svg.includes('DejaVu Sans'));
  });

  test('a bad figure rejects with a clear DatabenchError', async () => {
    const bad: unknown[] = [{ foo: 1 }, 'not an svg', 42, null, [1, 2]];
    for (const figure of bad) {
      await assert.rejects(
        utils.figToSrc(figure as never),
        (e: unknown) =>
          e instanceof DatabenchError &&
          e.code === 'FIGURE_TYPE' &&
          /figToSrc: cannot render/.test(e.message) &&
          /Vega-Lite spec/.test(e.message),
        `figure ${JSON.stringify(figure)}`,
      );
    }
    await assert.rejects(
      utils.figToSrc({ toSVG: () => 42 }),
      (e: unknown) =>
        e instanceof DatabenchError &&
        /toSVG\(\) returned number, not an SVG document/.test(e.message),
    );
    await assert.rejects(
      utils.figToSrc(
        { mark: 'line', encoding: { x: { field: 'a', type: 'nonsense' } } },
        {
          format: 'svg',
        },
      ),
      (e: unknown) =>
        e instanceof DatabenchError &&
        e.code === 'FIGURE_RENDER' &&
        /Vega-Lite spec/.test(e.message),
    );
    await assert.rejects(
      utils.figToSrc(lineChart(), { format: 'gif' as never }),
      (e: unknown) => e instanceof DatabenchError && e.code === 'FIGURE_FORMAT',
    );
    await assert.rejects(
      utils.figToSrc(lineChart(), { dpi: -1 }),
      (e: unknown) => e instanceof DatabenchError && e.code === 'FIGURE_DPI',
    );
  });

  test('importing databench does not load the plotting libraries', async () => {
    const { spawnSync } = await import('node:child_process');
    // a resolve hook that reports every import of vega, vega-lite or resvg on stderr
    const hook =
      "import { writeSync } from 'node:fs';" +
      'export async function resolve(specifier, context, next) {' +
      "  if (/^(vega|vega-lite|@resvg\\/resvg-js)$/.test(specifier)) writeSync(2, 'PLOTTING ' + specifier + '\\n');" +
      '  return next(specifier, context);' +
      '}';
    const hookUrl = 'data:text/javascript,' + encodeURIComponent(hook);
    const stderrOf = (code: string) => {
      const r = spawnSync(
        process.execPath,
        [
          '--conditions=databench-source',
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          `import { register } from 'node:module'; register(${JSON.stringify(hookUrl)}); ${code}`,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      return r.stderr;
    };
    assert.doesNotMatch(
      stderrOf(
        "const { utils } = await import('databench-ts'); console.log(typeof utils.figToSrc);",
      ),
      /PLOTTING/,
    );
    // the hook does see them once a figure is rendered
    assert.match(
      stderrOf(
        "const { utils } = await import('databench-ts'); await utils.figToSrc({ mark: 'point' }, { format: 'png' });",
      ),
      /PLOTTING vega-lite/,
    );
  });
});
