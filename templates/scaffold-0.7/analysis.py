"""The scaffold analysis, laid out as databench 0.7 laid it out: index.yaml
lists it without `kernel:`, so this file runs in a Python kernel."""

import databench


class Scaffold(databench.Analysis):
    """One instance per open page."""

    @databench.on
    def connected(self):
        """A page has connected: set what it shows first."""
        yield self.data.init({'status': 'Hello World'})

    @databench.on
    def ping(self):
        """The page's button sends the action `ping`."""
        self.data['status'] = 'pong'
