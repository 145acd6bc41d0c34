/**
 * databench: live, interactive data analyses in the browser.
 *
 * @example
 * import { Analysis, on } from 'databench';
 * export class Pi extends Analysis<{ pi: number }> {
 *   @on async run() { await this.data.set('pi', 3.14); }
 * }
 */
import { pngToSrc, svgToSrc } from './server/utils.js';
import { figToSrc } from './server/figure.js';

export { Analysis, isAnalysisClass } from './server/analysis.js';
export type { AnalysisClass, AnyAnalysis, EmitFn } from './server/analysis.js';
export { on, onAction } from './server/actions.js';
export { Meta } from './server/meta.js';
export type { ExtraRoute } from './server/meta.js';
export { Datastore, MemoryBackend } from './datastore/index.js';
export type { DatastoreBackend, DatastoreOptions } from './datastore/index.js';
export { DatabenchError, ProtocolError, encodeValue } from './protocol/index.js';
export { createLogger, setDefaultLogger } from './server/logger.js';
export type { Logger, LogLevel } from './server/logger.js';

/** Helpers for analyses: images as data URIs. */
export const utils = { pngToSrc, svgToSrc, figToSrc };
