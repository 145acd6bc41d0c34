"""asyncio without ``ssl`` until something uses it: the kernel process's
start-up (an idle kernel does not pay for OpenSSL).

asyncio's modules import ``ssl`` at their own import (``try: import ssl
except ImportError: ssl = None``), which loads OpenSSL: about 4 MB of RSS
in every kernel process, most of which never opens a TLS connection.
:func:`import_asyncio` imports asyncio while ``ssl`` cannot be imported,
then gives each of its modules that took ``ssl = None`` a stand-in that
imports the real ``ssl`` on first use and puts it in their place. An
analysis that imports ``ssl`` itself gets the real module as usual; asyncio
with TLS (``open_connection(..., ssl=True)``, ``start_tls``) works as before.
"""

import importlib
import sys
import types


class _NoSSLSocket(object):
    """What ``ssl.SSLSocket`` is while ``ssl`` has not been imported: nothing
    can be an instance of it then (asyncio's ``sock_*`` methods check every
    socket against it, which need not load OpenSSL)."""


#: The modules whose ``ssl`` is the stand-in.
_users = []


def _install(real):
    """Give every module that has the stand-in the real ``ssl``."""
    for module in _users:
        if isinstance(module.__dict__.get('ssl'), _SSLOnUse):
            module.ssl = real
        # sslproto (3.11 on) defines it at import, when ssl is there
        if module.__name__ == 'asyncio.sslproto' and 'SSLAgainErrors' not in module.__dict__:
            module.SSLAgainErrors = (real.SSLWantReadError, real.SSLSyscallError)
    del _users[:]


class _SSLOnUse(types.ModuleType):
    """The stand-in for ``ssl`` in asyncio's modules: the first use of any
    of its names imports ``ssl`` and installs it where the stand-in was."""

    def __getattr__(self, name):
        real = sys.modules.get('ssl')
        if real is None:
            if name == 'SSLSocket':
                return _NoSSLSocket
            real = importlib.import_module('ssl')
        _install(real)
        return getattr(real, name)


def import_asyncio():
    """Import asyncio with ``ssl`` imported on first use (see the module's
    doc). Does nothing when asyncio or ssl is imported already."""
    if 'asyncio' in sys.modules or 'ssl' in sys.modules:
        return
    before = set(sys.modules)
    sys.modules['ssl'] = None
    try:
        importlib.import_module('asyncio')
    finally:
        if sys.modules.get('ssl', 0) is None:
            del sys.modules['ssl']
    stand_in = _SSLOnUse('ssl', 'ssl, imported when first used')
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        if module is not None and name != 'ssl' and 'ssl' in getattr(module, '__dict__', {}) \
                and module.__dict__['ssl'] is None:
            module.ssl = stand_in
            _users.append(module)
