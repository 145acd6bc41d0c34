"""databench for Python: write an analysis as a ``databench.Analysis``
subclass and serve it with the databench server (an ``analysis.py`` in the
analyses folder, or ``kernel: py`` in index.yaml); test it with
``databench.testing.AnalysisTest``. The names of databench 0.7's package
are here with their 0.7 behaviour (see docs/guides/python.md)."""

import os as _os

if _os.environ.pop('DATABENCH_KERNEL', None) == '1':
    # the server's kernel process (python -m databench.kernel): OpenSSL is
    # loaded when something first uses it, not at start
    from . import _ssl_on_use
    _ssl_on_use.import_asyncio()

from ._version import __version__
from . import utils
from .analysis import Analysis, User, on, on_action
from .datastore import Datastore, MemoryBackend
from .meta import Meta
from .upload import UploadedFile


#: Submodules reachable after a plain ``import databench`` (as in 0.7),
#: imported when first used: they bring unittest or Tornado, which a kernel
#: does not need.
_LAZY = ('testing', 'template', 'scaffold')
#: Names of the package imported from their module when first used (a
#: kernel process, which runs an analysis, needs none of them at start).
_LAZY_NAMES = {'AnalysisZMQ': 'analysis_zmq', 'App': 'app', 'DatastoreLegacy': 'datastore_legacy',
               'MetaZMQ': 'meta_zmq', 'Readme': 'readme', 'run': 'cli'}


def __getattr__(name):
    import importlib
    if name in _LAZY:
        return importlib.import_module('.' + name, __name__)
    module = _LAZY_NAMES.get(name)
    if module is not None:
        value = getattr(importlib.import_module('.' + module, __name__), name)
        globals()[name] = value
        return value
    raise AttributeError("module 'databench' has no attribute {!r}".format(name))


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_NAMES))

__all__ = ['Analysis', 'AnalysisZMQ', 'App', 'Datastore', 'DatastoreLegacy', 'MemoryBackend',
           'Meta', 'MetaZMQ', 'on', 'on_action', 'Readme', 'run', 'testing', 'UploadedFile',
           'User', 'utils', '__version__']
