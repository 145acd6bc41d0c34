import { Analysis, DatabenchError, utils } from 'databench-ts';
import type { TopLevelSpec } from 'vega-lite';

/** An estimate of π with its one-sigma uncertainty. */
export interface PiEstimate {
  estimate: number;
  uncertainty: number;
}

/** What this analysis keeps in `this.data`; every change reaches the page. */
interface State {
  samples: number;
  pi: PiEstimate;
  /** The convergence plot, a PNG data URI (utils.figToSrc) for `<img data-signal="data:plot">`. */
  plot: string;
  /** The same plot as a Vega-Lite spec for `<div data-signal="data:chart" data-vega>`: hover, zoom, pan. */
  chart: TopLevelSpec;
}

/** One point of the convergence plot. */
export interface PiPoint extends PiEstimate {
  draws: number;
}

/** The page sees the estimate grow better after this many draws each time. */
const CHUNK = 1000;
const MAX_SAMPLES = 10_000_000;
/** At most this many plots per run (plus one at the end): rendering one takes tens of ms. */
const PLOTS_PER_RUN = 15;
/** At most this many points on the plot, however many draws. */
const POINTS_PER_PLOT = 200;

/**
 * Estimate π by drawing random points in the unit square: the share that
 * falls inside the quarter circle is π/4.
 */
export class Dummypi extends Analysis<State> {
  /** A new page: start with 20000 samples (a resumed page keeps its own). */
  override async on_connected() {
    await this.data.init({ samples: 20_000 });
  }

  /** The slider `<input type="range" id="samples">` moved. */
  async on_samples(value: number) {
    const samples = Math.round(Number(value));
    if (!(samples >= 1 && samples <= MAX_SAMPLES)) {
      // becomes an `error` signal on the page
      throw new RangeError(`samples must be between 1 and ${MAX_SAMPLES}, got ${String(value)}`);
    }
    await this.data.set('samples', samples);
  }

  /**
   * `<button data-action="run">`: draw, and stream the estimate as it
   * improves, with progress for the button; its Stop cancels the run.
   */
  async on_run() {
    const samples = this.data.get('samples', 20_000);
    // aborted by the button's Stop, or when the page goes away
    const signal = this.actionSignal;
    await this.emit('log', `run: ${samples} draws`);

    const chunks = Math.ceil(samples / CHUNK);
    // a plot every few chunks (never every chunk), and always one at the end
    const plotEvery = Math.max(2, Math.ceil(chunks / PLOTS_PER_RUN));
    const pointEvery = Math.max(1, Math.ceil(chunks / POINTS_PER_PLOT));
    const points: PiPoint[] = [];

    let inside = 0;
    let pi = piEstimate(0, 0);
    let plotting = true;
    for (let draws = 1; draws <= samples; draws++) {
      const x = Math.random();
      const y = Math.random();
      if (x * x + y * y < 1) inside++;
      if (draws % CHUNK !== 0 && draws !== samples) continue;

      if (signal.aborted) return this.stopped(draws);
      pi = piEstimate(inside, draws);
      void this.progress(
        draws / samples,
        `${draws.toLocaleString('en')} of ${samples.toLocaleString('en')} draws`,
      );
      const chunk = Math.ceil(draws / CHUNK);
      const last = draws === samples;
      if (chunk % pointEvery === 0 || last) points.push({ draws, ...pi });
      if (chunk % plotEvery === 0 || last) {
        // a PNG at 2x its CSS size (sharp on HiDPI screens) for an <img>, and the
        // spec itself for the interactive plot (only its data changes: the page
        // updates the view in place and keeps the user's zoom)
        const plot = plotting ? await this.plot(points) : undefined;
        // stopped while the PNG rendered (the last chunk too: no "done" then)
        if (signal.aborted) return this.stopped(draws);
        if (plot === undefined) plotting = false;
        const chart = convergencePlot(points, 'container');
        await this.data.setState(plot === undefined ? { pi, chart } : { pi, plot, chart });
      } else {
        // awaiting the write lets the server send it now, so progress streams
        await this.data.setState({ pi });
      }
    }

    await this.emit('log', `done: π = ${pi.estimate.toFixed(4)} ± ${pi.uncertainty.toFixed(4)}`);
  }

  /** Log where a run that was cancelled (Stop, or the page went away) stopped. */
  private async stopped(draws: number): Promise<void> {
    await this.emit('log', `stopped after ${draws} draws`);
  }

  /**
   * The convergence plot as a PNG data URI (2x, sharp on HiDPI screens), or
   * undefined when the optional plotting packages are not installed: the
   * estimate and the interactive chart (drawn by the browser) still stream,
   * and the page is told what to install.
   */
  private async plot(points: PiPoint[]): Promise<string | undefined> {
    try {
      return await utils.figToSrc(convergencePlot(points), { format: 'png' });
    } catch (error) {
      if (!(error instanceof DatabenchError && error.code === 'MISSING_DEPENDENCY')) throw error;
      await this.emit('warn', `no plot: ${error.message}`);
      return undefined;
    }
  }
}

/** π from `inside` of `draws` points, with the binomial uncertainty. */
export function piEstimate(inside: number, draws: number): PiEstimate {
  if (draws === 0) return { estimate: 0, uncertainty: 0 };
  const p = inside / draws;
  return { estimate: 4 * p, uncertainty: (4 * Math.sqrt(p * (1 - p))) / Math.sqrt(draws) };
}

/**
 * A Vega-Lite line chart of the estimate against the number of draws, with
 * its one-sigma band and a dashed rule at π. The points are a named dataset
 * (`datasets.points`), so a page showing it with `data-vega` updates the
 * view in place when only they change; tooltips on the line, zoom and pan
 * with the wheel and drag. `width: 'container'` fills the page's column
 * (for the browser; a PNG needs a number).
 */
export function convergencePlot(
  points: PiPoint[],
  width: number | 'container' = 480,
): TopLevelSpec {
  const draws = { field: 'draws', type: 'quantitative', title: 'draws' } as const;
  const y = { type: 'quantitative', title: 'estimate of π', scale: { zero: false } } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width,
    height: 220,
    datasets: {
      points: points.map((p) => ({
        draws: p.draws,
        estimate: p.estimate,
        low: p.estimate - p.uncertainty,
        high: p.estimate + p.uncertainty,
      })),
    },
    layer: [
      {
        data: { name: 'points' },
        layer: [
          {
            mark: { type: 'area', opacity: 0.25, color: '#4c78a8' },
            encoding: { x: draws, y: { ...y, field: 'low' }, y2: { field: 'high' } },
          },
          {
            mark: { type: 'line', color: '#4c78a8', point: { size: 12, opacity: 0 } },
            params: [{ name: 'zoom', select: 'interval', bind: 'scales' }],
            encoding: {
              x: draws,
              y: { ...y, field: 'estimate' },
              tooltip: [
                { field: 'draws', type: 'quantitative', format: ',' },
                { field: 'estimate', type: 'quantitative', format: '.4f' },
                { field: 'low', type: 'quantitative', format: '.4f', title: '−1σ' },
                { field: 'high', type: 'quantitative', format: '.4f', title: '+1σ' },
              ],
            },
          },
        ],
      },
      {
        data: { values: [{ pi: Math.PI }] },
        mark: { type: 'rule', color: '#e45756', strokeDash: [6, 4] },
        encoding: { y: { ...y, field: 'pi' } },
      },
    ],
  };
}
