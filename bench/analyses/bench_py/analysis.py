"""The benchmark's workloads in Python (bench/analyses/bench/analysis.ts).

Written as a databench 0.7 user wrote them (``@databench.on``, a generator
that yields each write), so that this one file runs both in our Python kernel
and, unchanged, under the original databench 0.7.3 (bench/original.ts): the
bench compares the two on the same code.
"""

import time

import databench


class Bench(databench.Analysis):
    @databench.on
    def test_fn(self, first, second=100):
        return self.emit('test_fn', [first, second])

    @databench.on
    def test_state(self, key, value):
        return self.data.set(key, value)

    @databench.on
    def stream(self, n):
        for i in range(n):
            yield self.set_state(count=i)
        yield self.emit('stream_done')

    @databench.on
    def burn(self, ms):
        """Compute for `ms` milliseconds in a synchronous loop (W8)."""
        end = time.time() + ms / 1000.0
        x = 0
        while time.time() < end:
            x += 1
        return self.emit('burnt', x > 0)

    def on_upload(self, file):
        """An uploaded file (the upload rows): its size back, once every byte has arrived."""
        return self.emit('uploaded', file.size)

    @databench.on
    def set_shared(self, key, value):
        return self.class_data.set(key, value)
