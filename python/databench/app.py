"""databench 0.7's ``App``: an analyses folder as an application.

The server here is the ``databench`` command (Node.js); ``App`` keeps 0.7's
Python entry points that make sense without Tornado: finding the analyses
folder by import path (``App.get_analyses('analyses')``), its index.yaml
info, the build commands, and serving it (:meth:`App.run`).
``tornado_app()`` has no equivalent: databench-ts's server is not a Tornado
application.
"""

import importlib
import io
import logging
import os
import subprocess
import sys

from ._version import __version__ as DATABENCH_VERSION
from .meta import _TornadoHandler
from .readme import Readme

log = logging.getLogger('databench.app')


def _read_yaml(path):
    try:
        import yaml
    except ImportError:
        log.warning('%s not read: PyYAML is not installed (pip install pyyaml)', path)
        return {}
    with io.open(path, 'r', encoding='utf8') as f:
        return yaml.safe_load(f) or {}


class App(object):
    """An analyses folder (databench 0.7's App).

    :param str analyses_path: the import path of the analyses package
        (``'analyses'``, ``'databench.tests.analyses'``); default: ``analyses``
        beside or above the current directory, else the packaged analyses
    :param zmq_port: not used (kept for databench 0.7 compatibility)
    :param list cli_args: arguments for the analyses
    :param bool debug: watch the files and reload (the server's default)
    """

    def __init__(self, analyses_path=None, zmq_port=None, cli_args=None, debug=False):
        self.cli_args = cli_args or []
        self.debug = debug
        self.info = {
            'title': 'Databench',
            'description': None,
            'description_html': None,
            'author': None,
            'version': '0.0.0',
            'static': {},
        }
        self.analyses, self.analyses_path = self.get_analyses(analyses_path)
        self.analyses_info()

    @staticmethod
    def first_valid_directory(paths, default=None):
        """The first of `paths` that is a folder."""
        return next((p for p in paths if os.path.isdir(p)), default)

    @staticmethod
    def first_valid(paths, default=None):
        """The first of `paths` that exists."""
        return next((p for p in paths if os.path.exists(p)), default)

    @staticmethod
    def static_parser(static):
        """index.yaml's ``static`` (a dict, or a list of dicts or pairs) as (regex, folder) pairs."""
        if static is None:
            return
        if isinstance(static, dict):
            static = static.items()
        for group in static:
            if isinstance(group, dict):
                for item in group.items():
                    yield item
            else:
                yield group

    @classmethod
    def static_routes(cls, analyses_path, static=None):
        """(URL regex, folder) of index.yaml's ``static`` as the server resolves
        them: the folder relative to the analyses folder, else to the current
        directory; a folder that does not exist is left out (and logged)."""
        routes = []
        for pattern, folder in cls.static_parser(static):
            path = cls.first_valid((os.path.join(analyses_path, folder),
                                    os.path.join(os.getcwd(), folder)))
            if path is None:
                log.warning('Did not find static root %s', folder)
                continue
            routes.append(('/' + pattern, os.path.abspath(path)))
        return routes

    @staticmethod
    def get_analyses(analyses_path=None):
        """``(module, folder)`` of the analyses package: `analyses_path` as an
        import path (the current directory on ``sys.path``); else
        ``analyses`` when ``analyses/index.yaml`` is here, or the parent's when
        ``index.yaml`` is; else the packaged analyses."""
        if analyses_path:
            module = _import_with_path(analyses_path, '.')
        elif os.path.isfile(os.path.join('analyses', 'index.yaml')):
            module = _import_with_path('analyses', '.')
        elif os.path.isfile('index.yaml'):
            module = _import_with_path(os.path.basename(os.getcwd()), '..')
        else:
            log.warning('Did not find "analyses" module. Using packaged analyses.')
            from . import analyses_packaged as module
        folder = os.path.dirname(os.path.abspath(module.__file__)) \
            if getattr(module, '__file__', None) else list(module.__path__)[0]
        return module, os.path.abspath(folder)

    def analyses_info(self):
        """Read index.yaml (and the folder's README) into ``info``."""
        config = os.path.join(self.analyses_path, 'index.yaml')
        if os.path.isfile(config):
            self.info.update(_read_yaml(config))
        readme = Readme(self.analyses_path, watch=False)
        if self.info['description'] is None:
            self.info['description'] = readme.text.strip()
        self.info['description_html'] = readme.html

    def build(self):
        """Run the ``build`` commands of index.yaml (``databench --build``)."""
        from .cli import _command
        return subprocess.call(_command() + ['--build', '--analyses', self.analyses_path])

    def run(self, argv=None):
        """Serve the folder with the databench server until it exits; returns its exit code."""
        from .cli import _command
        args = list(sys.argv[1:] if argv is None else argv)
        if not self.debug and '--no-watch' not in args:
            args.append('--no-watch')
        return subprocess.call(_command() + ['--analyses', self.analyses_path] + args +
                               (['--'] + self.cli_args if self.cli_args else []))

    def tornado_app(self, *args, **kwargs):
        raise NotImplementedError(
            'databench-ts serves analyses with its own server, not a Tornado application: '
            'run `databench --analyses {}` (or App(...).run())'.format(self.analyses_path))


class SingleApp(object):
    """databench 0.7's app of one analysis: use :func:`databench.run`."""

    def __init__(self, analysis, path=None, name=None, cli_args=None, debug=False,
                 extra_routes=None, info=None, static=None):
        self.analysis = analysis
        self.path = path
        self.name = name
        self.info = info
        self.static = static
        self.cli_args = cli_args or []

    def run(self):
        """Serve it (:func:`databench.run`)."""
        from .cli import run
        return run(self.analysis, self.path, self.name, self.info, static=self.static)

    def tornado_app(self, *args, **kwargs):
        raise NotImplementedError('databench-ts does not make Tornado applications: use '
                                  'databench.run(AnalysisClass, __file__)')


class IndexHandler(_TornadoHandler):
    """databench 0.7's index page handler (not used here: the server renders the index)."""


def _import_with_path(module_name, path):
    sys.path.insert(0, path)
    try:
        return importlib.import_module(module_name)
    finally:
        try:
            sys.path.remove(path)
        except ValueError:
            pass


__all__ = ['App', 'SingleApp', 'IndexHandler', 'DATABENCH_VERSION']
