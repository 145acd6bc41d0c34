import { isDatabenchError } from '../../protocol/errors.js';
import type { ProcessLoad } from '../../protocol/index.js';
import type { Upload } from '../upload.js';
import { nextProcessId } from './button.js';
import {
  UIElement,
  defaultRoot,
  disableWhenViewing,
  unwired,
  type AnyConnection,
  type WireRoot,
} from './element.js';

/** A size for people: `312 bytes`, `4.2 kB`, `5.0 MB`. */
export function formatSize(n: number): string {
  if (n < 1000) return `${n} bytes`;
  return n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`;
}

/**
 * An `<input type="file">` that uploads the chosen file for its action
 * (`data-action`, else `name`, else `id`): the handler gets the file once
 * every byte has arrived (a list of files for `multiple`). While it uploads,
 * its `<label>` fills as a bar (the class `db-uploading`, the CSS variable
 * `--db-progress` from 0 to 1), a status after the input says how far it
 * is, and a Cancel button stops it (the server keeps nothing of it). Then
 * the status follows the handler's run, and says when the server refused
 * the file (a limit: which one) or the upload failed.
 *
 * @example
 * <label for="csv">CSV file</label>
 * <input type="file" id="csv" data-action="load_csv" accept=".csv">
 */
export class FileInput extends UIElement<HTMLInputElement> {
  /** Called with the chosen files; `wire` sets it. */
  changeCB: (files: File[]) => void = () => undefined;
  /** Called by Cancel; `wire` sets it. */
  cancelCB: () => void = () => undefined;
  private statusNode: HTMLElement | undefined;
  private cancelNode: HTMLButtonElement | undefined;

  constructor(node: HTMLInputElement) {
    super(node);
    // a file input shows no value from the server
    this.wireSignal = null;
    node.addEventListener('change', () => {
      const files = Array.from(node.files ?? []);
      if (files.length > 0) this.changeCB(files);
    });
  }

  /** The input's first `<label>` (where the bar is drawn), if it has one. */
  get label(): HTMLLabelElement | undefined {
    return this.node.labels?.[0] ?? undefined;
  }

  /** Show the upload's progress: `fraction` from 0 to 1, or undefined when it is over. */
  progress(fraction: number | undefined): this {
    const busy = fraction !== undefined;
    this.node.setAttribute('aria-busy', busy ? 'true' : 'false');
    for (const target of [this.label, this.node]) {
      if (target === undefined) continue;
      target.classList.toggle('db-uploading', busy);
      if (busy)
        target.style.setProperty('--db-progress', String(Math.min(1, Math.max(0, fraction))));
      else target.style.removeProperty('--db-progress');
    }
    return this;
  }

  /** The text after the input (text only; created on first use). */
  setStatus(text: string): this {
    if (this.statusNode === undefined) {
      if (text === '') return this;
      const span = this.node.ownerDocument.createElement('span');
      span.className = 'db-upload-status';
      span.setAttribute('aria-live', 'polite');
      (this.cancelNode ?? this.node).after(span);
      this.statusNode = span;
    }
    this.statusNode.textContent = text;
    return this;
  }

  /** Show (or hide) the Cancel button after the input. */
  showCancel(show: boolean): this {
    if (show && this.cancelNode === undefined) {
      const button = this.node.ownerDocument.createElement('button');
      button.type = 'button';
      button.className = 'db-upload-cancel secondary';
      // not wired as an action: it only cancels
      button.setAttribute('data-skipwire', '');
      button.textContent = this.node.getAttribute('data-cancel-label') || 'Cancel';
      button.addEventListener('click', () => this.cancelCB());
      this.node.after(button);
      this.cancelNode = button;
    } else if (!show && this.cancelNode !== undefined) {
      this.cancelNode.remove();
      this.cancelNode = undefined;
    }
    return this;
  }

  /** Wire every `<input type="file">` with an action name under `root`. */
  static wire(connection: AnyConnection, root?: WireRoot): FileInput[] {
    return unwired<HTMLInputElement>(defaultRoot(root), 'input[type="file" i]')
      .filter((node) => UIElement.determineActionName(node) !== null)
      .map((node) => {
        const input = new FileInput(node);
        disableWhenViewing(connection, node);
        const action = input.actionName as string;
        let upload: Upload | undefined;
        let processId: number | undefined;
        input.cancelCB = () => {
          if (upload !== undefined) upload.cancel();
          else if (processId !== undefined) connection.cancel(processId);
        };
        input.changeCB = (files) => {
          upload?.cancel();
          const what =
            files.length === 1
              ? `${files[0]!.name} (${formatSize(files[0]!.size)})`
              : `${files.length} files (${formatSize(files.reduce((n, f) => n + f.size, 0))})`;
          const id = nextProcessId();
          processId = id;
          connection.onProcess(id, (status, load: ProcessLoad) => {
            if (processId !== id) return;
            if (status === 'start') input.setStatus(`${what}: processing…`);
            else if (status === 'progress') {
              input.setStatus(`${what}: ${load.message ?? 'processing…'}`);
            } else {
              processId = undefined;
              input.showCancel(false);
              // the same file can be chosen again
              node.value = '';
              input.setStatus(
                load.cancelled
                  ? `${what}: cancelled`
                  : load.error
                    ? `${what}: failed, see the errors above`
                    : `${what}: done`,
              );
            }
          });
          input.progress(0).showCancel(true).setStatus(`${what}: uploading 0%`);
          const current = connection.upload(action, node.multiple ? files : files[0]!, {
            processId: id,
            onProgress: (received, total) => {
              if (upload !== current) return;
              const fraction = total === 0 ? 1 : received / total;
              input
                .progress(fraction)
                .setStatus(`${what}: uploading ${Math.floor(fraction * 100)}%`);
            },
          });
          upload = current;
          current.done.then(
            () => {
              if (upload !== current) return;
              upload = undefined;
              input.progress(undefined);
              // the handler's start frame may have come first
              if (processId === id && input.statusNode?.textContent?.endsWith('%')) {
                input.setStatus(`${what}: uploaded`);
              }
            },
            (error: unknown) => {
              if (upload !== current) return;
              upload = undefined;
              processId = undefined;
              input.progress(undefined).showCancel(false);
              input.setStatus(
                isDatabenchError(error, 'CANCELLED')
                  ? `${what}: cancelled`
                  : `${what}: ${(error as Error).message}`,
              );
              // the same file can be chosen again
              node.value = '';
            },
          );
        };
        return input;
      });
  }
}
