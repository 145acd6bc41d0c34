import {
  UIElement,
  defaultRoot,
  displayText,
  unwired,
  type AnyConnection,
  type WireRoot,
} from './element.js';

/** At most this many different alerts are shown; the oldest goes first. */
const MAX_ALERTS = 10;

/**
 * Shows connection problems (the Connection's `errorCB`): one
 * `<div class="alert alert-danger">` per different message, with a count
 * when it repeats; cleared when the connection is back. Text only.
 *
 * @example
 * <div id="databench-alerts"></div>
 */
export class StatusLog extends UIElement {
  private readonly counts = new Map<string, number>();

  constructor(node: HTMLElement) {
    super(node);
    this.wireSignal = null;
  }

  /** The messages shown with their counts. */
  get messages(): ReadonlyMap<string, number> {
    return this.counts;
  }

  /** Add a message; with none, clear every message. */
  add(message?: unknown): this {
    if (message === undefined || message === null) {
      this.counts.clear();
    } else {
      const text = displayText(message);
      this.counts.set(text, (this.counts.get(text) ?? 0) + 1);
      while (this.counts.size > MAX_ALERTS) {
        const oldest = this.counts.keys().next().value as string;
        this.counts.delete(oldest);
      }
    }
    return this.render();
  }

  /** Show the current alerts, each with how often it came. */
  render(): this {
    const doc = this.node.ownerDocument;
    const alerts = Array.from(this.counts, ([text, count]) => {
      const div = doc.createElement('div');
      div.className = 'alert alert-danger';
      div.setAttribute('role', 'alert');
      if (count > 1) {
        const b = doc.createElement('b');
        b.textContent = `(${count})`;
        div.append(b, ' ');
      }
      div.append(text);
      return div;
    });
    this.node.replaceChildren(...alerts);
    return this;
  }

  /** Wire `#databench-alerts` under `root` to the connection's `errorCB`. */
  static wire(connection: AnyConnection, root?: WireRoot): StatusLog[] {
    return unwired<HTMLElement>(defaultRoot(root), '#databench-alerts')
      .filter((node) => UIElement.determineActionName(node) !== null)
      .map((node) => {
        const status = new StatusLog(node);
        connection.errorCB = (message) => {
          status.add(message);
        };
        return status;
      });
  }
}
