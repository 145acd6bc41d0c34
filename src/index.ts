/**
 * databench: live, interactive data analyses in the browser.
 *
 * @example
 * import { Analysis, on } from 'databench-ts';
 * export class Pi extends Analysis<{ pi: number }> {
 *   @on async run() { await this.data.set('pi', 3.14); }
 * }
 */
import { pngToSrc, svgToSrc } from './server/utils.js';
import { figToSrc } from './server/figure.js';
import type { AnalysisClass } from './server/analysis.js';
import type { DatabenchServer, RunOptions, ServerOptions } from './server/create-server.js';

export { Analysis, isAnalysisClass } from './server/analysis.js';
export type { AnalysisClass, AnyAnalysis, EmitFn } from './server/analysis.js';
export { on, onAction } from './server/actions.js';
export type { ActionOptions, Concurrency } from './server/actions.js';
export { Meta } from './server/meta.js';
export type { ExtraRoute } from './server/meta.js';
export { allowCrossOrigin } from './server/route-options.js';
export { Datastore, MemoryBackend } from './datastore/index.js';
export type { DataProxy, DatastoreBackend, DatastoreOptions } from './datastore/index.js';
export { DatabenchError, ProtocolError, encodeValue } from './protocol/index.js';
export { createLogger, setDefaultLogger } from './server/logger.js';
export type { Logger, LogLevel } from './server/logger.js';
export type { DatabenchServer, RunOptions, ServerOptions } from './server/create-server.js';

/**
 * Serve a folder of analyses over HTTP and WebSocket (what `databench` runs).
 * The server's modules load on the first call, so an analysis that only
 * imports `Analysis` pays nothing for them.
 *
 * @example
 * const server = await createServer({ port: 0, analyses: './analyses' });
 */
export async function createServer(options?: ServerOptions): Promise<DatabenchServer> {
  const server = await import('./server/create-server.js');
  return server.createServer(options);
}

/**
 * Serve one analysis at `/` (the original's `databench.run`).
 *
 * @example
 * await run(Hello, { path: import.meta.dirname });
 */
export async function run(
  analysisClass: AnalysisClass,
  options?: RunOptions,
): Promise<DatabenchServer> {
  const server = await import('./server/create-server.js');
  return server.run(analysisClass, options);
}

/** Helpers for analyses: images as data URIs. */
export const utils: {
  /** PNG bytes as a `data:image/png;base64,` URI for `<img src>`. */
  pngToSrc: typeof pngToSrc;
  /** An SVG document as a percent-encoded `data:image/svg+xml` URI for `<img src>`. */
  svgToSrc: typeof svgToSrc;
  /**
   * Render a figure (a Vega-Lite or Vega spec, an SVG string, an object with
   * `toSVG()`) on the server as a data URI; the plotting packages are
   * optional and named in the error when missing.
   */
  figToSrc: typeof figToSrc;
} = { pngToSrc, svgToSrc, figToSrc };
