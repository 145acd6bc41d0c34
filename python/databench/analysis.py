"""databench.Analysis: one instance per browser connection."""

import contextvars
import functools
import inspect
import json
import logging
import time
import uuid

from . import _aio
from ._errors import exception_line as _exception_line, location as _location, \
    user_frames as _user_frames
from ._logtext import LogRateLimit, escape_log_text
from ._wire import NO_MESSAGE, decode_value, encode_value
from .datastore import Datastore


class User(dict):
    """Who opened a page: ``id`` and, when the login knows them, ``name``,
    ``email`` and ``groups``. A dict (``self.user['id']``, JSON as it is) whose
    keys are also attributes (``self.user.email``; a missing one is None)."""

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return self.get(name)

    @classmethod
    def from_wire(cls, value):
        """The user of a session's open message, or None."""
        if not isinstance(value, dict) or not isinstance(value.get('id'), str):
            return None
        user = cls(id=value['id'])
        for key in ('name', 'email'):
            if isinstance(value.get(key), str):
                user[key] = value[key]
        if isinstance(value.get('groups'), list):
            user['groups'] = [g for g in value['groups'] if isinstance(g, str)]
        return user


log = logging.getLogger('databench.analysis')

_ACTIONS = '_databench_actions'
#: On a decorated method: the function it wraps (what the framework calls).
_INNER = '_databench_call'


def _handler(f, action):
    """`f` as an action handler of `action`: wrapped once so that calling it
    from the analysis's own code (``yield self.sentence('a')``,
    ``PeriodicCallback(self.generate, 200)``) runs it as Tornado's
    ``gen.coroutine`` did and returns an awaitable; later decorators add
    actions to the same wrapper."""
    if getattr(f, _INNER, None) is None:
        inner = f

        @functools.wraps(inner)
        def handler(*args, **kwargs):
            return _aio.call(inner, args, kwargs)

        setattr(handler, _INNER, inner)
        setattr(handler, _ACTIONS, [])
        f = handler
    actions = getattr(f, _ACTIONS)
    if action not in actions:
        actions.append(action)
    if not isinstance(getattr(f, 'action', None), str):
        #: databench 0.7's name of the action
        f.action = action
    return f

#: The call the running asyncio task runs a handler for (set by `Meta.run_process`): each
#: call has its own, so a call running beside another (a slider's `latest` call) keeps it.
_CALL = contextvars.ContextVar('databench_call', default=None)


def on(f):
    """Decorator: the method handles the action named like the method.

    As in databench 0.7 the method becomes a coroutine in Tornado's sense:
    a generator method may ``yield`` awaitables (``yield self.emit(...)``),
    and a call from the analysis's own code runs its body at once and
    returns an awaitable (``yield self.other_action(3)``).

    .. code-block:: python

        @databench.on
        def run(self, samples): ...
    """
    return _handler(f, f.__name__)


def on_action(action):
    """Decorator: the method handles the action `action` (``'*'``: every action, called with ``(action, message)``)."""
    if not isinstance(action, str) or not action:
        raise TypeError('on_action needs a non-empty action name')

    def decorate(f):
        return _handler(f, action)

    return decorate


class ActionHandler(object):
    """databench 0.7's callable action handler object: ``ActionHandler(action, f)``
    as a class attribute handles `action` (what ``@databench.on`` makes
    today is a plain function, which this also recognises)."""

    def __init__(self, action, f, bound_instance=None):
        self.action = action
        self.f = f
        self.bound_instance = bound_instance

    def __call__(self, *args, **kwargs):
        if self.bound_instance is not None:
            args = (self.bound_instance,) + args
        return _aio.call(self.f, args, kwargs)

    def __get__(self, obj, objtype=None):
        if obj is not None:
            return ActionHandler(self.action, self.f, obj)
        return self

    def code(self):
        """The source code of the decorated function."""
        return inspect.getsource(self.f)


def _actions_of(value):
    """The actions a class attribute handles by decoration (not by its name)."""
    actions = getattr(value, _ACTIONS, None)
    if actions:
        return actions
    action = getattr(value, 'action', None)
    return [action] if isinstance(action, str) and action else ()


class _Table(object):
    __slots__ = ('handlers', 'wildcard', 'data', 'class_data')


def _table(cls):
    """Action handlers and data_<key> transforms of a class, found once: the
    most derived definition of a name wins; every handler of an action runs,
    except that databench.Analysis's own default for an action (``on_args``)
    gives way to a subclass's handler of it under another name (databench
    0.7's ``@databench.on def args(self, ...)``)."""
    table = cls.__dict__.get('_databench_table')
    if table is not None:
        return table
    handlers = {}
    base = {}
    seen = set()
    data, class_data = {}, {}
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)
            if isinstance(value, (staticmethod, classmethod)) or not callable(value):
                continue
            actions = []
            if name.startswith('on_') and len(name) > 3:
                actions.append(name[3:])
            for action in _actions_of(value):
                if action not in actions:
                    actions.append(action)
            for action in actions:
                if klass is Analysis:
                    base.setdefault(action, []).append(name)
                else:
                    handlers.setdefault(action, []).append(name)
            if name.startswith('class_data_') and len(name) > 11:
                class_data[name[11:]] = name
            elif name.startswith('data_') and len(name) > 5:
                data[name[5:]] = name
    for action, names in base.items():
        handlers.setdefault(action, names)
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


class ValueTooLarge(Exception):
    """@internal A value of a snapshot is larger than the page can receive."""

    def __init__(self, signal, key, size):
        super(ValueTooLarge, self).__init__(key)
        self.signal = signal
        self.key = key
        self.size = size


_PLAIN_ID_CHARS = frozenset(
    'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-')


def _escape_user_id(user_id):
    """A user id as it appears in a datastore domain (as `escapeUserId` in
    src/analysis/user.ts): letters, digits and ``_.~-`` as they are, every
    other character as ``%XX`` of its UTF-8 bytes, a lone surrogate as
    ``%uXXXX``. Never holds ``:``, ``@`` or ``/``."""
    out = []
    for ch in user_id:
        if ch in _PLAIN_ID_CHARS:
            out.append(ch)
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append('%u{:04X}'.format(ord(ch)))
        else:
            out.extend('%{:02X}'.format(b) for b in ch.encode('utf-8'))
    return ''.join(out)


def _session_data_domain(id_, user):
    """The domain of `data`: the id, bound to the user when one signed in."""
    return id_ if user is None else '{}@{}'.format(id_, _escape_user_id(user['id']))


def _user_data_domain(user, analysis, data_domain):
    """The domain of `user_data`: the user's on this analysis, or the session's own."""
    if user is None:
        return data_domain + '/user'
    return 'user:{}:{}'.format(_escape_user_id(user['id']), analysis)


_NO_TRANSFORMS = {}


class Analysis(object):
    """Databench's analysis class: one instance per browser connection.

    Handle an action with a method ``on_<action>`` (or ``@databench.on`` /
    ``@databench.on_action('name')``); write state to ``self.data`` (this
    page) or ``self.class_data`` (every page of this analysis) and every
    change reaches the page.

    :ivar Datastore data: data of this instance (connection)
    :ivar Datastore class_data: data shared by every instance of the class
    :ivar Datastore user_data: data of the signed-in user, shared by every
        page of that user on this analysis (tabs, devices, processes on
        Redis); the session's own when nobody signed in
    :ivar list cli_args: command line arguments
    :ivar dict request_args: the page's query, as ``urllib.parse.parse_qs`` gives it
    :ivar bool resumed: True when this session resumed an earlier one of the
        same page (reloaded by a save of the code, refreshed, or reconnected):
        ``data`` holds what that session left; instance fields start afresh
    :ivar User user: who opened the page when the server has a login, else None
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
    #: True when the page resumed an earlier session: skip re-initialising
    #: ``data`` in ``on_connected`` (``data.init`` keeps existing keys anyway).
    resumed = False
    #: Who opened the page (a :class:`User`) when the server has a login; None otherwise.
    #: Set before ``on_connect``, not in ``__init__``.
    user = None

    def __init__(self):
        self.data = None
        self.class_data = None
        self.user_data = None
        self.cli_args = []
        self.request_args = {}
        self.user = None

    # set up by the framework ---------------------------------------------

    def init_databench(self, id_=None, class_domain=None, data_domain=None, user_domain=None):
        """Give the instance its id and its datastores (called by the framework).

        `class_domain` is the domain of `class_data` the server decided for
        this analysis (None: the class name); `data_domain` and `user_domain`
        those of `data` and `user_data` (None: made from the id, the user
        and the class's domain).
        """
        self.id = self.id_ = id_ or str(uuid.uuid4())
        self._class_domain = class_domain
        self._data_domain = data_domain
        self._user_domain = user_domain
        if '_emit_fn' not in self.__dict__:
            self._emit_fn = None
        self.log_backend = logging.getLogger('databench.{}'.format(type(self).__name__))
        self.log_frontend = logging.getLogger('databench.frontend')
        self.init_datastores()
        self._wire_datastores()
        return self

    @property
    def user_data(self):
        """The signed-in user's Datastore on this analysis, shared by every
        page of that user (tabs, devices, processes on Redis); the session's
        own when nobody signed in. Made on first use (a signed-in or resumed
        session has it from the start)."""
        store = self.__dict__.get('_user_data')
        if store is None and '_class_domain' in self.__dict__:
            self._init_user_data()
            store = self.__dict__['_user_data']
            if self.__dict__.get('_disposed'):
                store.close()  # used after the session ended: as closed as `data` is
            elif '_sink' in self.__dict__:
                self._wire_user_data(store)
        return store

    @user_data.setter
    def user_data(self, store):
        if store is not None and not isinstance(store, Datastore):
            # 0.7 code may have an attribute of its own by this name: it wins,
            # and the user's store is not wired for this analysis
            log.debug('%s sets its own user_data attribute (a %s): no user store for it',
                      type(self).__name__, type(store).__name__)
        self.__dict__['_user_data'] = store

    def _user_store(self):
        """@internal The `user_data` Datastore (made now if it is not yet), or
        None when the analysis set an attribute of its own by that name."""
        store = self.user_data
        return store if isinstance(store, Datastore) else None

    def init_datastores(self):
        """Create `data` (domain: the id, bound to the user when one signed
        in), `class_data` (domain: the class name; `ClassName@analysis_name`
        when another analysis of the folder has a class of the same name) and
        `user_data` (domain: the user and the analysis).

        Override this method to use other datastore backends (a `user_data`
        the override does not set is made as here).
        """
        self.data = Datastore(self._own_data_domain(),
                              release_after_ms=type(self).data_retention_ms)
        self.class_data = Datastore(self.__dict__.get('_class_domain') or type(self).__name__)

    def _own_data_domain(self):
        return (self.__dict__.get('_data_domain')
                or _session_data_domain(self.id_, self.__dict__.get('user')))

    def _init_user_data(self):
        user = self.__dict__.get('user')
        domain = self.__dict__.get('_user_domain') or _user_data_domain(
            user, self.__dict__.get('_class_domain') or type(self).__name__,
            self._own_data_domain())
        # a user's store is kept like class_data; the session's own like data
        self.user_data = Datastore(
            domain, release_after_ms=None if user is not None else type(self).data_retention_ms)

    def _wire_datastores(self):
        self._sink = None
        self.data._on_encoded_change(
            lambda key, encoded, delta=None: self._forward('data', key, encoded, delta))
        self.class_data._on_encoded_change(
            lambda key, encoded, delta=None: self._forward('class_data', key, encoded, delta))
        # (an init_datastores override may have set it; else it is made on first use)
        if isinstance(self.__dict__.get('_user_data'), Datastore):
            self._wire_user_data(self.__dict__['_user_data'])

    def _wire_user_data(self, store):
        store._on_encoded_change(
            lambda key, encoded, delta=None: self._forward('user_data', key, encoded, delta))

    def _forward(self, signal, key, encoded, delta=None):
        table = _table(type(self))
        # (user_data has no transforms)
        name = (table.data if signal == 'data' else
                table.class_data if signal == 'class_data' else _NO_TRANSFORMS).get(key)
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

    def _snapshot(self, signal, max_bytes=None):
        """@internal One frame with every key of `data`, `class_data` or `user_data`
        (after transforms), or None.

        A value whose encoding is larger than `max_bytes` (what the page can
        receive) makes no frame: `ValueTooLarge` names its key and size.
        """
        store = (self.data if signal == 'data' else
                 self.class_data if signal == 'class_data' else self.__dict__.get('_user_data'))
        if not isinstance(store, Datastore) or len(store) == 0:
            return None
        table = _table(type(self))
        transforms = (table.data if signal == 'data' else
                      table.class_data if signal == 'class_data' else _NO_TRANSFORMS)
        parts = []
        for key, encoded in list(store.data.items()):
            name = transforms.get(key)
            if name is not None:
                try:
                    encoded = encode_value(getattr(self, name)(decode_value(encoded)), key)
                except Exception as error:
                    self._report_error(name, error)
                    continue
            if max_bytes is not None and len(encoded) * 3 > max_bytes:
                # UTF-8 takes at least one byte a character: count only when it may fit
                size = len(encoded) if len(encoded) > max_bytes else len(encoded.encode('utf-8'))
                if size > max_bytes:
                    raise ValueTooLarge(signal, key, size)
            parts.append(json.dumps(key, ensure_ascii=False) + ':' + encoded)
        return '{"signal":"' + signal + '","load":{' + ','.join(parts) + '}}'

    def set_emit_fn(self, emit_fn):
        """Set the function emits go through: ``emit_fn(signal, message)``."""
        self._emit_fn = emit_fn
        return self

    # what a handler uses -------------------------------------------------

    @property
    def _current_action(self):
        # the task's own call; outside one (a thread of the handler's), the one that started last
        return _CALL.get() or self.__dict__.get('_last_call')

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
        # the message often carries what a page sent: one escaped, bounded line
        if signal == 'log':
            logger.info('%s', escape_log_text(_log_text(message)))
        elif signal == 'warn':
            logger.warning('%s', escape_log_text(_log_text(message)))
        elif signal == 'error':
            logger.error('%s', escape_log_text(_log_text(message)))
        return self._send(signal, message)

    def _send(self, signal, message=NO_MESSAGE):
        sink = self.__dict__.get('_sink')
        if sink is not None:
            return sink.emit(signal, message)
        fn = self.__dict__.get('_emit_fn')
        if fn is None:
            if self.__dict__.get('_disposed'):
                # the page has gone (a handler or timer still runs): nobody to send to
                log.debug('%s after the session of %s ended: dropped', signal, self.id)
            else:
                log.error('emit called before the analysis was set up')
            return _aio.DONE
        result = fn(signal, message)
        return _aio.start(result) or _aio.DONE

    def set_state(self, updater=None, **kwargs):
        """Update `data`: a dict, a function ``data -> dict``, or keywords (databench 0.7)."""
        return self.data.set_state(updater, **kwargs)

    def set_user_state(self, updater=None, **kwargs):
        """Update `user_data`, shared by every page of the signed-in user."""
        return self.user_data.set_state(updater, **kwargs)

    def set_class_state(self, updater=None, **kwargs):
        """Update `class_data`, shared by every page of this analysis (databench 0.7)."""
        return self.class_data.set_state(updater, **kwargs)

    def _report_error(self, where, error, action=None):
        """A handler failed: the exception's text to the page (an `error`
        frame, as databench 0.7 sent it, and on a served page a `__error`
        frame for its error panel: the action, the message and the file:line
        of the user's code with the lines around it), the traceback to the log."""
        message = _exception_line(error)
        logger = self.__dict__.get('log_backend') or log
        logger.error('[%s %s] %s failed', type(self).__name__, self.id, where,
                     exc_info=(type(error), error, _user_frames(error.__traceback__)))
        sent = self._send('error', '{} failed: {}'.format(where, message))
        reporting = self.__dict__.get('_error_reporting')
        if reporting is None:
            return sent
        details, root = reporting
        load = {'action': action, 'where': where, 'message': message, 'location': None}
        if details:
            load['location'], frame = _location(error, root)
            if frame is not None:
                load['frame'] = frame
        return _aio.combine([sent, self._send('__error', load)])

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
        """The page's ``log``, ``warn`` and ``error`` actions: one line each,
        control characters escaped, cut at 1000 characters, at most 20 lines
        at once and 5 a second per page (what is dropped is counted in the
        next line), as for a TypeScript analysis."""
        limit = self.__dict__.get('_databench_log_limit')
        if limit is None:
            limit = self.__dict__['_databench_log_limit'] = LogRateLimit()
        dropped = limit.take()
        if dropped is False:
            return  # dropped: not even formatted
        logger = self.__dict__.get('log_frontend') or log
        if dropped:
            logger.warning('[frontend %s] %s log line(s) from this page dropped (rate limit)',
                           self.id, dropped)
        parts = [_log_text(a) for a in args]
        if kwargs:
            parts.append(_log_text(kwargs))
        logger.log(level, '[frontend %s] %s', self.id, escape_log_text(' '.join(parts)))

    # databench 0.7's names of the built-in handlers (``super().connected()``)
    connect = on_connect
    args = on_args
    connected = on_connected
    disconnected = on_disconnected

    def log(self, *args, **kwargs):
        """Log to the server's log as the page's ``log`` action does (databench 0.7)."""
        return self.on_log(*args, **kwargs)

    def warn(self, *args, **kwargs):
        """Log a warning as the page's ``warn`` action does (databench 0.7)."""
        return self.on_warn(*args, **kwargs)

    def error(self, *args, **kwargs):
        """Log an error as the page's ``error`` action does (databench 0.7)."""
        return self.on_error(*args, **kwargs)

    def _dispose(self):
        """@internal The session ended: release the stores; what a handler
        or timer still sends is dropped quietly."""
        self._disposed = True
        limit = self.__dict__.get('_databench_log_limit')
        if limit is not None and limit.dropped > 0:
            (self.__dict__.get('log_frontend') or log).warning(
                '[frontend %s] %s log line(s) from this page dropped (rate limit)',
                self.id, limit.dropped)
        self._sink = None
        self._emit_fn = None
        for store in (self.data, self.class_data, self.__dict__.get('_user_data')):
            if isinstance(store, Datastore):
                store.close()
