"""What the package knows about where it runs."""

import os

#: True in a kernel process of the server (``python -m databench.kernel``):
#: ``databench.run`` and ``databench_py``'s ``event_loop`` then do nothing,
#: since the server already serves the analysis.
IN_KERNEL = False

#: The folder of this Python package's parent (``python/`` of the npm package).
PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The npm package databench-ts this Python package ships in.
PACKAGE_ROOT = os.path.dirname(PYTHON_DIR)
