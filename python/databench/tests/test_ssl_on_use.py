"""In the server's kernel process asyncio loads ``ssl`` when first used:
an idle kernel has no OpenSSL, and an analysis that uses TLS through
asyncio (with or without importing ``ssl`` itself) works as before. Each
case runs in a Python process started as the server starts a kernel
(``DATABENCH_KERNEL=1``), against a real TLS server with a self-signed
certificate (made with the ``openssl`` command)."""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import threading
import unittest

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: What each case's process runs first: the package imported as in a kernel.
PRELUDE = textwrap.dedent('''
    import json, os, sys
    import databench
    import asyncio
    out = {'ssl_at_start': 'ssl' in sys.modules or '_ssl' in sys.modules,
           'marker_left': 'DATABENCH_KERNEL' in os.environ}
''')


class TestSSLOnUse(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which('openssl') is None:
            raise unittest.SkipTest('needs the openssl command (to make a certificate)')
        cls.dir = tempfile.mkdtemp(prefix='databench-ssl-')
        cls.cert = os.path.join(cls.dir, 'cert.pem')
        cls.key = os.path.join(cls.dir, 'key.pem')
        subprocess.run(
            ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', cls.key,
             '-out', cls.cert, '-days', '2', '-subj', '/CN=localhost',
             '-addext', 'subjectAltName=DNS:localhost'],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def tls_echo_server(self):
        """A TLS server in a thread of this process that echoes one message; its port."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        listener = socket.create_server(('127.0.0.1', 0))
        listener.settimeout(20)
        self.addCleanup(listener.close)

        def serve():
            try:
                conn, _ = listener.accept()
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(tls.recv(100))
            except OSError:
                pass  # the case failed before it connected: its own assertion says why

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 5)
        return listener.getsockname()[1]

    def run_case(self, body, **env):
        code = PRELUDE + textwrap.dedent(body) + '\nprint(json.dumps(out))\n'
        environ = dict(os.environ, DATABENCH_KERNEL='1', **env)
        environ['PYTHONPATH'] = os.pathsep.join(
            [PACKAGE_PARENT] + [p for p in [os.environ.get('PYTHONPATH')] if p])
        done = subprocess.run([sys.executable, '-c', code], env=environ, capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        out = json.loads(done.stdout.strip().splitlines()[-1])
        self.assertFalse(out['ssl_at_start'], 'ssl was imported at start')
        self.assertFalse(out['marker_left'], 'DATABENCH_KERNEL was left for child processes')
        return out

    def test_an_idle_kernel_has_no_ssl_and_sockets_do_not_load_it(self):
        out = self.run_case('''
            async def main():
                a, b = __import__('socket').socketpair()
                a.setblocking(False)
                b.setblocking(False)
                loop = asyncio.get_running_loop()
                await loop.sock_sendall(a, b'x')
                got = await loop.sock_recv(b, 1)
                a.close()
                b.close()
                return got.decode()
            out['got'] = asyncio.run(main())
            out['ssl_after'] = 'ssl' in sys.modules
        ''')
        self.assertEqual(out['got'], 'x')
        self.assertFalse(out['ssl_after'])

    def test_tls_through_asyncio_without_importing_ssl(self):
        port = self.tls_echo_server()
        out = self.run_case('''
            async def main():
                reader, writer = await asyncio.open_connection(
                    '127.0.0.1', {port}, ssl=True, server_hostname='localhost')
                writer.write(b'ping')
                got = await reader.read(100)
                writer.close()
                return got.decode()
            out['got'] = asyncio.run(main())
        '''.format(port=port), SSL_CERT_FILE=self.cert)
        self.assertEqual(out['got'], 'ping')

    def test_an_analysis_that_imports_ssl_serves_and_connects_with_tls(self):
        out = self.run_case('''
            import ssl
            server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_context.load_cert_chain({cert!r}, {key!r})
            client_context = ssl.create_default_context(cafile={cert!r})

            async def echo(reader, writer):
                writer.write(await reader.read(100))
                await writer.drain()
                writer.close()

            async def main():
                server = await asyncio.start_server(echo, '127.0.0.1', 0, ssl=server_context)
                port = server.sockets[0].getsockname()[1]
                reader, writer = await asyncio.open_connection(
                    '127.0.0.1', port, ssl=client_context, server_hostname='localhost')
                writer.write(b'pong')
                got = await reader.read(100)
                writer.close()
                server.close()
                await server.wait_closed()
                return got.decode()
            out['got'] = asyncio.run(main())
            out['same_module'] = __import__('asyncio.sslproto').sslproto.ssl is ssl
        '''.format(cert=self.cert, key=self.key))
        self.assertEqual(out['got'], 'pong')
        self.assertTrue(out['same_module'])

    def test_without_the_marker_asyncio_imports_ssl_as_usual(self):
        environ = dict(os.environ, PYTHONPATH=PACKAGE_PARENT)
        environ.pop('DATABENCH_KERNEL', None)
        done = subprocess.run(
            [sys.executable, '-c', 'import sys, databench, asyncio.sslproto as p; '
             'print(p.ssl is sys.modules.get("ssl"))'],
            env=environ, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.stdout.strip(), 'True', done.stderr)


if __name__ == '__main__':
    unittest.main()
