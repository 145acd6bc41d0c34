import { internals, type AnalysisClass, type AnyAnalysis as Analysis } from './analysis.js';
import { runAction } from './instance.js';
import type { ExtraRoute } from './routes.js';

/**
 * One kind of analysis as the server knows it: its name, class, folder,
 * extra routes and command-line arguments.
 */
export class Meta {
  constructor(
    readonly name: string,
    readonly analysisClass: AnalysisClass,
    readonly analysisPath: string,
    readonly extraRoutes: ExtraRoute[] = [],
    readonly cliArgs: string[] = [],
  ) {}

  /**
   * Run the action `actionName` on `analysis` with `message`: every handler of
   * the action and every `*` handler, one after the other. An object message
   * with `__process_id` gets `__process` start and end frames around the run
   * (the end frame has `error: true` when a handler failed, `cancelled: true`
   * when the call was cancelled). A handler that throws becomes an `error`
   * signal; the returned Promise never rejects. Frames go to the page (or
   * AnalysisTest's recorder) the analysis belongs to.
   *
   * @example await Meta.runProcess(analysis, 'run', { samples: 1000, __process_id: 3 });
   */
  static runProcess(analysis: Analysis, actionName: string, message?: unknown): Promise<void> {
    return runAction(analysis, internals.linkOf(analysis), actionName, message);
  }
}
