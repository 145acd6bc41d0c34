/** The public test harness: `import { AnalysisTest } from 'databench-ts/testing'`. */
export { AnalysisTest } from './analysis-test.js';
export type { AnalysisTestOptions, EmittedMessage } from './analysis-test.js';
export { testBackend } from './backend-suite.js';
export type { TestBackendOptions } from './backend-suite.js';
export { testKernel } from './kernel-suite.js';
export type { KernelSetup, TestKernelOptions } from './kernel-suite.js';
