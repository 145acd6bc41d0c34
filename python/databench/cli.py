"""databench 0.7's command line entries, served by this package's server.

``databench.run(Analysis, __file__)`` (0.7's single-analysis entry) starts
the databench server (the ``databench`` command of the npm package this
Python package ships in, run with Node.js) for that one analysis, run in a
Python kernel process by the interpreter that runs the script; it blocks,
running this thread's event loop (Tornado's, when Tornado is installed),
until the loop is stopped, Ctrl-C, or the server exits. ``main()`` runs the
``databench`` command with this process's arguments.
"""

import asyncio
import importlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import warnings

from . import _runtime
from ._version import __version__ as DATABENCH_VERSION

log = logging.getLogger('databench.cli')

#: How long the server may take to stop (it caps its own shutdown at 6 s).
STOP_TIMEOUT_S = 10
_SERVING = re.compile(r'databench is serving at (\S+)')


def _command():
    """How to start the databench command: ``DATABENCH_COMMAND`` (a command
    line, for tests and unusual installs), else this package's own, else
    `databench` on PATH."""
    configured = os.environ.get('DATABENCH_COMMAND')
    if configured:
        return shlex.split(configured)
    script = os.path.join(_runtime.PACKAGE_ROOT, 'bin', 'databench.js')
    if os.path.isfile(script):
        node = shutil.which('node')
        if node is None:
            raise RuntimeError('databench.run needs Node.js 20 or newer on PATH (the databench '
                               'server runs on it): install it from https://nodejs.org')
        return [node, script]
    command = shutil.which('databench')
    if command is None:
        raise RuntimeError('no databench command found: install the npm package '
                           '(npm install databench-ts) and run this with its Python package '
                           '(PYTHONPATH=$(npx databench --python-path))')
    return [command]


def main(**kwargs):
    """Run the databench command with this process's arguments (databench
    0.7's ``databench.cli:main``); with keyword arguments, :func:`run` them.
    Returns the command's exit code."""
    if kwargs:
        return run(**kwargs)
    return subprocess.call(_command() + sys.argv[1:])


def _load_class(spec):
    """@internal In the kernel: the class ``databench.run`` serves, from the
    file or module it was defined in (a script's ``__main__`` guard does not run)."""
    for path in reversed(spec['paths']):
        if path not in sys.path:
            sys.path.insert(0, path)
    if spec.get('file'):
        loaded = importlib.util.spec_from_file_location('databench_run_main', spec['file'])
        module = importlib.util.module_from_spec(loaded)
        sys.modules['databench_run_main'] = module
        loaded.loader.exec_module(module)
    else:
        module = importlib.import_module(spec['module'])
    return getattr(module, spec['class'])


def _where_defined(analysis, folder):
    """How the kernel finds the class: its module by name when that imports
    from sys.path, else the file it was loaded from (a script's
    ``__main__``, a test runner's module loaded by path)."""
    name = analysis.__module__
    module = sys.modules.get(name)
    file = getattr(module, '__file__', None)
    if name != '__main__':
        top = name.partition('.')[0]
        found = importlib.machinery.PathFinder.find_spec(top, sys.path)
        if found is not None:
            return {'module': name}
    return {'file': os.path.abspath(file or os.path.join(folder, 'analysis.py'))}


def _static_items(static):
    """databench 0.7's `static` (a dict, or a list of pairs or dicts) as pairs."""
    if not static:
        return []
    if isinstance(static, dict):
        return list(static.items())
    items = []
    for group in static:
        items.extend(group.items() if isinstance(group, dict) else [tuple(group)])
    return items


#: Files of the analysis's folder larger than this are not copied for databench.run.
MAX_COPIED_BYTES = 16 << 20


def _not_served(folder, names):
    """What databench.run leaves out of its copy of the analysis's folder."""
    skipped = set()
    for name in names:
        path = os.path.join(folder, name)
        if name.startswith('.') or name in ('node_modules', '__pycache__', 'analysis.py',
                                             'index.yaml'):
            skipped.add(name)
        elif os.path.isfile(path) and os.path.getsize(path) > MAX_COPIED_BYTES:
            log.warning('databench.run: %s is not served (larger than %s MiB)', path,
                        MAX_COPIED_BYTES >> 20)
            skipped.add(name)
    return skipped


def _write_folder(analysis, folder, name, info, static):
    """An analyses folder with this one analysis: index.yaml, and a folder
    with a copy of the analysis's own files (its page, scripts, static/;
    not node_modules, dotfiles or files over 16 MiB) and an ``analysis.py``
    that loads the class from where it is."""
    root = tempfile.mkdtemp(prefix='databench-run-')
    cwd = os.getcwd()
    resolved = {}
    for pattern, target in _static_items(static):
        # as databench 0.7: beside the analysis, else from the current directory
        candidates = [os.path.join(folder, target), os.path.join(cwd, target)]
        resolved[pattern] = next((os.path.abspath(c) for c in candidates if os.path.exists(c)),
                                 os.path.abspath(candidates[0]))
    entry = {'name': name, 'kernel': 'py', 'python': sys.executable,
             'title': info.get('title', analysis.__name__)}
    if info.get('description'):
        entry['description'] = info['description']
    index = {'title': info.get('title', analysis.__name__), 'analyses': [entry]}
    if info.get('version'):
        index['version'] = str(info['version'])
    if resolved:
        index['static'] = resolved
    with open(os.path.join(root, 'index.yaml'), 'w', encoding='utf-8') as f:
        # JSON is YAML
        json.dump(index, f, indent=2)
    target = os.path.join(root, name)
    if os.path.isdir(folder):
        # a copy: the server serves no file through a link that leads out of its folder
        shutil.copytree(folder, target, ignore=_not_served, symlinks=False)
    else:
        os.mkdir(target)
    spec = {'class': analysis.__name__, 'paths': [folder, cwd]}
    spec.update(_where_defined(analysis, folder))
    with open(os.path.join(target, 'analysis.py'), 'w', encoding='utf-8') as f:
        f.write('# written by databench.run: the analysis it serves\n'
                'from databench.cli import _load_class\n\n'
                '{} = _load_class({})\n'.format(analysis.__name__, json.dumps(spec)))
    return root


def _event_loop():
    """This thread's event loop (a Tornado test's), or a new one; and
    whether it is new (then it is closed after the run)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            loop = asyncio.get_event_loop_policy().get_event_loop()
        if not loop.is_closed():
            return loop, False
    except RuntimeError:
        pass
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop, True


def run(analysis, path=None, name=None, info=None, **kwargs):
    """Serve a single analysis (databench 0.7's ``databench.run``).

    Starts the databench server for `analysis` at ``/NAME/`` (the index at
    ``/`` lists it), its sessions run by this interpreter in a kernel
    process, and runs this thread's event loop until it is stopped,
    Ctrl-C, SIGTERM (the server is stopped and its folder removed first;
    then the script ends with code 143), or the server exits. The page's files are a copy of the
    analysis's folder made at the start (restart to see edits); the server
    does not watch for changes. The server takes this process's arguments
    (``--port``, ``--host``, ``--log``, ``--ssl-port``, …; the others reach
    the analysis as ``cli_args``). Inside a server's kernel (a script whose
    module-level code calls it) it does nothing.

    :param analysis: the ``databench.Analysis`` subclass
    :param str path: a file in the analysis's folder (``__file__``); its
        ``index.html``, ``analysis.js``, ``static/``, README are served
    :param str name: the analysis's name (default: the class name in lower case)
    :param dict info: ``title``, ``description``, ``version``
    :param static: URL regex -> folder (relative to the analysis's folder,
        else to the current directory), as index.yaml's ``static``
    :param list argv: the server's arguments instead of ``sys.argv[1:]``
    :param on_serving: called with the server's URL (in this loop) once it serves
    :raises SystemExit: with the server's exit code when it exits on its own
        with an error (its output says why)
    """
    if _runtime.IN_KERNEL:
        log.debug('databench.run(%s) in a kernel process: the server already serves it',
                  getattr(analysis, '__name__', analysis))
        return None
    static = kwargs.pop('static', None)
    argv = kwargs.pop('argv', None)
    on_serving = kwargs.pop('on_serving', None)
    if kwargs.pop('extra_routes', None):
        log.warning('databench.run: extra_routes are not served; put them in a routes.py '
                    'beside the analysis')
    if kwargs:
        raise TypeError('run() got unexpected keyword arguments: {}'.format(', '.join(kwargs)))
    folder = os.path.abspath(os.path.dirname(path) if path else os.getcwd())
    name = name or analysis.__name__.lower()
    root = _write_folder(analysis, folder, name, dict(info or {}), static)
    args = list(sys.argv[1:] if argv is None else argv)
    if '--no-watch' not in args:
        # the folder served is a copy made now: nothing there changes
        args.append('--no-watch')
    loop, new_loop = _event_loop()
    try:
        process = subprocess.Popen(_command() + ['--analyses', root] + args,
                                   stdout=subprocess.PIPE, stderr=None)
    except Exception:
        shutil.rmtree(root, ignore_errors=True)
        raise
    state = {'exited': False, 'stopped': False}

    def serving(url):
        sys.stdout.write('the analysis {}: {}/{}/\n'.format(name, url.rstrip('/'), name))
        sys.stdout.flush()
        if on_serving is not None:
            on_serving(url)

    def relay():
        for raw in iter(process.stdout.readline, b''):
            line = raw.decode('utf-8', 'replace')
            sys.stdout.write(line)
            sys.stdout.flush()
            match = _SERVING.search(line)
            if match:
                loop.call_soon_threadsafe(serving, match.group(1))
        process.stdout.close()
        process.wait()
        state['exited'] = True
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # the loop has been closed
            pass

    reader = threading.Thread(target=relay, name='databench-run', daemon=True)
    reader.start()
    terminated = []
    previous = _on_sigterm(lambda: (terminated.append(True), loop.call_soon_threadsafe(loop.stop)))
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if process.poll() is None:
            state['stopped'] = True
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(STOP_TIMEOUT_S)
        shutil.rmtree(root, ignore_errors=True)
        if new_loop:
            asyncio.set_event_loop(None)
            loop.close()
    if terminated:
        # stopped by SIGTERM: the server and its folder are gone; now end as
        # the signal would have (or as the handler that was there says)
        if callable(previous):
            previous(signal.SIGTERM, None)
        else:
            raise SystemExit(128 + signal.SIGTERM)
    if state['exited'] and not state['stopped'] and process.returncode:
        raise SystemExit(process.returncode)
    return None


def _on_sigterm(stop):
    """Run `stop` on SIGTERM (a ``kill``, a supervisor's stop) instead of
    ending the process at once, which would leave the server running without
    its script and its copied folder behind. Returns the handler to restore,
    or None when none was installed (not the main thread, or SIGTERM ignored)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_IGN:
        return None
    signal.signal(signal.SIGTERM, lambda signum, frame: stop())
    return previous if previous is not None else signal.SIG_DFL


__all__ = ['main', 'run', 'DATABENCH_VERSION']
