"""The scaffold analysis in Python (kernel: py in index.yaml)."""

import databench


class Scaffold(databench.Analysis):
    """One instance per open page. Handle an action `NAME` with a method
    `on_NAME`, and write what the page shows to `self.data`."""

    def on_connected(self):
        """The page has connected: set what it shows first."""
        self.data.init({'clicks': 0})

    def on_count(self):
        """`<button data-action="count">` was pressed."""
        self.data['clicks'] = self.data.get('clicks', 0) + 1
