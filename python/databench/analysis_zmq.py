"""databench 0.7's ``AnalysisZMQ``: the server's side of a language kernel
(it started ``python analysis.py --zmq-subscribe=…`` per page and relayed
its messages over ZeroMQ). Here the server runs ``kernel: py`` analyses in
kernel processes of its own; the class is kept so that code naming it imports."""

from .analysis import Analysis


class AnalysisZMQ(Analysis):
    """Not used by this server (``kernel: py`` analyses run in its Python kernel)."""

    _databench_internal = True  # never the analysis of an analysis.py that imports it

    def on_connect(self, executable=None, zmq_publish=None):
        raise NotImplementedError(
            'AnalysisZMQ is databench 0.7\'s ZeroMQ relay; this server runs kernel: py '
            'analyses itself: write the analysis as a databench.Analysis in analysis.py')
