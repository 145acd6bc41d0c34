"""Test an analysis without a server: ``AnalysisTest`` runs its actions in
this process and records what it sends to the page.

.. code-block:: python

    import unittest
    from databench.testing import AnalysisTest
    from analysis import Parameters

    class Example(unittest.TestCase):
        def test_data(self):
            test = AnalysisTest(Parameters())
            test.trigger('test_data', ['light', 'red'])
            self.assertIn(('data', {'light': 'red'}), test.emitted_messages)
"""

import asyncio
import functools
import inspect
import json
import logging
import unittest

from . import _aio
from ._wire import NO_MESSAGE, encode_value
from .analysis import User
from .meta import Meta, _run_lifecycle


class _ListHandler(logging.Handler):
    def __init__(self, lines):
        super(_ListHandler, self).__init__()
        self.lines = lines
        self.setFormatter(logging.Formatter('%(message)s'))

    def emit(self, record):
        self.lines.append((record.levelname.lower(), self.format(record)))


class AnalysisTest(object):
    """Unit test wrapper for an analysis.

    :param analysis: the analysis to test: an instance (as databench's docs
        show) or its class
    :param list cli_args: what the `args` action passes as ``cli_args``
    :param dict request_args: what it passes as ``request_args``
    :param meta: an object with a ``run_process`` like :meth:`databench.Meta.run_process`
    :param dict user: who opened the page (``self.user``): ``{'id': …, 'email': …}``; default None

    ``trigger`` runs an action (called outside a running event loop it runs
    at once, to its end; inside one, await what it returns). Every message
    to the page is in ``emitted_messages``: ``(signal, message)``, or
    ``(signal,)`` for a frame without a message, as the page receives them
    (through JSON).
    """

    def __init__(self, analysis, cli_args=None, request_args=None, meta=None, user=None):
        self.emitted_messages = []
        self.meta = meta or Meta
        instance = analysis() if isinstance(analysis, type) else analysis
        instance.set_emit_fn(self._emit)
        instance.user = User.from_wire(user)
        instance.init_databench()
        #: What the analysis logged: ``(level, text)``, e.g. ``('error', '... Traceback ...')``.
        self.logs = []
        logger = logging.Logger('databench.test.' + type(instance).__name__)
        logger.addHandler(_ListHandler(self.logs))
        instance.log_backend = instance.log_frontend = logger
        self.analysis_instance = instance
        self._previous = None
        self._closed = False
        cli = list(cli_args or [])
        args = dict(request_args or {})

        async def setup():
            await instance.data.ready
            await instance.class_data.ready
            if instance.user is not None:
                # as in a served session: the user's store is open from the start
                store = instance._user_store()
                if store is not None:
                    await store.ready
            await _run_lifecycle(self.meta.run_process, instance, cli, args)

        self.ready = self._run(setup)

    def emulate_emit_to_frontend(self, signal, message=NO_MESSAGE):
        """Record a frame as the page would receive it (databench 0.7's name
        of what the analysis's emits go through here)."""
        return self._emit(signal, message)

    def _emit(self, signal, message):
        if message is NO_MESSAGE:
            self.emitted_messages.append((signal,))
        else:
            encoded = encode_value(message, what='the load of signal "{}"'.format(signal))
            self.emitted_messages.append((signal, json.loads(encoded)))

    def _run(self, fn):
        previous = self._previous

        async def chained():
            if previous is not None and not previous.done():
                await previous
            return await fn()

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            result = _aio.Done(_aio.run_now(chained()))
            self._previous = None
            return result
        task = loop.create_task(chained())
        self._previous = task
        return task

    def trigger(self, action_name, message=NO_MESSAGE, callback=None, **kwargs):
        """Trigger an ``on_`` handler with `message`, as the page would send it.

        :param callback: called when the action has run (e.g. ``self.stop``)
        :returns: an awaitable (already complete outside an event loop)
        """
        if self._closed:
            raise RuntimeError('AnalysisTest is closed')
        instance = self.analysis_instance
        return self._run(lambda: self.meta.run_process(
            instance, action_name, message, callback=callback, **kwargs))

    def close(self):
        """Run `disconnected` and release the instance's datastores."""
        if self._closed:
            return _aio.DONE
        instance = self.analysis_instance

        async def disconnect():
            await self.meta.run_process(instance, 'disconnected')
            instance._dispose()

        result = self._run(disconnect)
        self._closed = True
        return result


class AsyncTestCase(unittest.TestCase):
    """A ``unittest.TestCase`` with the ``stop``/``wait`` pair of Tornado's
    AsyncTestCase, so tests written as in databench's docs run unchanged
    but for the base class."""

    _stopped = None

    def stop(self, *args):
        self._stopped = args[0] if len(args) == 1 else (args or None)

    def wait(self, timeout=None):
        value, self._stopped = self._stopped, None
        return value


def gen_test(f):
    """Run a test method written as a generator (``yield test.trigger(...)``) or as ``async def``."""

    @functools.wraps(f)
    def run(*args, **kwargs):
        result = f(*args, **kwargs)
        if inspect.isgenerator(result) or inspect.isawaitable(result):
            return _aio.run_now(_aio.settle(result))
        return result

    return run
