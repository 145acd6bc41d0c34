import { encodeValue } from '../protocol/encode.js';
import { describeError } from '../protocol/errors.js';
import { frameFromEncoded, parseQs } from '../protocol/messages.js';
import type { AnyAnalysis } from '../server/analysis.js';
import type { Logger } from '../server/logger.js';
import { Meta } from '../server/meta.js';
import { ActionQueue } from '../server/queue.js';
import type { KernelSession, OpenRequest, PagePort } from './kernel.js';

/** What a kernel needs of the page: the in-process Session, or a worker's outbox. */
export type SessionPort = Pick<PagePort, 'opened' | 'frame' | 'emit' | 'change' | 'done' | 'fail'>;

/**
 * How long a closing session waits for its running handler before it runs
 * `disconnected` anyway, and how long `disconnected` itself may take before
 * everything is released regardless.
 */
export const CLOSE_GRACE_MS = 1000;

function delay(ms: number): Promise<false> {
  return new Promise((resolve) => setTimeout(() => resolve(false), ms).unref());
}

/**
 * One page's analysis instance and its action queue: creates the instance,
 * sends the snapshots, runs `connect`, `args`, `connected`, then the page's
 * actions one after the other, and on close `disconnected`. The in-process
 * kernel and the worker threads run sessions with this same class, so an
 * analysis behaves the same on either side of the boundary.
 */
export class AnalysisSession implements KernelSession {
  private analysis: AnyAnalysis | undefined;
  private readonly queue = new ActionQueue();
  private closing = false;

  constructor(
    private readonly meta: Meta,
    private readonly port: SessionPort,
    request: OpenRequest,
    private readonly logger: Logger,
  ) {
    void this.queue.enqueue(() => this.start(request));
  }

  private async start(request: OpenRequest): Promise<void> {
    let analysis: AnyAnalysis;
    try {
      analysis = await this.meta.createAnalysis({
        id: request.id,
        logger: this.logger,
        sink: this.port,
        owner: request.owner,
      });
    } catch (error) {
      const text = `could not start analysis "${this.meta.name}": ${describeError(error).message}`;
      this.logger.error(`${text}\n${describeError(error).stack}`);
      this.port.fail(text, 1011, 'analysis failed to start');
      return;
    }
    if (this.closing) {
      analysis.dispose();
      return;
    }
    this.analysis = analysis;
    this.port.opened();
    if (request.resumed) {
      const data = analysis.snapshotFrame('data');
      if (data !== undefined) void this.port.frame(data);
    }
    const classData = analysis.snapshotFrame('class_data');
    if (classData !== undefined) void this.port.frame(classData);

    await Meta.runProcess(analysis, 'connect');
    await Meta.runProcess(analysis, 'args', {
      cli_args: request.cliArgs,
      request_args: parseQs(request.requestArgs),
    });
    await Meta.runProcess(analysis, 'connected');
  }

  action(name: string, hasLoad: boolean, load: unknown): void {
    const message = hasLoad ? load : undefined;
    this.queue
      .enqueue(async () => {
        if (this.analysis && !this.closing) await Meta.runProcess(this.analysis, name, message);
      })
      .catch((error: unknown) => this.failed(name, error))
      .finally(() => this.port.done());
  }

  /** An action failed outside its handlers (e.g. a `__process` frame that cannot be encoded). */
  private failed(action: string, error: unknown): void {
    const { message, stack } = describeError(error);
    const text = `action "${action}" failed: ${message}`;
    this.logger.error(`[${this.meta.name}] ${text}\n${stack}`);
    void this.port.frame(frameFromEncoded('error', encodeValue(text)));
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.analysis?.cancel();
    // the handler that runs now gets a grace period; queued actions are skipped
    const drained = await Promise.race([
      this.queue.enqueue(async () => undefined).then(() => true),
      delay(CLOSE_GRACE_MS),
    ]);
    const analysis = this.analysis;
    if (!analysis) return;
    if (!drained) {
      this.logger.warn(
        `[${this.meta.name}] a handler of a closed session still runs after ${CLOSE_GRACE_MS} ms: running disconnected anyway`,
      );
    }
    try {
      const finished = await Promise.race([
        Meta.runProcess(analysis, 'disconnected').then(() => true),
        delay(CLOSE_GRACE_MS),
      ]);
      if (!finished) {
        this.logger.warn(
          `[${this.meta.name}] disconnected did not finish within ${CLOSE_GRACE_MS} ms: releasing the session`,
        );
      }
    } finally {
      analysis.dispose();
    }
  }
}
