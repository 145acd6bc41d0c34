"""databench 0.7's ``scaffold-databench NAME``: :func:`main` runs the
``scaffold-databench`` command of the npm package (a Python analysis in
0.7's layout); the helpers below do its steps from Python."""

import logging
import os
import shutil
import subprocess
import sys

from . import _runtime

log = logging.getLogger(__name__)

#: The file endings copied as text, with the scaffold's name replaced.
TEXT_ENDINGS = ('.py', '.js', '.ts', '.html', '.md', '.rst', '.yaml', '.json', '.css')


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


def check_folders(name):
    """Whether ``analyses/NAME`` can be made here; logs why not (0.7 asked on
    the terminal; this never waits for input)."""
    cwd = os.getcwd()
    if os.path.basename(cwd) == 'analyses':
        log.warning('You are in an analyses folder: this makes analyses/ inside it.')
    if os.path.exists(os.path.join(cwd, 'analyses', name)):
        log.warning('An analysis named %s exists already.', name)
        return False
    return True


def create_analyses(name, kernel=None):
    """Make ``analyses/`` (with ``__init__.py`` and ``index.yaml``) when it is
    missing, and add ``NAME`` to index.yaml's list (``kernel: KERNEL`` when given)."""
    folder = os.path.join(os.getcwd(), 'analyses')
    if not os.path.isdir(folder):
        os.makedirs(folder)
    init = os.path.join(folder, '__init__.py')
    if not os.path.exists(init):
        open(init, 'w').close()
    index = os.path.join(folder, 'index.yaml')
    if not os.path.exists(index):
        with open(index, 'w', encoding='utf-8') as f:
            f.write('title: Analyses\ndescription: A short description.\nversion: 0.1.0\n\n'
                    'analyses:\n')
    with open(index, 'a', encoding='utf-8') as f:
        f.write('  # added by scaffold-databench\n  - name: {}\n    title: {}\n'
                '    description: A new analysis.\n'.format(name, name.title()))
        if kernel is not None:
            f.write('    kernel: {}\n'.format(kernel))


def copy_scaffold_file(src, dest, name, scaffold_name):
    """Copy one file of the scaffold, with `scaffold_name` replaced by `name`
    in text files; an existing `dest` is kept."""
    if os.path.exists(dest):
        log.warning('File %s exists already. Skipping.', dest)
        return
    if not src.endswith(TEXT_ENDINGS):
        shutil.copyfile(src, dest)
        return
    with open(src, 'r', encoding='utf-8') as f:
        text = f.read()
    text = text.replace(scaffold_name, name).replace(scaffold_name.title(), name.title())
    with open(dest, 'w', encoding='utf-8') as f:
        f.write(text)


def create_analysis(name, kernel=None, src_dir=None, scaffold_name=None):
    """Make ``analyses/NAME/`` from a scaffold folder (default: the npm
    package's ``scaffold_py``)."""
    if src_dir is None:
        scaffold_name = scaffold_name or 'scaffold_py'
        src_dir = os.path.join(_runtime.PACKAGE_ROOT, 'analyses', scaffold_name)
    scaffold_name = scaffold_name or os.path.basename(os.path.normpath(src_dir))
    folder = os.path.join(os.getcwd(), 'analyses', name)
    os.makedirs(folder, exist_ok=True)
    for entry in os.listdir(src_dir):
        if entry == '__pycache__' or entry.endswith('.pyc'):
            continue
        path = os.path.join(src_dir, entry)
        if os.path.isfile(path):
            copy_scaffold_file(path, os.path.join(folder, entry.replace(scaffold_name, name)),
                               name, scaffold_name)


if __name__ == '__main__':
    sys.exit(main())
