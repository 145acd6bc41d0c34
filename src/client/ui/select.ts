import {
  defaultRoot,
  displayText,
  listen,
  UIElement,
  wireInputs,
  type AnyConnection,
  type WireRoot,
  type WireSignal,
} from './element.js';

/** One option of a `data-options` list: a value (shown as it is) or `{value, label}`. */
function optionOf(item: unknown): { value: string; label: string } {
  if (typeof item === 'object' && item !== null && !Array.isArray(item) && 'value' in item) {
    const { value, label } = item as { value: unknown; label?: unknown };
    const text = displayText(value);
    return { value: text, label: label === undefined ? text : displayText(label) };
  }
  const text = displayText(item);
  return { value: text, label: text };
}

/**
 * A `<select>` that sends its action with the selected value (a list of
 * values for `<select multiple>`) on change and shows the data key of its name.
 * With `data-options="data:columns"` its options come from that signal: a
 * list of values, or of `{value, label}`; the selection stays when the new
 * options still have it, and the data key of its name picks among them
 * (whether it arrives before or after the options).
 *
 * @example
 * <select name="method"><option>mc</option><option>grid</option></select>
 * <select name="column" data-options="data:columns"></select>
 */
export class Select extends UIElement<HTMLSelectElement> {
  /** Called with the (formatted) selection on changes; `wire` sets it. */
  changeCB: (value: unknown) => void = () => undefined;
  /** Where the options come from (`data-options`), if anywhere. */
  readonly optionsSignal: WireSignal | null;
  /** The selection the server last asked for: kept for options that come later. */
  private wanted: Set<string> | undefined;

  constructor(node: HTMLSelectElement) {
    super(node);
    const options = node.getAttribute('data-options');
    const colon = options === null ? -1 : options.indexOf(':');
    this.optionsSignal =
      options === null || options === ''
        ? null
        : colon >= 1
          ? { [options.slice(0, colon)]: options.slice(colon + 1) }
          : options;
    node.addEventListener('change', () => {
      this.wanted = undefined;
      this.changeCB(this.actionFormat(this.value()));
    });
  }

  /** The selected value (or values); with an argument, select that server value (or list). */
  value(): string | string[];
  value(value: unknown): this;
  value(...args: [] | [unknown]): string | string[] | this {
    const options = Array.from(this.node.options);
    if (args.length === 0) {
      return this.node.multiple
        ? options.filter((o) => o.selected).map((o) => o.value)
        : this.node.value;
    }
    const wanted = new Set((Array.isArray(args[0]) ? args[0] : [args[0]]).map(displayText));
    this.wanted = wanted;
    for (const option of options) option.selected = wanted.has(option.value);
    return this;
  }

  /** Replace the options (`data-options`): a list of values or of `{value, label}`. */
  options(items: unknown): this {
    const list = Array.isArray(items) ? items.map(optionOf) : [];
    const keep = this.wanted ?? new Set(this.node.multiple ? this.value() : [this.node.value]);
    const doc = this.node.ownerDocument;
    this.node.replaceChildren(
      ...list.map(({ value, label }) => {
        const option = doc.createElement('option');
        option.value = value;
        option.textContent = label;
        option.selected = keep.has(value);
        return option;
      }),
    );
    return this;
  }

  /** Wire every `<select>` with an action name under `root`. */
  static wire(connection: AnyConnection, root?: WireRoot): Select[] {
    const selects = wireInputs<HTMLSelectElement, Select>(
      connection,
      defaultRoot(root),
      'select',
      (node) => new Select(node),
    );
    for (const select of selects) {
      listen(connection, select.optionsSignal, (items) => select.options(items));
    }
    return selects;
  }
}
