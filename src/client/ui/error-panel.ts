import type { ErrorLoad, LoadErrorLoad, TypeErrorsLoad } from '../../protocol/index.js';
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
  /** A warning (type errors: the code runs), not a failure. */
  warning: boolean;
}

/**
 * The page's error panel (`#databench-errors`, made after
 * `#databench-alerts` when the page has none): a handler's failure
 * (`__error`: the action, the message and the file:line of the user's code),
 * a failed load of the analysis (`__load_error`, with the code frame) and
 * the type errors of the last type check (`__type_errors`, replaced by each
 * check), newest first, a repeat counted instead of shown twice, each
 * dismissable. Text only: nothing from the server is read as HTML.
 *
 * @example
 * <div id="databench-errors"></div>
 */
export class ErrorPanel extends UIElement {
  private entries: Entry[] = [];
  /**
   * A load error is shown: the next `__connect` after the page's first one
   * (the fix closed the socket, 1012, and the page reconnected) reloads the
   * page. The page's first `__connect` never does: a page opened while its
   * analysis is broken has the error in the page (the last good version
   * serves it), and would otherwise reload itself in a loop.
   */
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
      warning: false,
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
    return this.add({
      title,
      message: load.message,
      location: where,
      frame: load.frame,
      warning: false,
    });
  }

  /**
   * Show the type errors of the last type check (a `__type_errors` load),
   * in place of the ones shown before; none (`text: null`) removes them.
   */
  setTypeErrors(load: TypeErrorsLoad): this {
    const key = `\0types\0${load.analysis}`;
    const rest = this.entries.filter((e) => e.key !== key);
    if (load.text === null) {
      this.entries = rest;
      return this.render();
    }
    const entry: Entry = {
      key,
      count: 1,
      title: `Type errors in analysis "${load.analysis}" (it still runs)`,
      message: 'TypeScript found these errors in the last save:',
      location: null,
      frame: load.text,
      warning: true,
    };
    this.entries = [entry, ...rest].slice(0, MAX_ERRORS);
    return this.render();
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
      const box = el('section', entry.warning ? 'db-error db-warning' : 'db-error');
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
    connection.on('__type_errors', (load: unknown) => {
      if (typeof load === 'object' && load !== null) panel.setTypeErrors(load as TypeErrorsLoad);
    });
    // wired after the first connect: the next one is a reconnect
    let connects = connection.connected ? 1 : 0;
    connection.on('__connect', () => {
      // the save that fixes the analysis restarts its sessions (1012): the page
      // reconnects to the new code; reload it, even when the fix restored the
      // exact source the page was loaded with (same analyses_version). Not on
      // the page's first connect: that is the page loaded while still broken.
      connects++;
      const loc = (globalThis as { location?: { reload(): void } }).location;
      if (panel.loadErrorShown && connects > 1 && loc) loc.reload();
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
