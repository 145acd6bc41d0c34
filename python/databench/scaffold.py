"""databench 0.7's ``scaffold-databench NAME``: runs the ``scaffold-databench``
command of the npm package (a Python analysis in 0.7's layout)."""

import os
import subprocess
import sys

from . import _runtime


def main():
    """Run ``scaffold-databench`` with this process's arguments; returns its exit code."""
    from .cli import _command
    command = _command()
    script = os.path.join(_runtime.PACKAGE_ROOT, 'bin', 'scaffold-databench.js')
    if len(command) == 2 and os.path.isfile(script):
        command = [command[0], script]
    else:
        command = command + ['new']
    return subprocess.call(command + sys.argv[1:])


if __name__ == '__main__':
    sys.exit(main())
