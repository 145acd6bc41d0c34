import type { ProcessLoad } from '../../protocol/index.js';
import { UIElement, defaultRoot, unwired, type AnyConnection, type WireRoot } from './element.js';

/**
 * A `<progress data-process="run">` that follows the progress of the action
 * `run` (`this.progress(fraction, message)` in its handler), whoever started
 * it: the bar moves with each `__process` progress frame (indeterminate for
 * a null fraction), its `title` is the message, and it is full when the call
 * ends (left where it was when the call was cancelled or failed).
 *
 * @example
 * <progress data-process="run"></progress>
 */
export class ProcessProgress extends UIElement<HTMLProgressElement> {
  /** The action followed. */
  readonly process: string;
  /** Calls of the action seen in progress frames, waiting for their end. */
  private readonly ids = new Set<unknown>();

  constructor(node: HTMLProgressElement) {
    super(node);
    this.process = node.getAttribute('data-process') ?? '';
    this.wireSignal = null;
    if (!node.hasAttribute('max')) node.max = 1;
    // empty until the action reports (an indeterminate bar would say it runs)
    if (!node.hasAttribute('value')) node.value = 0;
  }

  /** Show one `__process` frame (frames of other actions are ignored). */
  update(load: ProcessLoad): this {
    if (load.status === 'progress') {
      if (load.action !== this.process) return this;
      this.ids.add(load.id);
      if (typeof load.fraction === 'number') this.node.value = load.fraction * this.node.max;
      else this.node.removeAttribute('value');
      if (typeof load.message === 'string') this.node.title = load.message;
    } else if (load.status === 'end' && this.ids.delete(load.id)) {
      if (!load.cancelled && !load.error) this.node.value = this.node.max;
    }
    return this;
  }

  /** Wire every `<progress data-process>` under `root`. */
  static wire(connection: AnyConnection, root?: WireRoot): ProcessProgress[] {
    return unwired<HTMLProgressElement>(defaultRoot(root), 'progress[data-process]')
      .filter((node) => node.getAttribute('data-process'))
      .map((node) => {
        const widget = new ProcessProgress(node);
        connection.on('__process', (load: unknown) => {
          if (typeof load === 'object' && load !== null) widget.update(load as ProcessLoad);
        });
        return widget;
      });
  }
}
