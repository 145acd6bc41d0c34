"""Large values, long lines and a handler that never yields: the Python kernel probes."""

import os
import time

import databench


class Big(databench.Analysis):
    def on_send(self, n):
        """One value of n characters to this page (a datastore write and its frame)."""
        self.data['big'] = 'x' * n

    def on_blurt(self, n):
        """One print() of n characters without a newline, then one."""
        print('y' * n)

    def on_busy(self, s):
        """Blocks the kernel's loop for s seconds."""
        time.sleep(s)
        self.emit('busy_done', s)

    def on_marker(self):
        self.emit('marker')

    def on_close_channel(self):
        """The analysis closes its own channel to the server."""
        os.close(4)
        os.close(3)
