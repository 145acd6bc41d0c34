import { Analysis } from 'databench-ts';

/** What this analysis keeps in `this.data`: each change reaches the page. */
interface State {
  clicks: number;
}

/**
 * The scaffold analysis: one instance per open page. Handle an action
 * `NAME` with a method `on_NAME`, and write what the page shows to `this.data`.
 */
export class Scaffold extends Analysis<State> {
  /** The page has connected: set what it shows first. */
  override async on_connected() {
    await this.data.init({ clicks: 0 });
  }

  /** `<button data-action="count">` was pressed. */
  async on_count() {
    await this.data.set('clicks', this.data.get('clicks', 0) + 1);
  }
}
