"""The benchmark's workloads in Python (bench/analyses/bench/analysis.ts), written as a user would."""

import time

import databench


class Bench(databench.Analysis):
    def on_test_fn(self, first, second=100):
        return self.emit('test_fn', [first, second])

    def on_test_state(self, key, value):
        return self.data.set(key, value)

    async def on_stream(self, n):
        for i in range(n):
            await self.set_state(count=i)
        await self.emit('stream_done')

    def on_burn(self, ms):
        """Compute for `ms` milliseconds in a synchronous loop (W8)."""
        end = time.time() + ms / 1000.0
        x = 0
        while time.time() < end:
            x += 1
        return self.emit('burnt', x > 0)

    def on_upload(self, file):
        """An uploaded file (the upload rows): its size back, once every byte has arrived."""
        return self.emit('uploaded', file.size)

    def on_set_shared(self, key, value):
        return self.class_data.set(key, value)
