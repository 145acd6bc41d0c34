import type { Logger } from '../util/logger.js';
import type { Meta } from '../analysis/meta.js';
import type { ExtraRoute } from '../analysis/routes.js';
import { AnalysisSession } from './analysis-session.js';
import type { Kernel, KernelSession, OpenRequest, PagePort } from './kernel.js';

/**
 * The default kernel: analysis instances in the server's own thread. Emits
 * and datastore changes go straight into the page's outbound queue, so this
 * path costs nothing over calling the analysis directly.
 */
export class InProcessKernel implements Kernel {
  readonly kind = 'in-process';

  constructor(
    readonly meta: Meta,
    private readonly logger: Logger,
  ) {}

  get name(): string {
    return this.meta.name;
  }

  get className(): string {
    return this.meta.analysisClass.name;
  }

  get extraRoutes(): readonly ExtraRoute[] {
    return this.meta.extraRoutes;
  }

  open(port: PagePort, request: OpenRequest): KernelSession {
    return new AnalysisSession(this.meta, port, request, this.logger);
  }

  retire(): void {}

  async dispose(): Promise<void> {}
}
