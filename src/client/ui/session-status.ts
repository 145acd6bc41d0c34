// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named by the {@link} of the docs below
import type { Connection } from '../connection.js';
import { UIElement, defaultRoot, unwired, type AnyConnection, type WireRoot } from './element.js';

/**
 * The page's session in its status line (`#databench-session`, in the
 * footer of analysis.html): whether the page resumed its session (its
 * `data` came back after a save or a refresh), and a "Start fresh" button
 * that forgets the session and loads the page with a new one
 * ({@link Connection.startFresh}). Hidden while no session is kept across
 * loads (the analysis opts out with `resume_on_reload: false`, or the page
 * has no `sessionStorage`).
 *
 * With `data-share` it also shows a "Share" button: it makes a live,
 * read-only link to the page's session ({@link Connection.share}), shows
 * it (and copies it, where the page may), and a "Stop sharing" button
 * revokes it. On a page opened with a share link the status line says it
 * is a read-only view instead.
 *
 * @example
 * <span id="databench-session" data-share hidden></span>
 */
export class SessionStatus extends UIElement {
  private readonly state: HTMLElement;
  private readonly fresh: HTMLButtonElement;
  /** The share controls (with `data-share`): the button, the link, the revoke button. */
  private readonly sharing:
    { button: HTMLButtonElement; link: HTMLAnchorElement; stop: HTMLButtonElement } | undefined;

  constructor(
    node: HTMLElement,
    private readonly connection: AnyConnection,
  ) {
    super(node);
    this.actionName = null;
    this.wireSignal = null;
    node.classList.add('db-session');
    const doc = node.ownerDocument;
    this.state = doc.createElement('span');
    this.state.className = 'db-session-state';
    const button = doc.createElement('button');
    button.type = 'button';
    button.className = 'db-session-fresh';
    button.textContent = 'Start fresh';
    button.title = "Forget this page's state and start a new session";
    button.addEventListener('click', () => this.connection.startFresh());
    this.fresh = button;
    node.replaceChildren(this.state, button);
    if (node.hasAttribute('data-share') && !connection.viewing) {
      this.sharing = this.shareControls(doc);
      const { button: share, link, stop } = this.sharing;
      node.append(share, link, stop);
    }
    this.render();
  }

  /** The "Share" button, the link it makes and the "Stop sharing" button. */
  private shareControls(doc: Document): NonNullable<SessionStatus['sharing']> {
    const button = doc.createElement('button');
    button.type = 'button';
    button.className = 'db-session-share';
    button.textContent = 'Share';
    button.title = 'Make a live, read-only link to this page';
    const link = doc.createElement('a');
    link.className = 'db-session-share-link';
    link.target = '_blank';
    link.rel = 'noopener';
    link.hidden = true;
    const stop = doc.createElement('button');
    stop.type = 'button';
    stop.className = 'db-session-share-stop';
    stop.textContent = 'Stop sharing';
    stop.title = 'Revoke the link: its viewers close';
    stop.hidden = true;
    const show = (url: string | undefined): void => {
      link.hidden = stop.hidden = url === undefined;
      button.hidden = url !== undefined;
      if (url === undefined) link.removeAttribute('href');
      else link.href = url;
      link.textContent = url ?? '';
    };
    const failed = (error: unknown): void => {
      this.connection.errorCB(`sharing: ${(error as Error).message}`);
    };
    button.addEventListener('click', () => {
      button.disabled = true;
      this.connection.share().then(
        (made) => {
          button.disabled = false;
          show(made.url);
          const clipboard = (globalThis as { navigator?: { clipboard?: Clipboard } }).navigator
            ?.clipboard;
          // where the page may (a secure context, a user's click): the link is ready to paste
          clipboard?.writeText(made.url).catch(() => undefined);
        },
        (error: unknown) => {
          button.disabled = false;
          failed(error);
        },
      );
    });
    stop.addEventListener('click', () => {
      this.connection.revokeShare().then(() => show(undefined), failed);
    });
    return { button, link, stop };
  }

  /** Show the session as the last `__connect` reply left it. */
  render(): this {
    const viewing = this.connection.viewing;
    this.node.hidden = !viewing && !this.connection.resumesOnReload && this.sharing === undefined;
    this.node.classList.toggle('db-session-view', viewing);
    this.fresh.hidden = viewing || !this.connection.resumesOnReload;
    this.state.textContent = viewing
      ? 'Read-only view of a shared page'
      : this.connection.resumed
        ? 'Session resumed'
        : 'New session';
    return this;
  }

  /**
   * Wire `#databench-session` under `root` to the connection's `__connect`
   * replies. The status line is in the page's footer, after the page's
   * scripts: while the document is still loading it is wired once loaded.
   */
  static wire(connection: AnyConnection, root?: WireRoot): SessionStatus[] {
    const base = defaultRoot(root);
    if (typeof document !== 'undefined' && base === document && document.readyState === 'loading') {
      document.addEventListener('DOMContentLoaded', () => SessionStatus.wire(connection, base), {
        once: true,
      });
      return [];
    }
    return unwired<HTMLElement>(base, '#databench-session').map((node) => {
      const status = new SessionStatus(node, connection);
      connection.on('__connect', () => status.render());
      return status;
    });
  }
}
