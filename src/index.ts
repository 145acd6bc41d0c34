/**
 * databench: live, interactive data analyses in the browser.
 *
 * @example
 * import { Analysis, on } from 'databench-ts';
 * export class Pi extends Analysis<{ pi: number }> {
 *   @on async run() { await this.data.set('pi', 3.14); }
 * }
 */
import { pngToSrc, svgToSrc } from './analysis/utils.js';
import type { figToSrc } from './analysis/figure.js';
import type { AnalysisClass } from './analysis/analysis.js';
import type { DatabenchServer, RunOptions, ServerOptions } from './server/create-server.js';

export { Analysis, isAnalysisClass } from './analysis/analysis.js';
export type { AnalysisClass, AnyAnalysis, EmitFn } from './analysis/analysis.js';
export { on, onAction } from './analysis/actions.js';
export type { ActionOptions, Concurrency } from './analysis/actions.js';
export { Meta } from './analysis/meta.js';
export { UploadedFile } from './analysis/upload.js';
export type { ExtraRoute } from './analysis/routes.js';
export type { AuthUser } from './analysis/user.js';
export { allowCrossOrigin } from './analysis/routes.js';
export { Datastore, MemoryBackend } from './datastore/index.js';
export type { DataProxy, DatastoreBackend, DatastoreOptions, ListItem } from './datastore/index.js';
export { DatabenchError, ProtocolError, encodeValue } from './protocol/index.js';
export type { DatabenchErrorCode, PatchOperation } from './protocol/index.js';
export { createLogger, setDefaultLogger } from './util/logger.js';
export type { Logger, LogLevel } from './util/logger.js';
export type {
  DatabenchServer,
  RunOptions,
  ServerMode,
  ServerOptions,
} from './server/create-server.js';
export type { TypecheckMode } from './server/options.js';
export type { AnalysisAccess, Authenticate, Authorize } from './server/auth.js';
export type { OidcOptions } from './server/oidc.js';

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
} = {
  pngToSrc,
  svgToSrc,
  // the figure module loads with the first figure: an analysis that draws none never holds it
  figToSrc: async (...args) => (await import('./analysis/figure.js')).figToSrc(...args),
};
