import {
  UIElement,
  defaultRoot,
  displayText,
  listen,
  unwired,
  type AnyConnection,
  type WireRoot,
} from './element.js';

/**
 * Shows a value: `<span>`, `<p>`, `<div>`, `<i>`, `<b>` or `<pre>` with
 * `data-action` (shows the data key of that name) or `data-signal`. The value
 * is set as text; only an element with `data-html` takes it as HTML.
 *
 * @example
 * <span data-action="pi"></span>  <pre data-signal="data:pi"></pre>
 */
export class Text extends UIElement {
  /** Formats the value before it is shown. */
  formatFn: (value: unknown) => unknown = (value) => value;

  /** Show `value` (as text unless the element has `data-html`). */
  value(value: unknown): this {
    const text = displayText(this.formatFn(value));
    if (this.node.hasAttribute('data-html')) this.node.innerHTML = text;
    else this.node.textContent = text;
    return this;
  }

  /** What the element shows (databench 0.7's `getValue`). */
  getValue(): string {
    return this.node.hasAttribute('data-html')
      ? this.node.innerHTML
      : (this.node.textContent ?? '');
  }

  /** Show `value` (databench 0.7's `setValue`). */
  setValue(value?: unknown): this {
    return this.value(value);
  }

  /** Wire every text element with `data-action` or `data-signal` under `root`. */
  static wire(connection: AnyConnection, root?: WireRoot): Text[] {
    return unwired<HTMLElement>(defaultRoot(root), TEXT_SELECTOR)
      .filter((node) => UIElement.determineWireSignal(node) !== null)
      .map((node) => {
        const text = new Text(node);
        listen(connection, text.wireSignal, (value) => text.value(value));
        return text;
      });
  }
}

const TEXT_SELECTOR = ['span', 'p', 'div', 'i', 'b', 'pre']
  .flatMap((tag) => [`${tag}[data-action]`, `${tag}[data-signal]`])
  .join(', ');
