"""databench 0.7's ``MetaZMQ``: the Meta of a language-kernel analysis.
Kept so that code naming it imports; the server here runs ``kernel: py``
analyses in its own kernel processes."""

from .analysis_zmq import AnalysisZMQ
from .meta import Meta


class MetaZMQ(Meta):
    """A Meta whose analysis ran in a separate process over ZeroMQ (databench 0.7).

    :param str name: the analysis name
    :param list executable: the command 0.7 started per page (not run here)
    """

    def __init__(self, name, executable, zmq_publish, analysis_path, extra_routes,
                 cmd_args=None):
        super(MetaZMQ, self).__init__(name, AnalysisZMQ, analysis_path, extra_routes, cmd_args)
        self.executable = executable
        self.zmq_publish = zmq_publish
