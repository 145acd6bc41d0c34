import {
  defaultRoot,
  displayText,
  UIElement,
  wireInputs,
  type AnyConnection,
  type WireRoot,
} from './element.js';

/**
 * A `<select>` that sends its action with the selected value (a list of
 * values for `<select multiple>`) on change and shows the data key of its name.
 *
 * @example
 * <select name="method"><option>mc</option><option>grid</option></select>
 */
export class Select extends UIElement<HTMLSelectElement> {
  /** Called with the (formatted) selection on changes; `wire` sets it. */
  changeCB: (value: unknown) => void = () => undefined;

  constructor(node: HTMLSelectElement) {
    super(node);
    node.addEventListener('change', () => this.changeCB(this.actionFormat(this.value())), false);
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
    for (const option of options) option.selected = wanted.has(option.value);
    return this;
  }

  /** Wire every `<select>` with an action name under `root`. */
  static wire(connection: AnyConnection, root?: WireRoot): Select[] {
    return wireInputs<HTMLSelectElement, Select>(
      connection,
      defaultRoot(root),
      'select',
      (node) => new Select(node),
    );
  }
}
