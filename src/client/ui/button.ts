import {
  UIElement,
  defaultRoot,
  disableWhenViewing,
  unwired,
  type AnyConnection,
  type WireRoot,
} from './element.js';

let lastProcessId = Math.floor(Math.random() * 0x100000);

/** A fresh id for an action's `__process_id` (unique within the page). */
export function nextProcessId(): number {
  lastProcessId = (lastProcessId + 1) % Number.MAX_SAFE_INTEGER;
  return lastProcessId;
}

/**
 * The states of a {@link Button} (databench 0.7's `ButtonState` enum, with
 * its reverse mapping): `Idle` (1) and `Active` (2, its action running).
 */
export const ButtonState = Object.freeze({
  Idle: 1,
  Active: 2,
  1: 'Idle',
  2: 'Active',
} as const);
/** A button state value: `ButtonState.Idle` or `ButtonState.Active`. */
export type ButtonState = 1 | 2;

/**
 * A `<button>` that sends its action (with a `__process_id`) when clicked.
 * While the server runs that action the button is busy (`aria-busy="true"`,
 * the class `disabled`) and never starts it twice:
 * - it becomes a Stop button (class `db-stop`, label "Stop", or its
 *   `data-stop-label`): a click cancels the running call;
 * - with `data-no-cancel` it is `disabled` instead;
 * - a `parallel` action (the server says so in its start frame) leaves it
 *   clickable.
 *
 * Progress the handler reports (`this.progress(fraction, message)`) fills
 * the button as a bar (the CSS variable `--db-progress`, 0 to 1) and shows
 * the message in a `<span class="db-process-message">` after it; a
 * cancelled or failed run leaves a word there.
 *
 * @example
 * <button data-action="run">Run</button>
 */
export class Button extends UIElement<HTMLButtonElement> {
  private busy = false;
  /** The running call's process id (what Stop cancels). */
  private processId: number | undefined;
  /** The button's own content while it shows "Stop". */
  private label: Node[] | undefined;
  private messageNode: HTMLElement | undefined;

  constructor(node: HTMLButtonElement) {
    super(node);
    node.addEventListener('click', () => this.click(), false);
  }

  /** Called with a fresh process id on a click while idle; `wire` sets it. */
  clickCB: (processId: number) => void = () => undefined;
  /** Called with the running call's process id on a click while it runs (Stop); `wire` sets it. */
  cancelCB: (processId: number) => void = () => undefined;

  /** Whether the button's action is running. */
  get isBusy(): boolean {
    return this.busy;
  }

  /** Whether a click while busy cancels (false with `data-no-cancel`). */
  get cancellable(): boolean {
    const v = this.node.getAttribute('data-no-cancel');
    return v === null || v === 'false';
  }

  /** Simulate a click: starts the action when idle, cancels it when it runs (Stop). */
  click(): this {
    if (!this.busy) this.clickCB(nextProcessId());
    else if (this.processId !== undefined && this.cancellable) {
      this.cancelCB(this.processId);
      this.node.disabled = true; // stopping: one cancel is enough
    }
    return this;
  }

  /** Show the button busy (`true`) or idle. */
  setBusy(busy: boolean): this {
    this.busy = busy;
    this.node.classList.toggle('disabled', busy);
    this.node.setAttribute('aria-busy', busy ? 'true' : 'false');
    if (!busy) {
      this.processId = undefined;
      this.node.disabled = false;
      this.showStop(false);
      this.node.classList.remove('db-has-progress');
      this.node.style.removeProperty('--db-progress');
    }
    return this;
  }

  /** @internal The action `processId` runs: busy, and Stop (or disabled). */
  running(processId: number): this {
    this.setBusy(true);
    this.processId = processId;
    this.setMessage('');
    if (this.cancellable) this.showStop(true);
    else this.node.disabled = true;
    return this;
  }

  /** Show progress: the bar (`--db-progress`) and the message after the button. */
  progress(fraction: number | null | undefined, message?: string): this {
    if (typeof fraction === 'number' && Number.isFinite(fraction)) {
      this.node.classList.add('db-has-progress');
      this.node.style.setProperty('--db-progress', String(Math.min(1, Math.max(0, fraction))));
    }
    if (typeof message === 'string') this.setMessage(message);
    return this;
  }

  private showStop(stop: boolean): void {
    const node = this.node;
    if (stop && this.label === undefined) {
      this.label = Array.from(node.childNodes);
      node.replaceChildren(node.getAttribute('data-stop-label') || 'Stop');
      node.classList.add('db-stop');
    } else if (!stop && this.label !== undefined) {
      node.replaceChildren(...this.label);
      this.label = undefined;
      node.classList.remove('db-stop');
    }
  }

  /** The text after the button (created on first use; text only). */
  setMessage(text: string): this {
    if (this.messageNode === undefined) {
      if (text === '') return this;
      const span = this.node.ownerDocument.createElement('span');
      span.className = 'db-process-message';
      span.setAttribute('aria-live', 'polite');
      this.node.after(span);
      this.messageNode = span;
    }
    this.messageNode.textContent = text;
    return this;
  }

  /**
   * The button's state (databench 0.7's `state()`): with an argument, show it
   * `ButtonState.Active` (busy) or `ButtonState.Idle`; without, read it.
   */
  state(): ButtonState;
  state(s: ButtonState): this;
  state(...args: [] | [ButtonState]): ButtonState | this {
    if (args.length === 0) return this.busy ? ButtonState.Active : ButtonState.Idle;
    const s = args[0];
    if (s !== ButtonState.Idle && s !== ButtonState.Active) return this;
    return this.setBusy(s === ButtonState.Active);
  }

  /** Wire every `<button>` with an action name under `root`. */
  static wire(connection: AnyConnection, root?: WireRoot): Button[] {
    return unwired<HTMLButtonElement>(defaultRoot(root), 'button')
      .filter((node) => UIElement.determineActionName(node) !== null)
      .map((node) => {
        const button = new Button(node);
        disableWhenViewing(connection, node);
        const action = button.actionName as string;
        button.clickCB = (processId) => {
          // busy from the click on: a double click must not run the action twice
          button.running(processId);
          connection.onProcess(processId, (status, load) => {
            if (status === 'start') {
              // a parallel action may run again at once: the button stays a button
              if (load.concurrency === 'parallel') button.setBusy(false);
            } else if (status === 'progress') {
              button.progress(load.fraction, load.message);
            } else {
              button.setBusy(false);
              button.setMessage(
                load.cancelled ? 'Cancelled' : load.error ? 'Failed: see the errors above' : '',
              );
            }
          });
          connection.emit(action, button.actionFormat({ __process_id: processId }));
        };
        button.cancelCB = (processId) => connection.cancel(processId);
        return button;
      });
  }
}
