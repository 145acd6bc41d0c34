import { UIElement, defaultRoot, unwired, type AnyConnection, type WireRoot } from './element.js';

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
 * While the server runs that action the button is busy: it has the class
 * `disabled` and `aria-busy="true"`, and ignores clicks.
 *
 * @example
 * <button data-action="run">Run</button>
 */
export class Button extends UIElement<HTMLButtonElement> {
  private busy = false;

  constructor(node: HTMLButtonElement) {
    super(node);
    node.addEventListener('click', () => this.click(), false);
  }

  /** Called with a fresh process id on a click while idle; `wire` sets it. */
  clickCB: (processId: number) => void = () => undefined;

  /** Whether the button's action is running. */
  get isBusy(): boolean {
    return this.busy;
  }

  /** Simulate a click: starts the action unless it is running. */
  click(): this {
    if (!this.busy) this.clickCB(nextProcessId());
    return this;
  }

  /** Show the button busy (`true`) or idle. */
  setBusy(busy: boolean): this {
    this.busy = busy;
    this.node.classList.toggle('disabled', busy);
    this.node.setAttribute('aria-busy', busy ? 'true' : 'false');
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
        const action = button.actionName as string;
        button.clickCB = (processId) => {
          // busy from the click on: a double click must not run the action twice
          button.setBusy(true);
          connection.onProcess(processId, (status) => button.setBusy(status === 'start'));
          connection.emit(action, button.actionFormat({ __process_id: processId }));
        };
        return button;
      });
  }
}
