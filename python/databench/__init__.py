"""databench for Python: write an analysis as a ``databench.Analysis``
subclass and serve it with the databench server (``kernel: py`` in
index.yaml); test it with ``databench.testing.AnalysisTest``."""

from . import utils
from .analysis import Analysis, User, on, on_action
from .datastore import Datastore, MemoryBackend
from .meta import Meta

__version__ = '0.1.0'

__all__ = ['Analysis', 'User', 'Datastore', 'MemoryBackend', 'Meta', 'on', 'on_action', 'utils',
           '__version__']
