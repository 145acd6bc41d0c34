"""databench.run (databench 0.7's single-analysis entry): it serves the
analysis with the databench server until this thread's event loop stops,
and does nothing inside a server's kernel."""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.error
import urllib.request

import databench
from databench import _runtime

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'standalone')
NO_SERVER = shutil.which('node') is None and not os.environ.get('DATABENCH_COMMAND')


class RunPi(databench.Analysis):
    @databench.on
    def connected(self):
        yield self.data.init({'samples': 100})


def _run_folders():
    """The folders databench.run has written and not removed yet."""
    base = tempfile.gettempdir()
    return {os.path.join(base, n) for n in os.listdir(base) if n.startswith('databench-run-')}


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode('utf-8')


@unittest.skipIf(NO_SERVER and os.environ.get('CI') != 'true', 'needs Node.js for the server')
class TestRun(unittest.TestCase):
    def test_serves_the_analysis_until_the_loop_stops(self):
        seen = {}

        def on_serving(url):
            loop = asyncio.get_event_loop()
            seen['url'] = url

            def check():
                try:
                    seen['page'] = fetch(url + '/runpi/')
                    seen['index'] = fetch(url + '/')
                    seen['static'] = fetch(url + '/special/analysis.js')
                    seen['beside'] = fetch(url + '/runpi/analysis.js')
                except Exception as error:  # reported below
                    seen['error'] = error
                finally:
                    loop.call_soon_threadsafe(loop.stop)

            threading.Thread(target=check, daemon=True).start()

        result = databench.run(RunPi, os.path.join(HERE, 'analysis.py'), name='runpi',
                               info={'title': 'Run π'},
                               static={r'special/(analysis\.js)': '.'},
                               argv=['--port', '0', '--no-watch', '--log', 'warn'],
                               on_serving=on_serving)
        self.assertIsNone(result)
        self.assertNotIn('error', seen)
        status, page = seen['page']
        self.assertEqual(status, 200)
        self.assertIn('served by databench.run', page)
        self.assertEqual(seen['index'][0], 200)
        self.assertIn('Run π', seen['index'][1])
        self.assertIn('databench.connect()', seen['static'][1])
        self.assertIn('databench.connect()', seen['beside'][1])
        # the server has stopped with the loop
        with self.assertRaises((urllib.error.URLError, ConnectionError)):
            fetch(seen['url'] + '/')

    def test_a_loop_stopped_before_the_server_is_up_ends_it_quietly(self):
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.call_soon(loop.stop)
        try:
            self.assertIsNone(databench.run(RunPi, argv=['--port', '0']))
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    def test_a_server_that_exits_with_an_error_exits_the_script_with_its_code(self):
        with self.assertRaises(SystemExit) as raised:
            databench.run(RunPi, argv=['--port', 'not-a-port'])
        self.assertEqual(raised.exception.code, 2)

    def test_a_sigterm_to_the_script_stops_the_server_and_removes_its_folder(self):
        with tempfile.TemporaryDirectory() as folder:
            script = os.path.join(folder, 'app.py')
            with open(script, 'w', encoding='utf-8') as f:
                f.write(
                    'import sys, databench\n'
                    'class Hello(databench.Analysis):\n'
                    '    pass\n'
                    'databench.run(Hello, __file__, argv=["--port", "0", "--no-watch",'
                    ' "--log", "warn"], on_serving=lambda url: print("URL", url, flush=True))\n'
                    'print("after run", flush=True)\n')
            before = _run_folders()
            child = subprocess.Popen([sys.executable, script], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, cwd=folder)
            try:
                url = None
                lines = []
                for raw in iter(child.stdout.readline, b''):
                    line = raw.decode('utf-8', 'replace').strip()
                    lines.append(line)
                    if line.startswith('URL '):
                        url = line[4:]
                        break
                self.assertIsNotNone(url, '\n'.join(lines))
                self.assertEqual(fetch(url + '/')[0], 200)
                # the folder databench.run wrote for the server (started before it)
                roots = _run_folders() - before
                self.assertTrue(roots, 'no databench-run- folder')
                child.send_signal(signal.SIGTERM)
                rest = child.communicate(timeout=60)[0].decode('utf-8', 'replace')
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
            # ended as a SIGTERM ends a script, after the server
            self.assertEqual(child.returncode, 128 + signal.SIGTERM, rest)
            self.assertNotIn('after run', rest)
            with self.assertRaises((urllib.error.URLError, ConnectionError)):
                fetch(url + '/')
            for root in roots:
                self.assertFalse(os.path.exists(root), root)


class TestRunInAKernel(unittest.TestCase):
    def test_does_nothing_in_a_kernel_process(self):
        _runtime.IN_KERNEL = True
        try:
            self.assertIsNone(databench.run(RunPi, argv=['--port', 'not-a-port']))
        finally:
            _runtime.IN_KERNEL = False


if __name__ == '__main__':
    unittest.main()
