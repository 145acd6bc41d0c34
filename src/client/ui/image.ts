import {
  defaultRoot,
  UIElement,
  wireDisplays,
  type AnyConnection,
  type WireRoot,
} from './element.js';

/**
 * An `<img data-signal=…>` whose `src` is the signal's value (a URL or a
 * `data:image/…` URL such as `utils.figToSrc` makes).
 *
 * @example
 * <img alt="plot" data-signal="plot">  <img data-signal="data:plot">
 */
export class Image extends UIElement<HTMLImageElement> {
  /** The current `src`; with an argument, set it (anything but a non-empty string removes it). */
  value(): string;
  value(value: unknown): this;
  value(...args: [] | [unknown]): string | this {
    if (args.length === 0) return this.node.src;
    const src = args[0];
    if (typeof src === 'string' && src !== '') this.node.src = src;
    else this.node.removeAttribute('src');
    return this;
  }

  /** The image's `src` (databench 0.7's `getSrc`). */
  getSrc(): string {
    return this.node.src;
  }

  /** Set the image's `src` (databench 0.7's `setSrc`). */
  setSrc(src: unknown): this {
    return this.value(src);
  }

  /** Wire every `<img data-signal>` under `root`. */
  static wire(connection: AnyConnection, root?: WireRoot): Image[] {
    return wireDisplays<HTMLImageElement, Image>(
      connection,
      defaultRoot(root),
      'img[data-signal]',
      (node) => new Image(node),
    );
  }
}
