import {
  defaultRoot,
  UIElement,
  wireDisplays,
  type AnyConnection,
  type WireRoot,
} from './element.js';
import { isPlainObject } from '../../protocol/messages.js';

/** What this widget uses of a Vega View (the page loads Vega itself: no types of it here). */
export interface VegaViewLike {
  /** Replace the values of the named dataset. */
  data(name: string, values: unknown[]): VegaViewLike;
  /** Re-render after a change; resolves when done. */
  runAsync(): Promise<unknown>;
  /** Release the view's listeners and timers. */
  finalize(): void;
}

type VegaEmbed = (
  el: HTMLElement,
  spec: unknown,
  options: Record<string, unknown>,
) => Promise<{ view: VegaViewLike; finalize(): void }>;

/** Where the package serves Vega, Vega-Lite and vega-embed from its own dependencies. */
export const VEGA_SCRIPTS = [
  '/_static/vendor/vega.min.js',
  '/_static/vendor/vega-lite.min.js',
  '/_static/vendor/vega-embed.min.js',
] as const;

let loading: Promise<VegaEmbed> | undefined;

function loadScript(doc: Document, src: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const script = doc.createElement('script');
    script.src = src;
    script.async = false;
    script.onload = () => resolve();
    script.onerror = () => reject(new Error(`could not load ${src}`));
    doc.head.append(script);
  });
}

/** vega-embed, loaded on first use (a page without `data-vega` loads none of it); a page's own copy wins. */
export function loadVegaEmbed(doc: Document): Promise<VegaEmbed> {
  const own = (globalThis as { vegaEmbed?: VegaEmbed }).vegaEmbed;
  if (typeof own === 'function') return Promise.resolve(own);
  loading ??= (async () => {
    for (const src of VEGA_SCRIPTS) await loadScript(doc, src);
    const embed = (globalThis as { vegaEmbed?: VegaEmbed }).vegaEmbed;
    if (typeof embed !== 'function') throw new Error('vega-embed did not define vegaEmbed');
    return embed;
  })();
  loading.catch(() => (loading = undefined));
  return loading;
}

/** The name given to a spec's top-level inline `data.values`, so they too update in place. */
const INLINE = 'databench_data';

/**
 * A spec split into its shape (everything but the data) and its named
 * datasets: Vega-Lite's top-level `datasets`, and a top-level inline
 * `data: {values}` (renamed to a dataset).
 */
function split(spec: Record<string, unknown>): {
  spec: Record<string, unknown>;
  shape: string;
  datasets: Record<string, unknown[]>;
} {
  const datasets: Record<string, unknown[]> = {};
  let full = spec;
  if (isPlainObject(spec['datasets'])) {
    for (const [name, values] of Object.entries(spec['datasets'])) {
      if (Array.isArray(values)) datasets[name] = values;
    }
  }
  const data = spec['data'];
  if (isPlainObject(data) && Array.isArray(data['values']) && data['name'] === undefined) {
    datasets[INLINE] = data['values'];
    full = { ...spec, data: { name: INLINE }, datasets: { ...datasets } };
  }
  const { datasets: _ignored, ...rest } = full;
  const shape = JSON.stringify(rest) + '\0' + Object.keys(datasets).sort().join('\0');
  return { spec: full, shape, datasets };
}

/**
 * `<div data-signal="data:plot" data-vega>`: a Vega-Lite (or Vega) spec
 * from the server, rendered in the browser by vega-embed (loaded from the
 * package's own files on first use) with tooltips, zoom and pan where the
 * spec asks for them. A new value whose spec differs only in its data
 * (Vega-Lite's top-level `datasets`, or a top-level `data: {values}`)
 * updates the view in place: no new view, the user's zoom is kept.
 * Any other change renders the view anew.
 *
 * @example
 * <div data-signal="data:plot" data-vega></div>
 */
export class VegaPlot extends UIElement {
  /** The current view (tests and pages may reach into it). */
  view: VegaViewLike | undefined;
  /** How many times a view was created (a data update does not count). */
  renders = 0;
  private shape: string | undefined;
  private finalize: (() => void) | undefined;
  private latest: unknown;
  private busy = false;
  private pending = false;

  constructor(node: HTMLElement) {
    super(node);
    node.classList.add('db-vega');
  }

  /** Show a spec (anything but an object clears the plot). */
  value(spec: unknown): this {
    this.latest = spec;
    if (this.busy) {
      this.pending = true; // only the newest value is applied next
      return this;
    }
    void this.apply();
    return this;
  }

  private async apply(): Promise<void> {
    this.busy = true;
    try {
      do {
        this.pending = false;
        await this.show(this.latest);
      } while (this.pending);
    } catch (error) {
      this.node.textContent = `plot failed: ${(error as Error).message}`;
      this.node.dispatchEvent(new CustomEvent('databench:vega-error', { detail: error }));
    } finally {
      this.busy = false;
    }
  }

  private async show(spec: unknown): Promise<void> {
    if (!isPlainObject(spec)) {
      this.clear();
      return;
    }
    const parts = split(spec);
    if (this.view !== undefined && parts.shape === this.shape) {
      for (const [name, values] of Object.entries(parts.datasets)) this.view.data(name, values);
      await this.view.runAsync();
    } else {
      const embed = await loadVegaEmbed(this.node.ownerDocument);
      this.clear();
      const result = await embed(this.node, parts.spec, { actions: false, tooltip: true });
      this.view = result.view;
      this.finalize = () => result.finalize();
      this.shape = parts.shape;
      this.renders++;
    }
    this.node.dispatchEvent(new CustomEvent('databench:vega-update'));
  }

  private clear(): void {
    this.finalize?.();
    this.finalize = undefined;
    this.view = undefined;
    this.shape = undefined;
    this.node.replaceChildren();
  }

  /** Wire every `[data-vega][data-signal]` under `root`. */
  static wire(connection: AnyConnection, root?: WireRoot): VegaPlot[] {
    return wireDisplays<HTMLElement, VegaPlot>(
      connection,
      defaultRoot(root),
      '[data-vega][data-signal]',
      (node) => new VegaPlot(node),
    );
  }
}
