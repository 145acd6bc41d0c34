/**
 * Turn a PNG into a data URI usable as `<img src>`.
 *
 * @example img.src = utils.pngToSrc(await fs.readFile('plot.png'))
 */
export function pngToSrc(png: Uint8Array | ArrayBuffer): string {
  const bytes = png instanceof ArrayBuffer ? new Uint8Array(png) : png;
  return (
    'data:image/png;base64,' +
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
  );
}

/**
 * Turn an SVG document into a data URI usable as `<img src>`. Percent-encoded,
 * so any SVG works, including ones with `#` and `%` (the original's raw
 * `utf8,` form broke on those).
 */
export function svgToSrc(svg: string): string {
  return 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(svg);
}
