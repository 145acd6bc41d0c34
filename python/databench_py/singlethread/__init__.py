"""databench 0.7's single-threaded Python language kernel: ``Meta``."""

from .meta import Meta  # noqa: F401

__version__ = '0.7.3'
