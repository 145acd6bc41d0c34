import {
  defaultRoot,
  UIElement,
  wireInputs,
  type AnyConnection,
  type WireRoot,
} from './element.js';

/**
 * An `<input type="checkbox">` that sends its action with `true`/`false` on
 * change and shows the data key of its name.
 *
 * @example
 * <input type="checkbox" name="verbose">
 */
export class Checkbox extends UIElement<HTMLInputElement> {
  /** Called with the (formatted) state on changes; `wire` sets it. */
  changeCB: (value: unknown) => void = () => undefined;

  constructor(node: HTMLInputElement) {
    super(node);
    node.addEventListener('change', () => this.changeCB(this.actionFormat(node.checked)), false);
  }

  /** Whether it is checked; with an argument, show that server value (truthy: checked). */
  value(): boolean;
  value(value: unknown): this;
  value(...args: [] | [unknown]): boolean | this {
    if (args.length === 0) return this.node.checked;
    this.node.checked = Boolean(args[0]);
    return this;
  }

  /** Wire every `<input type="checkbox">` with an action name under `root`. */
  static wire(connection: AnyConnection, root?: WireRoot): Checkbox[] {
    return wireInputs<HTMLInputElement, Checkbox>(
      connection,
      defaultRoot(root),
      'input[type="checkbox" i]',
      (node) => new Checkbox(node),
    );
  }
}
