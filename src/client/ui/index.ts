/**
 * Widgets for pages without a framework (databench 0.7's `Databench.ui`).
 * `wire(connection)` finds them in the page by their attributes.
 */
import { Button } from './button.js';
import { ErrorPanel } from './error-panel.js';
import { ProcessProgress } from './process-progress.js';
import { VegaPlot } from './vega.js';
import { Checkbox } from './checkbox.js';
import { FileInput } from './file-input.js';
import type { AnyConnection, WireRoot } from './element.js';
import { Image } from './image.js';
import { Log } from './log.js';
import { Progress } from './progress.js';
import { Select } from './select.js';
import { SessionStatus } from './session-status.js';
import { Slider } from './slider.js';
import { StatusLog } from './status-log.js';
import { Table } from './table.js';
import { Text } from './text.js';
import { TextInput } from './text-input.js';

/**
 * Wire every widget under `root` (default: the document) to `connection`:
 * `#databench-alerts`, the error panel (`#databench-errors`), the session
 * in the status line (`#databench-session`), `#log`,
 * buttons, text inputs, Vega plots (`[data-vega]`), text elements, sliders,
 * images, checkboxes, selects (options from data with `data-options`), file
 * inputs (uploads), tables (`<table data-table>`), `<progress data-process>` and progress bars. Elements with
 * `data-skipwire` and elements already wired are left alone, so calling it
 * again after adding elements wires only the new ones.
 *
 * @example
 * const databench = new Databench.Connection();
 * Databench.ui.wire(databench);
 * databench.connect();
 */
export function wire<C extends AnyConnection>(connection: C, root?: WireRoot): C {
  StatusLog.wire(connection, root);
  ErrorPanel.wire(connection, root);
  SessionStatus.wire(connection, root);
  Log.wire(connection, root);
  Button.wire(connection, root);
  TextInput.wire(connection, root);
  // before Text: a <div data-signal data-vega> is a plot, not text
  VegaPlot.wire(connection, root);
  Text.wire(connection, root);
  Slider.wire(connection, root);
  Image.wire(connection, root);
  Checkbox.wire(connection, root);
  Select.wire(connection, root);
  FileInput.wire(connection, root);
  Table.wire(connection, root);
  ProcessProgress.wire(connection, root);
  Progress.wire(connection, root);
  return connection;
}

export { Button, ButtonState, nextProcessId } from './button.js';
export { Checkbox } from './checkbox.js';
export { FileInput, formatSize } from './file-input.js';
export { ErrorPanel } from './error-panel.js';
export { ProcessProgress } from './process-progress.js';
export { VegaPlot, loadVegaEmbed, VEGA_SCRIPTS } from './vega.js';
export type { VegaViewLike } from './vega.js';
export { UIElement } from './element.js';
export type { AnyConnection, WireRoot, WireSignal, WiredElement } from './element.js';
export { Image } from './image.js';
export { Log } from './log.js';
export type { LogOptions } from './log.js';
export { Progress } from './progress.js';
export { Select } from './select.js';
export { SessionStatus } from './session-status.js';
export { Slider } from './slider.js';
export { StatusLog } from './status-log.js';
export { Table } from './table.js';
export { Text } from './text.js';
export { TextInput } from './text-input.js';
