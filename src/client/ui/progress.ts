import {
  defaultRoot,
  UIElement,
  wireDisplays,
  type AnyConnection,
  type WireRoot,
} from './element.js';

/**
 * A `<progress>` bound to a data key (`data-signal`, `data-action`, `name`
 * or `id`): a number sets its value, `{value, max}` both, null makes it
 * indeterminate.
 *
 * @example
 * <progress id="done" max="1"></progress>
 */
export class Progress extends UIElement<HTMLProgressElement> {
  /** The current value (null when indeterminate); with an argument, show that server value. */
  value(): number | null;
  value(value: unknown): this;
  value(...args: [] | [unknown]): number | null | this {
    if (args.length === 0) return this.node.hasAttribute('value') ? this.node.value : null;
    let value = args[0];
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const { max, value: v } = value as { max?: unknown; value?: unknown };
      const m = Number(max);
      if (max !== undefined && Number.isFinite(m) && m > 0) this.node.max = m;
      value = v;
    }
    const n = Number(value);
    if (value === null || value === undefined || !Number.isFinite(n))
      this.node.removeAttribute('value');
    else this.node.value = n;
    return this;
  }

  /** Wire every `<progress>` with a name under `root`. */
  static wire(connection: AnyConnection, root?: WireRoot): Progress[] {
    return wireDisplays<HTMLProgressElement, Progress>(
      connection,
      defaultRoot(root),
      'progress',
      (node) => new Progress(node),
    );
  }
}
