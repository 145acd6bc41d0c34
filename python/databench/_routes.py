"""``routes.py`` beside an analysis: databench 0.7's extra HTTP routes,
Tornado ``RequestHandler`` subclasses listed in ``ROUTES``, run in the
analysis's kernel process.

The kernel reports the route patterns in its ``ready`` message; the server
serves ``/<name>/<pattern>`` by forwarding each request that matches over
the kernel channel (``http``) and writing the response this module sends
back (``http-response``). A request runs through Tornado's own
``Application`` as a request from a socket would (its routing, argument and
body parsing, ``write``/``finish``, error pages), with a connection that
collects the response instead of writing it to a socket.

A route that changes state (any method but GET and HEAD) is refused by the
server for a page of another origin, as ``routes.ts`` routes are; a
handler class with ``allow_cross_origin = True`` lets other sites call it.
"""

import base64
import logging
import os
import sys
import traceback

#: The largest response body a route may send; a larger one is a 500.
MAX_RESPONSE_BYTES = 10 * 1024 * 1024

log = logging.getLogger('databench.routes')


class RoutesError(Exception):
    """routes.py cannot be served (the message says where and why)."""


def _where(error, file):
    """``file:line: Type: text`` of the innermost frame in routes.py (else the last)."""
    frames = traceback.extract_tb(error.__traceback__)
    mine = [f for f in frames if os.path.abspath(f.filename) == file]
    frame = (mine or frames or [None])[-1]
    text = '{}: {}'.format(type(error).__name__, error)
    if frame is None:
        return '{}: {}'.format(file, text)
    return '{}:{}: {}'.format(frame.filename, frame.lineno, text)


def _import(file, analysis_module):
    """routes.py as 0.7 imported it: beside analysis.py, in the same package
    when the analysis is in one (relative imports then work), else as the
    top-level module ``routes`` (analysis.py's folder is on sys.path)."""
    import importlib
    import importlib.util

    package = getattr(analysis_module, '__package__', None)
    if package:
        return importlib.import_module(package + '.routes')
    spec = importlib.util.spec_from_file_location('routes', file)
    module = importlib.util.module_from_spec(spec)
    sys.modules['routes'] = module
    spec.loader.exec_module(module)
    return module


def load(name, analysis_file, cls, send):
    """The routes of ``routes.py`` beside ``analysis_file``; None when there
    is no routes.py. Raises RoutesError when it cannot be served."""
    file = os.path.join(os.path.dirname(os.path.abspath(analysis_file)), 'routes.py')
    if not os.path.isfile(file):
        return None
    try:
        module = _import(file, sys.modules.get(cls.__module__))
    except SyntaxError as error:
        raise RoutesError('{}:{}: SyntaxError: {}'.format(error.filename, error.lineno, error.msg))
    except ImportError as error:
        text = _where(error, file)
        if (error.name or '').split('.')[0] == 'tornado':
            text += ('\n    routes.py needs Tornado: pip install tornado '
                     '(or apt-get install python3-tornado)')
        raise RoutesError(text)
    except Exception as error:
        raise RoutesError(_where(error, file))
    routes = getattr(module, 'ROUTES', None)
    if routes is None:
        log.warning('%s defines no ROUTES: it serves no routes', file)
        return None
    return Routes(name, file, routes, send)


class Routes(object):
    """The routes of one routes.py, as one Tornado Application."""

    def __init__(self, name, file, routes, send):
        try:
            import tornado.web
        except ImportError:
            raise RoutesError('{}: routes.py needs Tornado: pip install tornado '
                              '(or apt-get install python3-tornado)'.format(file))
        self.send = send
        self.patterns = []
        rules = []
        for i, route in enumerate(routes if isinstance(routes, (list, tuple)) else [None]):
            if (not isinstance(route, (list, tuple)) or len(route) not in (2, 3)
                    or not isinstance(route[0], str)
                    or not (isinstance(route[1], type)
                            and issubclass(route[1], tornado.web.RequestHandler))):
                raise RoutesError(
                    '{}: ROUTES[{}] must be (pattern, RequestHandler subclass, kwargs), '
                    'got {!r}'.format(file, i, route))
            pattern, handler = route[0], route[1]
            kwargs = route[2] if len(route) == 3 else {}
            self.patterns.append({
                'pattern': pattern,
                'crossOrigin': getattr(handler, 'allow_cross_origin', False) is True,
            })
            rules.append(('/{}/{}'.format(name, pattern), handler, kwargs))
        # 0.7 found templates of handlers in the analyses folder
        analyses = os.path.dirname(os.path.dirname(file))
        self.app = tornado.web.Application(rules, template_path=analyses,
                                           log_function=_log_request)

    def handle(self, loop, message):
        """Run one forwarded request; its response is sent when it finishes."""
        loop.create_task(self._run(loop, message))

    async def _run(self, loop, message):
        from tornado import httputil

        rid = message['rid']
        connection = _Connection(loop, message.get('remoteIp'), message.get('protocol'))
        try:
            headers = httputil.HTTPHeaders()
            for key, value in message.get('headers') or []:
                headers.add(key, value)
            start = httputil.RequestStartLine(message['method'], message['uri'], 'HTTP/1.1')
            delegate = self.app.start_request(None, connection)
            waited = delegate.headers_received(start, headers)
            if waited is not None:
                await waited
            body = base64.b64decode(message.get('body') or '')
            if body:
                waited = delegate.data_received(body)
                if waited is not None:
                    await waited
            delegate.finish()
            await connection.finished
        except Exception as error:
            log.error('%s %s failed: %s', message.get('method'), message.get('uri'), error,
                      exc_info=(type(error), error, error.__traceback__))
            self.send({'t': 'http-response', 'rid': rid, 'status': 500, 'reason': '',
                       'headers': [['Content-Type', 'text/plain; charset=utf-8']],
                       'body': base64.b64encode(b'internal server error\n').decode('ascii')})
            return
        body = b''.join(connection.chunks)
        if len(body) > MAX_RESPONSE_BYTES:
            log.error('%s %s: the response has %d bytes, more than %d: sent a 500 instead',
                      message.get('method'), message.get('uri'), len(body), MAX_RESPONSE_BYTES)
            self.send({'t': 'http-response', 'rid': rid, 'status': 500, 'reason': '',
                       'headers': [['Content-Type', 'text/plain; charset=utf-8']],
                       'body': base64.b64encode(b'response too large\n').decode('ascii')})
            return
        start_line = connection.start_line
        self.send({
            't': 'http-response',
            'rid': rid,
            'status': start_line.code if start_line is not None else 200,
            'reason': start_line.reason if start_line is not None else '',
            'headers': [[k, v] for k, v in (connection.headers.get_all()
                                            if connection.headers is not None else [])],
            'body': base64.b64encode(body).decode('ascii'),
        })


def _log_request(handler):
    """Tornado's access log, at debug: the server logs no access lines of its own."""
    status = handler.get_status()
    if status >= 500:
        level = logging.ERROR
    elif status >= 400:
        level = logging.INFO
    else:
        level = logging.DEBUG
    request = handler.request
    log.log(level, '%d %s %s (%s) %.2fms', status, request.method, request.uri,
            request.remote_ip, 1000.0 * request.request_time())


class _Context(object):
    __slots__ = ('remote_ip', 'protocol')

    def __init__(self, remote_ip, protocol):
        self.remote_ip = remote_ip
        self.protocol = protocol or 'http'


class _Connection(object):
    """Tornado's ``HTTPConnection`` of one forwarded request: collects the
    response (start line, headers, body) instead of writing to a socket."""

    def __init__(self, loop, remote_ip, protocol):
        self.loop = loop
        self.context = _Context(remote_ip, protocol)
        self.start_line = None
        self.headers = None
        self.chunks = []
        self.finished = loop.create_future()

    def _done(self):
        future = self.loop.create_future()
        future.set_result(None)
        return future

    def set_close_callback(self, callback):
        # the page's socket is the server's: a forwarded request is never closed early here
        pass

    def write_headers(self, start_line, headers, chunk=None, callback=None):
        self.start_line = start_line
        self.headers = headers
        if chunk:
            self.chunks.append(chunk)
        return self._done()

    def write(self, chunk, callback=None):
        self.chunks.append(chunk)
        return self._done()

    def finish(self):
        if not self.finished.done():
            self.finished.set_result(None)
