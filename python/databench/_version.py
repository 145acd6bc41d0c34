"""The version of this Python package (the npm package's)."""

__version__ = '0.1.0'
