"""Dummy π, the Python analysis databench 0.7 shipped as
``databench.analyses_packaged.dummypi``: estimate π from random draws,
streaming the estimate and a log line every 1000 draws."""

import math
import random

import databench


class Dummypi(databench.Analysis):
    """Estimate π with random points in the unit square."""

    @databench.on
    def connected(self):
        yield self.data.init({'samples': 100000})

    @databench.on
    def run(self):
        """Draw `samples` points; stream the estimate every 1000."""
        inside = 0
        for draws in range(1, self.data['samples']):
            if random.random() ** 2 + random.random() ** 2 < 1.0:
                inside += 1
            if draws % 1000 != 0:
                continue
            yield self.emit('log', {'draws': draws, 'inside': inside})
            p = inside / draws
            yield self.set_state(pi={
                'estimate': 4.0 * p,
                'uncertainty': 4.0 * math.sqrt(draws * p * (1.0 - p)) / draws,
            })
        yield self.emit('log', {'action': 'done'})

    @databench.on
    def samples(self, value):
        yield self.set_state(samples=value)
