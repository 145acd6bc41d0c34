"""databench.Meta: one kind of analysis, and how an action runs on an instance."""

import collections
import glob
import inspect
import logging
import os

from . import _aio
from ._version import __version__ as DATABENCH_VERSION
from ._wire import NO_MESSAGE, PROCESS_ID_KEY, PROCESS_SIGNAL
from .analysis import _CALL, _INNER, _exception_line, _table
from .upload import Positional

log = logging.getLogger('databench.meta')

#: Actions every analysis has; running one with no handler is not worth a warning.
BUILT_IN = frozenset(['connect', 'args', 'connected', 'disconnected', 'log', 'warn', 'error'])


#: Actions a page cannot send: not worth suggesting.
_SERVER_ONLY = frozenset(['connect', 'args', 'connected', 'disconnected'])


def _edit_distance(a, b):
    """Insertions, deletions, replacements and swaps of neighbours from `a` to `b`."""
    before, previous = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            d = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d = min(d, before[j - 2] + 1)
            row[j] = d
        before, previous = previous, row
    return previous[len(b)]


def _no_handler_text(action, class_name, table):
    """`no handler for 'cuont' on Counter (did you mean 'count'?)`, as the
    TypeScript kernel words it (src/util/nearest.ts: the nearest handler
    within a third of the name's length in edits, ignoring case)."""
    best, best_distance = None, max(1, len(action) // 3) + 1
    for name in sorted(table.handlers):
        if name in _SERVER_ONLY or name == action:
            continue
        d = _edit_distance(action.lower(), name.lower())
        if d < best_distance:
            best, best_distance = name, d
    text = "no handler for '{}' on {}".format(action, class_name)
    return text if best is None else "{} (did you mean '{}'?)".format(text, best)


class _Plan(object):
    """What binding a message to one handler function needs, found once per
    function (``inspect.signature`` and ``Signature.bind`` cost tens of
    microseconds a call): its signature as a bound method, and whether a
    call's arguments fit it, decided without binding in the usual cases."""

    __slots__ = ('signature', 'names', 'required', 'positional', 'varargs', 'varkw', 'simple')

    def __init__(self, signature):
        self.signature = signature
        params = list(signature.parameters.values())
        kinds = set(p.kind for p in params)
        P = inspect.Parameter
        #: only positional-or-keyword parameters, *args and **kwargs: decided here
        self.simple = kinds <= {P.POSITIONAL_OR_KEYWORD, P.VAR_POSITIONAL, P.VAR_KEYWORD}
        plain = [p for p in params if p.kind is P.POSITIONAL_OR_KEYWORD]
        self.names = frozenset(p.name for p in plain)
        self.required = [p.name for p in plain if p.default is P.empty]
        self.positional = len(plain)
        self.varargs = P.VAR_POSITIONAL in kinds
        self.varkw = P.VAR_KEYWORD in kinds

    def fits(self, args, kwargs):
        """True when the call surely binds; False: ask the signature (it says why not)."""
        if not self.simple:
            return False
        if not kwargs:
            return (len(self.required) <= len(args)
                    and (self.varargs or len(args) <= self.positional))
        if args or self.varkw:
            return False
        names = self.names
        for key in kwargs:
            if key not in names:
                return False
        for name in self.required:
            if name not in kwargs:
                return False
        return True


#: handler function -> (its code, defaults, keyword defaults, _Plan): a plain
#: dict (a weak one allocates a weakref per look-up); a class's methods live
#: as long as the class, the kernel's classes as long as the process
_plans = {}


def _plan_of(method):
    """The binding plan of a bound method, cached per function (made again
    when its ``__code__`` or defaults were replaced); None when it has no
    signature (a builtin)."""
    func = getattr(method, '__func__', None)
    code = getattr(func, '__code__', None)
    if code is not None:
        entry = _plans.get(func)
        if (entry is not None and entry[0] is code and entry[1] is func.__defaults__
                and entry[2] is func.__kwdefaults__):
            return entry[3]
    try:
        plan = _Plan(inspect.signature(method))
    except (TypeError, ValueError):
        return None
    if code is not None:
        _plans[func] = (code, func.__defaults__, func.__kwdefaults__, plan)
    return plan


def _bind(analysis, action, name, message):
    """The bound method and its arguments, as docs/reference/protocol.md binds them: a list
    is positional, a dict keyword arguments, anything else the first
    argument, no message no arguments. Returns (method, args, kwargs, error)."""
    method = getattr(analysis, name)
    if message is NO_MESSAGE:
        args, kwargs = (), {}
    elif isinstance(message, list):
        args, kwargs = message, {}
    elif isinstance(message, dict):
        args, kwargs = (), message
    else:
        args, kwargs = (message,), {}
    plan = _plan_of(method)
    if plan is None:
        return method, args, kwargs, None  # no signature (a builtin): just call it
    if plan.fits(args, kwargs):
        return method, args, kwargs, None
    signature = plan.signature
    params = signature.parameters.values()
    if kwargs and not any(p.kind is p.VAR_KEYWORD for p in params):
        known = set(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        unknown = [k for k in kwargs if k not in known]
        if unknown:
            return method, args, kwargs, 'action "{}": unknown argument "{}"; {} takes {}'.format(
                action, unknown[0], name, signature)
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        return method, args, kwargs, 'action "{}": {}; {} takes {}'.format(
            action, error, name, signature)
    return method, args, kwargs, None


#: databench 0.7's WebSocket ping interval (ms); the server here pings on its own.
PING_INTERVAL = 15000


def _call(method, args, kwargs):
    """Call a handler for the framework: a decorated method's own function
    (its generator is driven in this run, no task of its own)."""
    inner = getattr(getattr(method, '__func__', None), _INNER, None)
    if inner is not None:
        return inner(method.__self__, *args, **kwargs)
    return method(*args, **kwargs)


class _TornadoHandler(object):
    """A Tornado request handler of databench 0.7's own server; the server
    here is databench-ts's (Node.js), so there is nothing to mount."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            '{} was a Tornado handler of databench 0.7\'s server; databench-ts serves pages '
            'and WebSockets itself: run `databench` (or databench.run)'.format(type(self).__name__))


class FrontendHandler(_TornadoHandler):
    """databench 0.7's WebSocket handler (not used here: the server is databench-ts's)."""


class RenderTemplate(_TornadoHandler):
    """databench 0.7's page handler (not used here: the server renders pages itself)."""


class Meta(object):
    """Meta class referencing an analysis.

    :param str name: name of this analysis
    :param analysis_class: the `databench.Analysis` subclass instantiated per connection
    :param str analysis_path: path of the analysis
    :param list extra_routes: kept for databench 0.7 compatibility (routes are the server's)
    :param list cli_args: arguments from the command line
    :param str main_template: kept for databench 0.7 compatibility (the page is the server's)
    :param dict info: entries over the defaults of ``info`` (title, readme, description, ...)
    """

    def __init__(self, name, analysis_class, analysis_path, extra_routes=None, cli_args=None,
                 main_template='index.html', info=None):
        self.name = name
        self.analysis_class = analysis_class
        self.analysis_path = analysis_path
        self.extra_routes = extra_routes or []
        self.cli_args = cli_args or []
        self.main_template = main_template
        self._info = info
        self.fill_action_handlers(analysis_class)

    @property
    def info(self):
        """databench 0.7's page info: title, readme (HTML), description, thumbnail, ...
        (read when first asked for)."""
        if not isinstance(self._info, dict) or '_databench_filled' not in self._info:
            from .readme import Readme
            thumbnails = sorted(glob.glob(os.path.join(self.analysis_path, 'thumbnail.*')))
            readme = Readme(self.analysis_path, watch=False)
            info = {
                'title': self.analysis_class.__name__,
                'readme': readme.html,
                'description': readme.text.strip(),
                'show_in_index': True,
                'thumbnail': os.path.basename(thumbnails[0]) if thumbnails else False,
                'home_link': False,
                'version': '0.0.0',
            }
            info.update(self._info or {})
            info['_databench_filled'] = True
            self._info = info
        return {k: v for k, v in self._info.items() if k != '_databench_filled'}

    @staticmethod
    def fill_action_handlers(analysis_class):
        """Set ``analysis_class._action_handlers``: action name -> the
        functions that handle it (databench 0.7's table; the framework here
        keeps its own)."""
        table = _table(analysis_class)
        handlers = collections.defaultdict(list)
        for action, names in table.handlers.items():
            handlers[action] = [getattr(analysis_class, name) for name in names]
        if table.wildcard:
            handlers['*'] = [getattr(analysis_class, name) for name in table.wildcard]
        analysis_class._action_handlers = handlers
        return handlers

    @staticmethod
    async def run_process(analysis, action_name, message=NO_MESSAGE, callback=None, call=None):
        """Execute the action `action_name` on `analysis` with `message`.

        Every handler of the action runs, then every ``'*'`` handler. A dict
        message with the key ``__process_id`` gets ``__process`` start and
        end frames around the run. A handler that raises becomes an `error`
        signal (its traceback goes to the log); this never raises.
        `callback` is called when done (e.g. ``stop`` in tests). `call` is
        the kernel's record of this call (what its cancel sets), when it has one.
        """
        if analysis is None:
            return
        load = message
        has_process = False
        process_id = None
        if isinstance(load, dict) and PROCESS_ID_KEY in load:
            has_process = True
            load = dict(load)
            process_id = load.pop(PROCESS_ID_KEY)
        elif isinstance(load, Positional):
            # an upload's action: the file is the one argument, whatever its parameter's name
            has_process = load.process_id is not None
            process_id = load.process_id
            load = load.args
        if has_process:
            start = {'id': process_id, 'status': 'start'}
            if call is not None and call.get('concurrency') == 'latest':
                start['concurrency'] = 'latest'
            await analysis._send(PROCESS_SIGNAL, start)
        table = _table(type(analysis))
        names = table.handlers.get(action_name)
        failed = False
        # what a cancel and self.progress() find: the call that runs now
        current = call if call is not None else {
            'id': process_id if has_process else None, 'action': action_name,
            'cancelled': False}
        current.setdefault('last_progress', 0.0)
        previous = analysis.__dict__.get('_last_call')
        analysis.__dict__['_last_call'] = current
        token = _CALL.set(current)
        for name in names or ():
            method, args, kwargs, error = _bind(analysis, action_name, name, load)
            if error is not None:
                failed = True
                logger = analysis.__dict__.get('log_backend') or log
                logger.warning('[%s %s] %s', type(analysis).__name__, analysis.id, error)
                await analysis._send('error', error)
                continue
            try:
                await _aio.settle(_call(method, args, kwargs), analysis)
            except Exception as e:
                failed = True
                await analysis._report_error('action "{}"'.format(action_name), e, action_name)
        for name in table.wildcard:
            try:
                await _aio.settle(_call(getattr(analysis, name),
                                        (action_name, None if load is NO_MESSAGE else load), {}),
                                  analysis)
            except Exception as e:
                failed = True
                await analysis._report_error(
                    'action "{}" (* handler {})'.format(action_name, name), e, action_name)
        if not names and not table.wildcard and action_name not in BUILT_IN:
            await analysis.emit('warn', 'no handler for {}'.format(action_name))
            if analysis.__dict__.get('_served'):
                # a served page's error panel says which name was meant
                await analysis._send('__error', {
                    'action': action_name, 'where': 'action "{}"'.format(action_name),
                    'message': _no_handler_text(action_name, type(analysis).__name__, table),
                    'location': None})
        _CALL.reset(token)
        analysis.__dict__['_last_call'] = previous
        if has_process:
            end = {'id': process_id, 'status': 'end'}
            if failed:
                end['error'] = True
            if current['cancelled']:
                end['cancelled'] = True
            await analysis._send(PROCESS_SIGNAL, end)
        if callback is not None:
            callback()


async def _run_lifecycle(run_process, analysis, cli_args, request_args):
    """`connect`, `args` and `connected`, in order: how a session starts, in
    the kernel and in `AnalysisTest` (whose `meta` brings its own
    `run_process`)."""
    await run_process(analysis, 'connect')
    await run_process(analysis, 'args', {'cli_args': cli_args, 'request_args': request_args})
    await run_process(analysis, 'connected')


__all__ = ['Meta', 'BUILT_IN', 'PING_INTERVAL', 'FrontendHandler', 'RenderTemplate',
           '_exception_line']
