import { DatabenchError } from '../../protocol/index.js';
import type { Connection } from '../connection.js';

/** Any Connection, whatever its contract: widgets work with names found in the page. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyConnection = Connection<any>;

/** Where `ui.wire` looks for elements: the document or a part of it. */
export type WireRoot = Document | Element | DocumentFragment;

/** What a widget listens to: a signal name, or `{signal: key}` for one key of a `data`-like frame. */
export type WireSignal = string | { [signal: string]: string };

/** A page element that a widget has taken over; `databenchUI` is the widget (as in databench 0.7). */
export type WiredElement<N extends Element = HTMLElement> = N & { databenchUI?: UIElement };

function isSkipped(node: Element): boolean {
  const skip = node.getAttribute('data-skipwire');
  return skip !== null && skip.toLowerCase() !== 'false' && skip !== '0';
}

/**
 * The base of every widget: finds its action and signal names in the page
 * (databench 0.7's rules) and marks the element as wired.
 */
export abstract class UIElement<N extends HTMLElement = HTMLElement> {
  readonly node: WiredElement<N>;
  /** The action this element sends (`data-action`, then `name`, then `id`). */
  actionName: string | null;
  /** The signal this element shows (see {@link UIElement.determineWireSignal}). */
  wireSignal: WireSignal | null;

  constructor(node: N) {
    this.node = node;
    this.node.databenchUI = this;
    this.actionName = UIElement.determineActionName(node);
    this.wireSignal = UIElement.determineWireSignal(node);
  }

  /** Formats the message of an action before it is emitted; override to change it. */
  actionFormat(value: unknown): unknown {
    return value;
  }

  /**
   * The action name of `node`: its `data-action`, else `name`, else `id`;
   * null when it has none or opts out with `data-skipwire`.
   */
  static determineActionName(node: Element): string | null {
    if (isSkipped(node)) return null;
    return (
      node.getAttribute('data-action') ||
      node.getAttribute('name') ||
      node.getAttribute('id') ||
      null
    );
  }

  /**
   * The signal `node` listens to: `data-signal` (`"data:key"` means
   * `{data: 'key'}`, a plain name a whole signal), else `{data: <action name>}`;
   * null with `data-skipwire` or no name.
   */
  static determineWireSignal(node: Element): WireSignal | null {
    if (isSkipped(node)) return null;
    const signal = node.getAttribute('data-signal');
    if (signal) {
      const colon = signal.indexOf(':');
      if (colon >= 1) return { [signal.slice(0, colon)]: signal.slice(colon + 1) };
      return signal;
    }
    const action = UIElement.determineActionName(node);
    return action === null ? null : { data: action };
  }
}

/** Elements under `root` (and `root` itself) matching `selector` that no widget has taken yet. */
export function unwired<N extends Element>(root: WireRoot, selector: string): N[] {
  const found: N[] = [];
  if (root instanceof Element && root.matches(selector)) found.push(root as N);
  for (const node of Array.from(root.querySelectorAll<Element>(selector))) found.push(node as N);
  return found.filter((node) => (node as WiredElement<Element>).databenchUI === undefined);
}

/** The text shown for a value: strings as they are, objects as JSON, null/undefined as nothing. */
export function displayText(value: unknown): string {
  switch (typeof value) {
    case 'undefined':
      return '';
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'object':
      if (value === null) return '';
      try {
        return JSON.stringify(value);
      } catch {
        return Object.prototype.toString.call(value);
      }
    default:
      return Object.prototype.toString.call(value);
  }
}

/** The default root of `wire`: the page's document. */
export function defaultRoot(root?: WireRoot): WireRoot {
  if (root) return root;
  if (typeof document === 'undefined') {
    throw new DatabenchError('NO_DOCUMENT', 'ui.wire needs a root element outside a browser page');
  }
  return document;
}

/** Listen to `signal` on `connection` (no-op for a null signal). */
export function listen(
  connection: AnyConnection,
  signal: WireSignal | null,
  callback: (value: unknown) => void,
): void {
  if (signal === null) return;
  (connection.on as (s: WireSignal, cb: (value: unknown) => void) => unknown)(signal, callback);
}

/**
 * On a read-only view of a shared page (`connection.viewing`), a control is
 * disabled: the server would refuse what it sends.
 */
export function disableWhenViewing(connection: AnyConnection, node: HTMLElement): void {
  if (!connection.viewing) return;
  (node as HTMLInputElement).disabled = true;
  node.setAttribute('aria-disabled', 'true');
  node.title = 'A read-only view of a shared page';
}

/** A widget that shows a value from the server. */
interface ValueWidget {
  wireSignal: WireSignal | null;
  value(value: unknown): unknown;
}

/** A widget that also sends its changes as an action. */
interface InputWidget extends ValueWidget {
  actionName: string | null;
  changeCB: (value: unknown) => void;
}

/**
 * Whether an input asks the server to run its action as a `latest` call
 * (see `Connection.emitLatest`): `data-concurrency="latest"`, or
 * `"queue"` for no request; without the attribute, `byDefault`.
 */
export function asksLatest(node: Element, byDefault: boolean): boolean {
  const asked = node.getAttribute('data-concurrency');
  return asked === null ? byDefault : asked.trim().toLowerCase() === 'latest';
}

/**
 * Wire the inputs under `root` matching `selector` that have an action name:
 * a change emits the action (as a `latest` call when the input asks, see
 * {@link asksLatest}: sliders do by default), the signal (by default
 * `data:<action>`) shows the server's value.
 */
export function wireInputs<N extends HTMLElement, W extends InputWidget>(
  connection: AnyConnection,
  root: WireRoot,
  selector: string,
  make: (node: N) => W,
  latestByDefault = false,
): W[] {
  return wireAll(
    connection,
    root,
    selector,
    (node) => UIElement.determineActionName(node),
    make,
    (widget, node) => {
      disableWhenViewing(connection, node);
      const action = widget.actionName as string;
      widget.changeCB = asksLatest(node, latestByDefault)
        ? (value) => connection.emitLatest(action, value)
        : (value) => connection.emit(action, value);
    },
  );
}

/** Wire the elements under `root` matching `selector` that have a signal: it shows their value. */
export function wireDisplays<N extends HTMLElement, W extends ValueWidget>(
  connection: AnyConnection,
  root: WireRoot,
  selector: string,
  make: (node: N) => W,
): W[] {
  return wireAll(connection, root, selector, (node) => UIElement.determineWireSignal(node), make);
}

/** The unwired matches that `name` finds a name for, made into widgets that show their signal. */
function wireAll<N extends HTMLElement, W extends ValueWidget>(
  connection: AnyConnection,
  root: WireRoot,
  selector: string,
  name: (node: N) => unknown,
  make: (node: N) => W,
  setup?: (widget: W, node: N) => void,
): W[] {
  return unwired<N>(root, selector)
    .filter((node) => name(node) !== null)
    .map((node) => {
      const widget = make(node);
      setup?.(widget, node);
      listen(connection, widget.wireSignal, (value) => widget.value(value));
      return widget;
    });
}
