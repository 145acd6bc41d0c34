"""Blocks at import (a network call that never answers)."""

import time

import databench

time.sleep(3600)


class Stuck(databench.Analysis):
    pass
