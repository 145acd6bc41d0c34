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
 * @example
 * <span id="databench-session" hidden></span>
 */
export class SessionStatus extends UIElement {
  private readonly state: HTMLElement;

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
    node.replaceChildren(this.state, button);
    this.render();
  }

  /** Show the session as the last `__connect` reply left it. */
  render(): this {
    this.node.hidden = !this.connection.resumesOnReload;
    this.state.textContent = this.connection.resumed ? 'Session resumed' : 'New session';
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
