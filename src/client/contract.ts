/**
 * The typed contract between a page and its analysis: the types live in
 * `protocol/contract.ts`, shared with the test harness (`AnalysisTest`).
 */
export type * from '../protocol/contract.js';
