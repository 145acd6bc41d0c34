"""databench 0.7's module for language-kernel analyses (``kernel: py``).

In 0.7 a ``kernel: py`` analysis was a script the server started once per
page, talking over ZeroMQ::

    if __name__ == '__main__':
        analysis = databench_py.singlethread.Meta('name', MyAnalysis)
        analysis.event_loop()

Here the server's Python kernel imports ``analysis.py`` and runs its
``databench.Analysis`` subclass itself (that block does not run), so such a
script serves unchanged. Run as a script (``python analysis.py``) it serves
its analysis with :func:`databench.run`.
"""

from databench import Analysis  # noqa: F401  (0.7's databench_py.Analysis)

from . import singlethread  # noqa: F401

__version__ = '0.7.3'
