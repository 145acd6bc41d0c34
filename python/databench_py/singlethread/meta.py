"""``databench_py.singlethread.Meta``: databench 0.7's entry of a language
kernel script. In a kernel process of the server (where ``analysis.py`` is
imported, not run) it only holds its analysis; run as a script it serves
the analysis with :func:`databench.run`."""

import logging
import os
import sys

import databench
from databench import _aio, _runtime
from databench._wire import NO_MESSAGE

log = logging.getLogger(__name__)


class Meta(object):
    """The kernel side of one analysis (databench 0.7).

    :param str name: the analysis's name
    :param analysis_class: its ``databench.Analysis`` subclass

    0.7 read ``--analysis-id`` and the ZeroMQ ports from ``sys.argv`` and
    made one instance; here the instance is made for code that uses
    ``meta.analysis`` directly, and its emits are logged.
    """

    def __init__(self, name, analysis_class):
        self.name = name
        self.analysis_class = analysis_class
        analysis_id = None
        for arg in sys.argv:
            if arg.startswith('--analysis-id='):
                analysis_id = arg.partition('=')[2]
        databench.Meta.fill_action_handlers(analysis_class)
        self.analysis = analysis_class()
        self.analysis.init_databench(analysis_id)
        self.analysis.set_emit_fn(
            lambda signal, message=NO_MESSAGE: self.emit(signal, message, self.analysis.id_))

    def run_process(self, analysis, action_name, message=NO_MESSAGE):
        """Run the action `action_name` on `analysis` (as :meth:`databench.Meta.run_process`).

        Returns an awaitable; with no running loop the action has run when
        it returns.
        """
        return _aio.start(databench.Meta.run_process(analysis, action_name, message))

    def event_loop(self):
        """Serve the analysis: in a kernel process nothing (the server does),
        as a script :func:`databench.run` on the script's folder."""
        if _runtime.IN_KERNEL:
            return None
        main = sys.modules.get('__main__')
        path = getattr(main, '__file__', None) or os.path.join(os.getcwd(), 'analysis.py')
        return databench.run(self.analysis_class, path, name=self.name,
                             argv=[a for a in sys.argv[1:] if not a.startswith(
                                 ('--zmq-subscribe', '--zmq-publish', '--analysis-id'))])

    def emit(self, signal, message, analysis_id):
        """What the instance emits outside a server: logged."""
        log.debug('kernel %s emit (%s): %r', analysis_id, signal, message)
        return _aio.DONE

    # databench 0.7's ZeroMQ plumbing: nothing to do here
    def send_handshake(self):
        return None

    def zmq_listener(self, multipart):
        return None
