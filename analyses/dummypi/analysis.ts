import { Analysis } from 'databench';

/** An estimate of π with its one-sigma uncertainty. */
export interface PiEstimate {
  estimate: number;
  uncertainty: number;
}

/** What this analysis keeps in `this.data`; every change reaches the page. */
interface State {
  samples: number;
  pi: PiEstimate;
}

/** The page sees the estimate grow better after this many draws each time. */
const CHUNK = 1000;
const MAX_SAMPLES = 10_000_000;

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

  /** `<button data-action="run">`: draw, and stream the estimate as it improves. */
  async on_run() {
    const samples = this.data.get('samples', 20_000);
    await this.emit('log', `run: ${samples} draws`);

    let inside = 0;
    let pi = piEstimate(0, 0);
    for (let draws = 1; draws <= samples; draws++) {
      const x = Math.random();
      const y = Math.random();
      if (x * x + y * y < 1) inside++;
      if (draws % CHUNK !== 0 && draws !== samples) continue;

      // the page has gone: stop drawing for nobody
      if (this.signal.aborted) return;
      pi = piEstimate(inside, draws);
      // awaiting the write lets the server send it now, so progress streams
      await this.data.setState({ pi });
    }

    await this.emit('log', `done: π = ${pi.estimate.toFixed(4)} ± ${pi.uncertainty.toFixed(4)}`);
  }
}

/** π from `inside` of `draws` points, with the binomial uncertainty. */
export function piEstimate(inside: number, draws: number): PiEstimate {
  if (draws === 0) return { estimate: 0, uncertainty: 0 };
  const p = inside / draws;
  return { estimate: 4 * p, uncertainty: (4 * Math.sqrt(p * (1 - p))) / Math.sqrt(draws) };
}
