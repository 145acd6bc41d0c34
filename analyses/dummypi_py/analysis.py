"""Estimate π with random draws, in Python: the same page as dummypi."""

import math
import random

import databench

#: The page sees the estimate grow better after this many draws each time.
CHUNK = 1000
MAX_SAMPLES = 10000000
#: At most this many plots per run (plus one at the end).
PLOTS_PER_RUN = 15


def pi_estimate(inside, draws):
    """π from `inside` of `draws` points, with the binomial uncertainty."""
    if draws == 0:
        return {'estimate': 0.0, 'uncertainty': 0.0}
    p = inside / draws
    return {'estimate': 4.0 * p, 'uncertainty': 4.0 * math.sqrt(p * (1.0 - p) / draws)}


def convergence_plot(points):
    """The estimate against the draws, its one-sigma band and π (a PNG data URI), or None without matplotlib."""
    try:
        databench.utils.require_matplotlib()
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    draws = [p['draws'] for p in points]
    est = [p['estimate'] for p in points]
    unc = [p['uncertainty'] for p in points]
    fig, ax = plt.subplots(figsize=(6, 2.75))
    ax.fill_between(draws, [e - u for e, u in zip(est, unc)], [e + u for e, u in zip(est, unc)],
                    alpha=0.25, color='#4c78a8')
    ax.plot(draws, est, color='#4c78a8')
    ax.axhline(math.pi, color='#e45756', linestyle='--')
    ax.set_xlabel('draws')
    ax.set_ylabel('estimate of π')
    fig.tight_layout()
    src = databench.utils.fig_to_src(fig, image_format='png', dpi=80)
    plt.close(fig)
    return src


class DummypiPy(databench.Analysis):
    """Draw points in the unit square: the share inside the quarter circle is π/4."""

    def on_connected(self):
        """A new page starts with 20000 samples (a resumed page keeps its own)."""
        self.data.init({'samples': 20000})

    def on_samples(self, value):
        """The slider moved."""
        samples = int(round(float(value)))
        if not 1 <= samples <= MAX_SAMPLES:
            # becomes an `error` signal on the page
            raise ValueError('samples must be between 1 and {}, got {}'.format(MAX_SAMPLES, value))
        self.data['samples'] = samples

    def on_run(self):
        """Draw, and stream the estimate as it improves (a generator: each
        yield lets the frames go out and other pages run)."""
        samples = self.data.get('samples', 20000)
        yield self.emit('log', 'run: {} draws'.format(samples))
        chunks = math.ceil(samples / CHUNK)
        plot_every = max(2, math.ceil(chunks / PLOTS_PER_RUN))
        points = []
        inside = 0
        pi = pi_estimate(0, 0)
        for draws in range(1, samples + 1):
            if random.random() ** 2 + random.random() ** 2 < 1.0:
                inside += 1
            if draws % CHUNK != 0 and draws != samples:
                continue
            pi = pi_estimate(inside, draws)
            chunk = math.ceil(draws / CHUNK)
            last = draws == samples
            points.append(dict(draws=draws, **pi))
            if chunk % plot_every == 0 or last:
                plot = convergence_plot(points)
                if plot is not None:
                    yield self.set_state(pi=pi, plot=plot)
                    continue
            yield self.set_state(pi=pi)
        yield self.emit('log', 'done: π = {:.4f} ± {:.4f}'.format(pi['estimate'], pi['uncertainty']))
