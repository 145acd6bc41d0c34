/**
 * `figToSrc`: turn a figure (a Vega-Lite or Vega spec, an SVG string, or an
 * object with `toSVG()`) into a data URI usable as `<img src>`, rendered on
 * the server.
 *
 * The plotting dependencies (vega, vega-lite, @resvg/resvg-js) are optional
 * peer dependencies: a plain install leaves them out, and they are loaded
 * with dynamic `import()` on the first call that needs them. A figure that
 * needs a missing one fails with a `DatabenchError` (code
 * `MISSING_DEPENDENCY`) that names the `npm install` to run. An SVG string
 * or an object with `toSVG()` needs none of them with `format: 'svg'`, and
 * only @resvg/resvg-js for PNG.
 *
 * Crisp by default: a figure becomes an SVG (vector: sharp at any zoom and
 * on any screen) unless a PNG is asked for. A PNG is rendered at `scale`
 * pixels per CSS px, 2 by default, so it stays sharp on a HiDPI screen when
 * the page shows it at its CSS size (or lets it fill its column). `dpi` is
 * the other way to say it: an SVG's user units are CSS px, a CSS px is 1/96
 * inch, so `dpi: 192` is `scale: 2` and databench 0.7's `dpi: 80` is 0.83.
 *
 * Text: PNGs are rasterised by resvg with the one DejaVu Sans file this
 * package ships (`fonts/DejaVuSans.ttf`, regular face only: bold titles are
 * drawn in it too) and no system fonts, and Vega is told to use that family,
 * so labels look the same on every machine, including one with no fonts
 * installed.
 */
import { fileURLToPath } from 'node:url';
import type { TopLevelSpec } from 'vega-lite';
import type { Spec as VegaSpec, Config as VegaConfig } from 'vega';
import { DatabenchError } from '../protocol/errors.js';
import { isPlainObject } from '../protocol/messages.js';
import { importOptional, missingDependency } from '../util/optional.js';
import { pngToSrc, svgToSrc } from './utils.js';

/**
 * A Vega-Lite or Vega specification, as JSON. Typed loosely on purpose: the
 * published types must compile without the optional vega packages. Import
 * `TopLevelSpec` from 'vega-lite' (or `Spec` from 'vega') to check a spec
 * against their schema; either is assignable here.
 */
export type FigureSpec = object;

/** A figure `figToSrc` can render: a spec, an SVG document, or an object with `toSVG()`. */
export type Figure = FigureSpec | string | { toSVG(): string | Promise<string> };

export interface FigToSrcOptions {
  /**
   * `'svg'` keeps the figure vector; `'png'` rasterises it on the server.
   * Default: `'svg'`, or `'png'` when `scale` or `dpi` is given.
   */
  format?: 'png' | 'svg';
  /** Pixels of a PNG per CSS px of the figure (2: sharp on HiDPI screens). Default: 2. */
  scale?: number;
  /**
   * Dots per inch of a PNG, with CSS px at 96 per inch: the image has
   * `dpi / 96` pixels per CSS px. Another way to give `scale` (not both).
   */
  dpi?: number;
}

/** The family resvg gets from the bundled font files, and Vega is told to use. */
const FIGURE_FONT_FAMILY = 'DejaVu Sans';
/**
 * One face (resvg-js parses the font files on every render, ~30 ms each, and
 * the package stays small): bold and italic text fall back to it.
 */
const FONT_FILE = fileURLToPath(new URL('../../fonts/DejaVuSans.ttf', import.meta.url));
const CSS_PX_PER_INCH = 96;
/** A PNG's pixels per CSS px when nothing says otherwise: sharp on a 2x (HiDPI) screen. */
const DEFAULT_SCALE = 2;
const DEFAULT_DPI = DEFAULT_SCALE * CSS_PX_PER_INCH;
/** Guard against a typo rendering a gigapixel image. */
const MAX_DPI = 2400;

/** Vega config: every text element in the bundled font. */
const vegaFontConfig: VegaConfig = {
  text: { font: FIGURE_FONT_FAMILY },
  axis: { labelFont: FIGURE_FONT_FAMILY, titleFont: FIGURE_FONT_FAMILY },
  legend: { labelFont: FIGURE_FONT_FAMILY, titleFont: FIGURE_FONT_FAMILY },
  title: { font: FIGURE_FONT_FAMILY, subtitleFont: FIGURE_FONT_FAMILY },
};

/** Load once; a failed import is not kept, so installing the package and trying again works. */
function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    if (!pending) {
      pending = load();
      pending.catch(() => (pending = undefined));
    }
    return pending;
  };
}

const loadVega = lazy(() =>
  importOptional(() => import('vega'), ['vega'], 'figToSrc with a Vega spec'),
);
const loadVegaLite = lazy(() =>
  importOptional(
    () => import('vega-lite'),
    ['vega', 'vega-lite'],
    'figToSrc with a Vega-Lite spec',
  ),
);
const loadResvg = lazy(() =>
  importOptional(
    () => import('@resvg/resvg-js'),
    ['@resvg/resvg-js'],
    "figToSrc with format 'png'",
  ),
);

function schemaOf(x: Record<string, unknown>): string {
  return typeof x['$schema'] === 'string' ? x['$schema'] : '';
}

function isVegaLiteSpec(x: Record<string, unknown>): boolean {
  const schema = schemaOf(x);
  if (schema) return schema.includes('vega-lite');
  return ['mark', 'layer', 'concat', 'hconcat', 'vconcat', 'facet', 'repeat', 'spec'].some(
    (k) => k in x,
  );
}

function isVegaSpec(x: Record<string, unknown>): boolean {
  const schema = schemaOf(x);
  if (schema) return schema.includes('/vega/');
  return 'marks' in x;
}

function hasToSVG(x: unknown): x is { toSVG(): string | Promise<string> } {
  return (
    (typeof x === 'object' || typeof x === 'function') &&
    x !== null &&
    typeof (x as { toSVG?: unknown }).toSVG === 'function'
  );
}

function looksLikeSvg(s: string): boolean {
  return /<svg[\s>]/i.test(s);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'string')
    return `a string that is not an SVG document (${JSON.stringify(x.slice(0, 40))})`;
  if (isPlainObject(x)) {
    const keys = Object.keys(x).slice(0, 6);
    return `an object with keys [${keys.join(', ')}]${schemaOf(x) ? ` and $schema ${schemaOf(x)}` : ''}`;
  }
  return typeof x;
}

function unknownFigure(figure: unknown): DatabenchError {
  return new DatabenchError(
    'FIGURE_TYPE',
    `figToSrc: cannot render ${describe(figure)}. A figure is a Vega-Lite spec (with "$schema" naming vega-lite, ` +
      `or a "mark", "layer", "concat", "facet" or "repeat" key), a Vega spec (with "marks"), an SVG string, ` +
      `or an object with a toSVG() method.`,
  );
}

async function vegaToSvg(spec: VegaSpec): Promise<string> {
  const vega = await loadVega();
  const view = new vega.View(vega.parse(spec, vegaFontConfig), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

async function vegaLiteToSvg(spec: TopLevelSpec): Promise<string> {
  const [vl] = await Promise.all([loadVegaLite(), loadVega()]);
  // the spec's own config wins over this default font
  const { spec: vegaSpec } = vl.compile(spec, { config: { font: FIGURE_FONT_FAMILY } });
  return vegaToSvg(vegaSpec);
}

/** Render `figure` to an SVG document. */
async function figToSvg(figure: Figure): Promise<string> {
  let svg: unknown;
  if (typeof figure === 'string') {
    svg = figure;
  } else if (hasToSVG(figure)) {
    try {
      svg = await figure.toSVG();
    } catch (cause) {
      throw new DatabenchError(
        'FIGURE_RENDER',
        `figToSrc: the figure's toSVG() failed: ${String(cause)}`,
        { cause },
      );
    }
  } else if (isPlainObject(figure) && isVegaLiteSpec(figure)) {
    try {
      svg = await vegaLiteToSvg(figure as unknown as TopLevelSpec);
    } catch (cause) {
      if (cause instanceof DatabenchError) throw cause;
      throw new DatabenchError(
        'FIGURE_RENDER',
        `figToSrc: could not render the Vega-Lite spec: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      );
    }
  } else if (isPlainObject(figure) && isVegaSpec(figure)) {
    try {
      svg = await vegaToSvg(figure);
    } catch (cause) {
      if (cause instanceof DatabenchError) throw cause;
      throw new DatabenchError(
        'FIGURE_RENDER',
        `figToSrc: could not render the Vega spec: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      );
    }
  } else {
    throw unknownFigure(figure);
  }
  if (typeof svg !== 'string' || !looksLikeSvg(svg)) {
    throw typeof figure === 'string'
      ? unknownFigure(figure)
      : new DatabenchError(
          'FIGURE_TYPE',
          `figToSrc: toSVG() returned ${describe(svg)}, not an SVG document`,
        );
  }
  return svg;
}

/** Rasterise an SVG document to PNG bytes at `dpi` (CSS px at 96 per inch). */
async function svgToPng(svg: string, dpi = DEFAULT_DPI): Promise<Buffer> {
  const { renderAsync } = await loadResvg();
  const rendered = await renderAsync(svg, {
    fitTo: { mode: 'zoom', value: dpi / CSS_PX_PER_INCH },
    font: {
      loadSystemFonts: false,
      fontFiles: [FONT_FILE],
      defaultFontFamily: FIGURE_FONT_FAMILY,
      sansSerifFamily: FIGURE_FONT_FAMILY,
      serifFamily: FIGURE_FONT_FAMILY,
      monospaceFamily: FIGURE_FONT_FAMILY,
      cursiveFamily: FIGURE_FONT_FAMILY,
      fantasyFamily: FIGURE_FONT_FAMILY,
    },
    logLevel: 'off',
  });
  return rendered.asPng();
}

/**
 * Render a figure on the server and return a data URI for `<img src>`: an
 * SVG by default, a PNG at 2× its CSS size with `format: 'png'`. For a plot
 * the user can hover, zoom and pan, write the Vega-Lite spec itself to a
 * data key and show it with `<div data-signal="data:plot" data-vega>`.
 *
 * @example
 * await this.data.set('plot', await utils.figToSrc({
 *   mark: 'line', data: { values: points },
 *   encoding: { x: { field: 'draws', type: 'quantitative' }, y: { field: 'pi', type: 'quantitative' } },
 * }));
 */
export async function figToSrc(figure: Figure, options: FigToSrcOptions = {}): Promise<string> {
  if (options.scale !== undefined && options.dpi !== undefined) {
    throw new DatabenchError(
      'FIGURE_DPI',
      'figToSrc: give scale or dpi, not both (dpi: 192 is scale: 2)',
    );
  }
  const raster = options.scale !== undefined || options.dpi !== undefined;
  const format = options.format ?? (raster ? 'png' : 'svg');
  if (
    options.scale !== undefined &&
    !(
      typeof options.scale === 'number' &&
      Number.isFinite(options.scale) &&
      options.scale > 0 &&
      options.scale <= MAX_DPI / CSS_PX_PER_INCH
    )
  ) {
    throw new DatabenchError(
      'FIGURE_DPI',
      `figToSrc: scale must be a number in (0, ${MAX_DPI / CSS_PX_PER_INCH}], got ${String(options.scale)}`,
    );
  }
  const dpi =
    options.dpi ?? (options.scale !== undefined ? options.scale * CSS_PX_PER_INCH : DEFAULT_DPI);
  if (format !== 'png' && format !== 'svg') {
    throw new DatabenchError(
      'FIGURE_FORMAT',
      `figToSrc: format must be 'png' or 'svg', got ${JSON.stringify(format)}`,
    );
  }
  if (!(typeof dpi === 'number' && Number.isFinite(dpi) && dpi > 0 && dpi <= MAX_DPI)) {
    throw new DatabenchError(
      'FIGURE_DPI',
      `figToSrc: dpi must be a number in (0, ${MAX_DPI}], got ${String(dpi)}`,
    );
  }
  try {
    const svg = await figToSvg(figure);
    if (format === 'svg') return svgToSrc(svg);
    return pngToSrc(await rasterise(svg, dpi));
  } catch (error) {
    if (error instanceof DatabenchError && error.code === 'MISSING_DEPENDENCY') {
      // name everything this figure needs at once, not one package per attempt
      throw missingDependency(
        packagesFor(figure, format),
        `figToSrc (${describeKind(figure)}, format '${format}')`,
        error,
      );
    }
    throw error;
  }
}

/** The optional packages rendering `figure` as `format` needs. */
function packagesFor(figure: Figure, format: 'png' | 'svg'): string[] {
  const out: string[] = [];
  if (isPlainObject(figure) && !hasToSVG(figure)) {
    out.push('vega');
    if (isVegaLiteSpec(figure)) out.push('vega-lite');
  }
  if (format === 'png') out.push('@resvg/resvg-js');
  return out;
}

function describeKind(figure: Figure): string {
  if (typeof figure === 'string') return 'an SVG string';
  if (hasToSVG(figure)) return 'an object with toSVG()';
  return isPlainObject(figure) && isVegaLiteSpec(figure) ? 'a Vega-Lite spec' : 'a Vega spec';
}

async function rasterise(svg: string, dpi: number): Promise<Buffer> {
  try {
    return await svgToPng(svg, dpi);
  } catch (cause) {
    if (cause instanceof DatabenchError) throw cause;
    throw new DatabenchError(
      'FIGURE_RENDER',
      `figToSrc: could not rasterise the SVG: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}
