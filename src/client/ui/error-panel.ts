import type { ErrorLoad, LoadErrorLoad } from '../../protocol/index.js';
import { UIElement, defaultRoot, type AnyConnection, type WireRoot } from './element.js';

/** At most this many different errors are shown; the oldest goes first. */
const MAX_ERRORS = 20;

interface Entry {
  key: string;
  count: number;
  title: string;
  message: string;
  location: string | null;
  frame: string | null;
}

/**
 * The page's error panel (`#databench-errors`, made after
 * `#databench-alerts` when the page has none): a handler's failure
 * (`__error`: the action, the message and the file:line of the user's code)
 * and a failed load of the analysis (`__load_error`, with the code frame),
 * newest first, a repeat counted instead of shown twice, each dismissable.
 * Text only: nothing from the server is read as HTML.
 *
 * @example
 * <div id="databench-errors"></div>
 */
export class ErrorPanel extends UIElement {
  private entries: Entry[] = [];
  /** A load error is shown: the next `__connect` (after the fix closed the socket) reloads the page. */
  loadErrorShown = false;

  constructor(node: HTMLElement) {
    super(node);
    this.wireSignal = null;
    node.classList.add('db-errors');
    node.setAttribute('aria-live', 'assertive');
  }

  /** The errors shown, newest first. */
  get shown(): ReadonlyArray<Readonly<Entry>> {
    return this.entries;
  }

  /** Show a handler's failure (a `__error` load). */
  addError(load: ErrorLoad): this {
    const title = load.action !== null ? `Action "${load.action}" failed` : `${load.where} failed`;
    return this.add({
      title,
      message: load.message,
      location: load.location,
      frame: typeof load.frame === 'string' ? load.frame : null,
    });
  }

  /** Show a failed load of the analysis (a `__load_error` load). */
  addLoadError(load: LoadErrorLoad): this {
    this.loadErrorShown = true;
    const where =
      load.file !== null
        ? `${load.file}${load.line !== null ? `:${load.line}` : ''}${load.column !== null ? `:${load.column}` : ''}`
        : null;
    const title = load.stale
      ? `Analysis "${load.analysis}" failed to reload; the last good version is running`
      : `Analysis "${load.analysis}" failed to load`;
    return this.add({ title, message: load.message, location: where, frame: load.frame });
  }

  private add(entry: Omit<Entry, 'key' | 'count'>): this {
    const key = [entry.title, entry.message, entry.location ?? ''].join('\0');
    const old = this.entries.find((e) => e.key === key);
    const count = (old?.count ?? 0) + 1;
    this.entries = [{ ...entry, key, count }, ...this.entries.filter((e) => e.key !== key)].slice(
      0,
      MAX_ERRORS,
    );
    return this.render();
  }

  /** Remove one error (its × button), or all with no key. */
  dismiss(key?: string): this {
    this.entries = key === undefined ? [] : this.entries.filter((e) => e.key !== key);
    return this.render();
  }

  /** Draw the entries again (newest first), as text only. */
  render(): this {
    const doc = this.node.ownerDocument;
    const el = <K extends keyof HTMLElementTagNameMap>(
      tag: K,
      className: string,
      text?: string,
    ): HTMLElementTagNameMap[K] => {
      const node = doc.createElement(tag);
      node.className = className;
      if (text !== undefined) node.textContent = text;
      return node;
    };
    const items = this.entries.map((entry) => {
      const box = el('section', 'db-error');
      box.setAttribute('role', 'alert');
      const head = el('div', 'db-error-head');
      const title = el('strong', 'db-error-name', entry.title);
      head.append(title);
      if (entry.count > 1) head.append(el('span', 'db-error-count', `×${entry.count}`));
      const close = el('button', 'db-error-dismiss', '×');
      close.type = 'button';
      close.title = 'Dismiss';
      close.setAttribute('aria-label', 'Dismiss this error');
      close.addEventListener('click', () => this.dismiss(entry.key));
      head.append(close);
      box.append(head, el('div', 'db-error-text', entry.message));
      if (entry.location !== null) box.append(el('code', 'db-error-location', entry.location));
      if (entry.frame !== null) box.append(el('pre', 'db-code-frame', entry.frame));
      return box;
    });
    this.node.replaceChildren(...items);
    return this;
  }

  /**
   * Wire `#databench-errors` under `root` (made after `#databench-alerts`,
   * else at the top of `main` or `body`, when missing) to the connection's
   * `__error` and `__load_error` frames; a load error the server rendered
   * into the page (`<script type="application/json" id="databench-load-error">`)
   * shows at once.
   */
  static wire(connection: AnyConnection, root?: WireRoot): ErrorPanel[] {
    const base = defaultRoot(root);
    let node = base.querySelector<HTMLElement>('#databench-errors');
    if (node === null && typeof document !== 'undefined' && base === document) {
      node = document.createElement('div');
      node.id = 'databench-errors';
      const alerts = document.getElementById('databench-alerts');
      if (alerts) alerts.after(node);
      else (document.querySelector('main') ?? document.body).prepend(node);
    }
    if (node === null || (node as { databenchUI?: unknown }).databenchUI !== undefined) return [];
    const panel = new ErrorPanel(node);
    connection.on('__error', (load: unknown) => {
      if (typeof load === 'object' && load !== null) panel.addError(load as ErrorLoad);
    });
    connection.on('__load_error', (load: unknown) => {
      if (typeof load === 'object' && load !== null) panel.addLoadError(load as LoadErrorLoad);
    });
    connection.on('__connect', () => {
      // the save that fixes the analysis restarts its sessions (1012): the page
      // reconnects to the new code; reload it, even when the fix restored the
      // exact source the page was loaded with (same analyses_version)
      const loc = (globalThis as { location?: { reload(): void } }).location;
      if (panel.loadErrorShown && loc) loc.reload();
    });
    const island = base.querySelector('script#databench-load-error');
    if (island?.textContent) {
      try {
        panel.addLoadError(JSON.parse(island.textContent) as LoadErrorLoad);
      } catch {
        // a page that broke the island shows nothing more than before
      }
    }
    return [panel];
  }
}
