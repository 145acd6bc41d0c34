import {
  defaultRoot,
  displayText,
  UIElement,
  wireInputs,
  type AnyConnection,
  type WireRoot,
} from './element.js';

/**
 * An `<input type="range">` that sends its action with its value on `change`
 * and shows the data key of its name. Its `<label for=…>` shows the current
 * value (in a `<span data-slider-value>` added to the label, as text).
 *
 * `ui.wire` sends its action as a `latest` call (`Connection.emitLatest`):
 * it answers while a long action of the page runs, and only the newest
 * value counts, unless the handler declares its concurrency;
 * `data-concurrency="queue"` sends it as a plain action.
 *
 * Hooks, for a slider whose positions are not the values:
 * `valueToSlider(value)` (server value → slider position),
 * `sliderToValue(position)` (→ value sent), `formatFn(value)` (→ label text).
 *
 * @example
 * <label for="samples">Samples:</label>
 * <input type="range" id="samples" min="100" max="10000" step="100" value="1000">
 */
export class Slider extends UIElement<HTMLInputElement> {
  readonly labelNode: HTMLElement | null;
  private readonly valueNode: HTMLElement | null;
  /** A server value → a slider position. */
  valueToSlider: (value: unknown) => number | string = (value) => value as number;
  /** A slider position → the value sent and shown. */
  sliderToValue: (position: number) => unknown = (position) => position;
  /** A value → the text in the label. */
  formatFn: (value: unknown) => unknown = (value) => value;
  /** Called with the (formatted) value on changes; `wire` sets it. */
  changeCB: (value: unknown) => void = () => undefined;

  constructor(node: HTMLInputElement, labelNode?: HTMLElement | null) {
    super(node);
    this.labelNode = labelNode ?? null;
    this.valueNode = this.labelNode ? valueSpan(this.labelNode) : null;
    node.addEventListener('input', () => this.render(), false);
    node.addEventListener('change', () => this.change(), false);
    this.render();
  }

  /** Update the label. */
  render(): this {
    if (this.valueNode) this.valueNode.textContent = displayText(this.formatFn(this.value()));
    return this;
  }

  /** Send the current value. */
  change(): void {
    this.changeCB(this.actionFormat(this.value()));
  }

  /** The current value (`sliderToValue` of the position); with an argument, show that server value. */
  value(): unknown;
  value(value: unknown): this;
  value(...args: [] | [unknown]): unknown {
    if (args.length === 0) return this.sliderToValue(parseFloat(this.node.value));
    if (args[0] === null || args[0] === undefined) return this;
    const position = String(this.valueToSlider(args[0]));
    if (this.node.value !== position) this.node.value = position;
    return this.render();
  }

  /** The current value, `sliderToValue` of the position (databench 0.7's `getValue`). */
  getValue(): unknown {
    return this.value();
  }

  /** Move the slider to a server value (databench 0.7's `setValue`). */
  setValue(value: unknown): this {
    return this.value(value);
  }

  /** The `<label for>` of each element with an id under `root`. */
  static labelsForSliders(root: WireRoot): Map<string, HTMLLabelElement> {
    const labels = new Map<string, HTMLLabelElement>();
    for (const label of Array.from(root.querySelectorAll<HTMLLabelElement>('label[for]'))) {
      if (!labels.has(label.htmlFor)) labels.set(label.htmlFor, label);
    }
    return labels;
  }

  /** Wire every `<input type="range">` with an action name under `root`. */
  static wire(connection: AnyConnection, root?: WireRoot): Slider[] {
    const r = defaultRoot(root);
    const labels = Slider.labelsForSliders(r);
    return wireInputs<HTMLInputElement, Slider>(
      connection,
      r,
      'input[type="range" i]',
      (node) => new Slider(node, node.id ? labels.get(node.id) : null),
      true,
    );
  }
}

function valueSpan(label: HTMLElement): HTMLElement {
  const existing = label.querySelector<HTMLElement>('[data-slider-value]');
  if (existing) return existing;
  const span = label.ownerDocument.createElement('span');
  span.setAttribute('data-slider-value', '');
  label.append(' ', span);
  return span;
}
