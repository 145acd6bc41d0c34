"""databench.Analysis: one instance per browser connection."""

import json
import logging
import os
import time
import uuid

from . import _aio
from ._wire import NO_MESSAGE, decode_value, encode_value
from .datastore import Datastore

log = logging.getLogger('databench.analysis')

_ACTIONS = '_databench_actions'


def on(f):
    """Decorator: the method handles the action named like the method.

    .. code-block:: python

        @databench.on
        def run(self, samples): ...
    """
    actions = getattr(f, _ACTIONS, None)
    if actions is None:
        actions = []
        setattr(f, _ACTIONS, actions)
    if f.__name__ not in actions:
        actions.append(f.__name__)
    return f


def on_action(action):
    """Decorator: the method handles the action `action` (``'*'``: every action, called with ``(action, message)``)."""
    if not isinstance(action, str) or not action:
        raise TypeError('on_action needs a non-empty action name')

    def decorate(f):
        actions = getattr(f, _ACTIONS, None)
        if actions is None:
            actions = []
            setattr(f, _ACTIONS, actions)
        if action not in actions:
            actions.append(action)
        return f

    return decorate


class _Table(object):
    __slots__ = ('handlers', 'wildcard', 'data', 'class_data')


def _table(cls):
    """Action handlers and data_<key> transforms of a class, found once: the
    most derived definition of a name wins; every handler of an action runs."""
    table = cls.__dict__.get('_databench_table')
    if table is not None:
        return table
    handlers = {}
    seen = set()
    data, class_data = {}, {}
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)
            if isinstance(value, (staticmethod, classmethod)) or not callable(value):
                continue
            if name.startswith('on_') and len(name) > 3:
                handlers.setdefault(name[3:], []).append(name)
            for action in getattr(value, _ACTIONS, ()):
                if not (name.startswith('on_') and name[3:] == action):
                    handlers.setdefault(action, []).append(name)
            if name.startswith('class_data_') and len(name) > 11:
                class_data[name[11:]] = name
            elif name.startswith('data_') and len(name) > 5:
                data[name[5:]] = name
    table = _Table()
    table.wildcard = handlers.pop('*', [])
    table.handlers = handlers
    table.data = data
    table.class_data = class_data
    setattr(cls, '_databench_table', table)
    return table


def _log_text(message):
    if isinstance(message, str):
        return message
    try:
        return json.dumps(message, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(message)


class Analysis(object):
    """Databench's analysis class: one instance per browser connection.

    Handle an action with a method ``on_<action>`` (or ``@databench.on`` /
    ``@databench.on_action('name')``); write state to ``self.data`` (this
    page) or ``self.class_data`` (every page of this analysis) and every
    change reaches the page.

    :ivar Datastore data: data of this instance (connection)
    :ivar Datastore class_data: data shared by every instance of the class
    :ivar list cli_args: command line arguments
    :ivar dict request_args: the page's query, as ``urllib.parse.parse_qs`` gives it
    """

    _databench_analysis = True
    #: How long a page's `data` is kept after it left, for it to resume (ms).
    data_retention_ms = 60 * 60 * 1000

    #: The analysis id; `data` is scoped to it.
    id = None
    data = None
    class_data = None
    cli_args = []
    request_args = {}

    def __init__(self):
        self.data = None
        self.class_data = None
        self.cli_args = []
        self.request_args = {}

    # set up by the framework ---------------------------------------------

    def init_databench(self, id_=None):
        """Give the instance its id and its datastores (called by the framework)."""
        self.id = self.id_ = id_ or str(uuid.uuid4())
        if '_emit_fn' not in self.__dict__:
            self._emit_fn = None
        self.log_backend = logging.getLogger('databench.{}'.format(type(self).__name__))
        self.log_frontend = logging.getLogger('databench.frontend')
        self.init_datastores()
        self._wire_datastores()
        return self

    def init_datastores(self):
        """Create `data` (domain: the id) and `class_data` (domain: the class name).

        Override this method to use other datastore backends.
        """
        self.data = Datastore(self.id_, release_after_ms=type(self).data_retention_ms)
        self.class_data = Datastore(type(self).__name__)

    def _wire_datastores(self):
        self._sink = None
        self.data._on_encoded_change(
            lambda key, encoded, delta=None: self._forward('data', key, encoded, delta))
        self.class_data._on_encoded_change(
            lambda key, encoded, delta=None: self._forward('class_data', key, encoded, delta))

    def _forward(self, signal, key, encoded, delta=None):
        table = _table(type(self))
        name = (table.data if signal == 'data' else table.class_data).get(key)
        if name is None and self._sink is not None:
            return self._sink.change(signal, key, encoded, delta)
        value = None if encoded is None else decode_value(encoded)
        if name is not None:
            try:
                value = getattr(self, name)(value)
            except Exception as error:
                self._report_error(name, error)
                return None
        return self._send(signal, {key: value})

    def _snapshot(self, signal):
        """@internal One frame with every key of `data` or `class_data` (after transforms), or None."""
        store = self.data if signal == 'data' else self.class_data
        if len(store) == 0:
            return None
        table = _table(type(self))
        transforms = table.data if signal == 'data' else table.class_data
        parts = []
        for key, encoded in list(store.data.items()):
            name = transforms.get(key)
            if name is not None:
                try:
                    encoded = encode_value(getattr(self, name)(decode_value(encoded)), key)
                except Exception as error:
                    self._report_error(name, error)
                    continue
            parts.append(json.dumps(key, ensure_ascii=False) + ':' + encoded)
        return '{"signal":"' + signal + '","load":{' + ','.join(parts) + '}}'

    def set_emit_fn(self, emit_fn):
        """Set the function emits go through: ``emit_fn(signal, message)``."""
        self._emit_fn = emit_fn
        return self

    # what a handler uses -------------------------------------------------

    _current_action = None

    @property
    def action_cancelled(self):
        """True when the page cancelled the action that runs now (its Stop
        button, ``d.cancel``): check it in long loops and return early."""
        current = self._current_action
        return bool(current and current['cancelled'])

    def progress(self, fraction, message=None):
        """Report progress of the running action to the page: a ``__process``
        frame ``{id, status: 'progress', action, fraction, message}`` (a wired
        button shows a bar). Throttled to about 20 a second; the last one
        (``fraction`` 1) always goes out. Does nothing outside an action that
        has a process id. Returns an awaitable you may ignore."""
        current = self._current_action
        if not current or current['id'] is None:
            return _aio.DONE
        now = time.monotonic()
        if fraction is not None:
            fraction = min(1.0, max(0.0, float(fraction)))
        if fraction != 1.0 and now - current['last_progress'] < 0.05:
            return _aio.DONE
        current['last_progress'] = now
        load = {'id': current['id'], 'status': 'progress', 'action': current['action'],
                'fraction': fraction}
        if message is not None:
            load['message'] = message
        return self._send('__process', load)

    def emit(self, signal, message=NO_MESSAGE):
        """Emit a signal to the frontend (with no message the frame has no `load`).

        `log`, `warn` and `error` also go to the server's log. Returns an
        awaitable (await it, yield it, or ignore it).
        """
        logger = self.__dict__.get('log_backend') or log
        if signal == 'log':
            logger.info(_log_text(message))
        elif signal == 'warn':
            logger.warning(_log_text(message))
        elif signal == 'error':
            logger.error(_log_text(message))
        return self._send(signal, message)

    def _send(self, signal, message=NO_MESSAGE):
        sink = self.__dict__.get('_sink')
        if sink is not None:
            return sink.emit(signal, message)
        fn = self.__dict__.get('_emit_fn')
        if fn is None:
            log.error('emit called before the analysis was set up')
            return _aio.DONE
        result = fn(signal, message)
        return _aio.start(result) or _aio.DONE

    def set_state(self, updater=None, **kwargs):
        """Update `data`: a dict, a function ``data -> dict``, or keywords (databench 0.7)."""
        return self.data.set_state(updater, **kwargs)

    def set_class_state(self, updater=None, **kwargs):
        """Update `class_data`, shared by every page of this analysis (databench 0.7)."""
        return self.class_data.set_state(updater, **kwargs)

    def _report_error(self, where, error):
        """A handler failed: the exception's text to the page, the traceback to the log."""
        text = '{} failed: {}'.format(where, _exception_line(error))
        logger = self.__dict__.get('log_backend') or log
        logger.error('[%s %s] %s failed', type(self).__name__, self.id, where,
                     exc_info=(type(error), error, _user_frames(error.__traceback__)))
        return self._send('error', text)

    # built-in actions ----------------------------------------------------

    def on_connect(self):
        """The first action of a session."""

    def on_args(self, cli_args=None, request_args=None):
        """Sets `cli_args` and `request_args` (call the base method when you override it)."""
        self.cli_args = cli_args if cli_args is not None else []
        self.request_args = request_args if request_args is not None else {}

    def on_connected(self):
        """Runs after `connect` and `args`: initialise the page's state here."""

    def on_disconnected(self):
        """Runs when the page's socket has closed."""

    def on_log(self, *args, **kwargs):
        self._frontend_log(logging.INFO, args, kwargs)

    def on_warn(self, *args, **kwargs):
        self._frontend_log(logging.WARNING, args, kwargs)

    def on_error(self, *args, **kwargs):
        self._frontend_log(logging.ERROR, args, kwargs)

    def _frontend_log(self, level, args, kwargs):
        parts = [_log_text(a) for a in args]
        if kwargs:
            parts.append(_log_text(kwargs))
        logger = self.__dict__.get('log_frontend') or log
        logger.log(level, '[frontend %s] %s', self.id, ' '.join(parts))

    def _dispose(self):
        """@internal The session ended: release the stores."""
        self._sink = None
        self._emit_fn = None
        for store in (self.data, self.class_data):
            if store is not None:
                store.close()


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _user_frames(tb):
    """A traceback without its leading frames in this package (the user's code is what matters)."""
    first = tb
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE):
        tb = tb.tb_next
    return tb if tb is not None else first


def _exception_line(error):
    """The last line of a traceback: ``ValueError: text``."""
    name = type(error).__name__
    text = str(error)
    return '{}: {}'.format(name, text) if text else name
