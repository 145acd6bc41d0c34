import {
  UIElement,
  defaultRoot,
  displayText,
  unwired,
  type AnyConnection,
  type WireRoot,
} from './element.js';

/** Options of {@link Log}. */
export interface LogOptions {
  /** Lines kept; older ones are dropped. Default: 20. */
  limitNumber?: number;
  /** Characters kept of a line; the rest becomes `…`. Default: 250. */
  limitLength?: number;
}

/**
 * Shows the `log` messages of the analysis (and `warn`/`error`, tagged) and
 * the page's own `emit('log', …)`, as text, bounded to the last lines.
 *
 * @example
 * <pre id="log"></pre>
 */
export class Log extends UIElement {
  readonly limitNumber: number;
  readonly limitLength: number;
  private readonly lines: string[] = [];

  constructor(node: HTMLElement, options: LogOptions = {}) {
    super(node);
    this.limitNumber = Math.max(1, Math.floor(options.limitNumber ?? 20));
    this.limitLength = Math.max(1, Math.floor(options.limitLength ?? 250));
    this.wireSignal = 'log';
  }

  /** The lines shown, oldest first. */
  get messages(): readonly string[] {
    return this.lines;
  }

  /** Add a line: `<source>: <message>` (objects as JSON). */
  add(message: unknown, source = 'unknown'): this {
    let line = `${source.padStart(8)}: ${displayText(message)}`;
    if (line.length > this.limitLength) line = `${line.slice(0, this.limitLength)} …`;
    this.lines.push(line);
    if (this.lines.length > this.limitNumber)
      this.lines.splice(0, this.lines.length - this.limitNumber);
    this.node.textContent = this.lines.join('\n');
    return this;
  }

  /** Wire `#log` under `root` (if there is one). */
  static wire(connection: AnyConnection, root?: WireRoot, options?: LogOptions): Log[] {
    return unwired<HTMLElement>(defaultRoot(root), '#log')
      .filter((node) => UIElement.determineActionName(node) !== null)
      .map((node) => {
        const log = new Log(node, options);
        connection.on('log', (message: unknown) => log.add(message, 'backend'));
        connection.on('warn', (message: unknown) =>
          log.add(`[warn] ${displayText(message)}`, 'backend'),
        );
        connection.on('error', (message: unknown) =>
          log.add(`[error] ${displayText(message)}`, 'backend'),
        );
        connection.preEmit('log', (message: unknown) => {
          log.add(message, 'frontend');
          return message;
        });
        return log;
      });
  }
}
