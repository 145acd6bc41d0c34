"""databench 0.7's packaged analyses (``databench.analyses_packaged``): the
npm package's ``analyses/`` folder as a Python package (``dummypi_py``),
and ``dummypi``, 0.7's in-process Python π estimate, for the code and tests
written against it."""

import os

from .._runtime import PACKAGE_ROOT

_SHIPPED = os.path.join(PACKAGE_ROOT, 'analyses')
if os.path.isdir(_SHIPPED):
    __path__.append(_SHIPPED)  # noqa: F821  (a package's own __path__)
