import {
  defaultRoot,
  displayText,
  UIElement,
  wireInputs,
  type AnyConnection,
  type WireRoot,
} from './element.js';

/**
 * An `<input type="text">` that sends its action with its value on `change`
 * (Enter or leaving the field), and on every key with `data-keyup` or
 * {@link TextInput.triggerOnKeyUp}. It shows the data key of its name.
 *
 * @example
 * <input type="text" name="greeting" data-keyup>
 */
export class TextInput extends UIElement<HTMLInputElement> {
  /** Formats a value from the server before it is shown. */
  formatFn: (value: unknown) => unknown = (value) => value;
  /** Called with the (formatted) value on changes; `wire` sets it. */
  changeCB: (value: unknown) => void = () => undefined;
  private onKeyUp = false;
  private lastSent: string | undefined;
  private readonly changeListener = (): void => this.change();

  constructor(node: HTMLInputElement) {
    super(node);
    node.addEventListener('change', this.changeListener, false);
    if (node.hasAttribute('data-keyup')) this.triggerOnKeyUp(true);
  }

  /** Also send on every `keyup` (true) or only on `change` (false, the default). */
  triggerOnKeyUp(on = true): this {
    if (on && !this.onKeyUp) this.node.addEventListener('keyup', this.changeListener, false);
    if (!on && this.onKeyUp) this.node.removeEventListener('keyup', this.changeListener, false);
    this.onKeyUp = on;
    return this;
  }

  /** Send the current value (not again when it did not change, as on arrow keys). */
  change(): void {
    const value = this.node.value;
    if (value === this.lastSent) return;
    this.lastSent = value;
    this.changeCB(this.actionFormat(value));
  }

  /** The current value; with an argument, show that value from the server instead. */
  value(): string;
  value(value: unknown): this;
  value(...args: [] | [unknown]): string | this {
    if (args.length === 0) return this.node.value;
    // sending on keyup, the server echoes older values while the user types:
    // they must not overwrite what is being typed
    if (this.onKeyUp && this.node.ownerDocument.activeElement === this.node) return this;
    const text = displayText(this.formatFn(args[0]));
    if (this.node.value !== text) this.node.value = text;
    // the server's value is what the field holds now: typing it again is a change
    this.lastSent = text;
    return this;
  }

  /** The field's current text (databench 0.7's `getValue`). */
  getValue(): string {
    return this.node.value;
  }

  /** Show `value` in the field (databench 0.7's `setValue`). */
  setValue(value?: unknown): this {
    return this.value(value);
  }

  /** Wire every `<input type="text">` with an action name under `root`. */
  static wire(connection: AnyConnection, root?: WireRoot): TextInput[] {
    return wireInputs<HTMLInputElement, TextInput>(
      connection,
      defaultRoot(root),
      'input[type="text" i]',
      (node) => new TextInput(node),
    );
  }
}
