"""databench_py, databench 0.7's module for language-kernel scripts: such a
script imports and its Meta runs actions; in a kernel process its
event_loop leaves the serving to the server."""

import unittest

import databench
import databench_py
import databench_py.singlethread
from databench import _runtime


class Echo(databench_py.Analysis):
    calls = []

    @databench.on
    def test_fn(self, first_param, second_param=100):
        Echo.calls.append((first_param, second_param))
        yield self.emit('test_fn', (first_param, second_param))


class TestDatabenchPy(unittest.TestCase):
    def test_the_0_7_names(self):
        self.assertIs(databench_py.Analysis, databench.Analysis)
        self.assertTrue(hasattr(databench_py.singlethread, 'Meta'))

    def test_meta_runs_an_action(self):
        meta = databench_py.singlethread.Meta('echo', Echo)
        self.assertIsInstance(meta.analysis, Echo)
        self.assertIn('test_fn', Echo._action_handlers)
        meta.run_process(meta.analysis, 'test_fn', [1])
        meta.run_process(meta.analysis, 'test_fn', {'first_param': 2, 'second_param': 3})
        self.assertEqual(Echo.calls[-2:], [(1, 100), (2, 3)])

    def test_event_loop_in_a_kernel_does_nothing(self):
        meta = databench_py.singlethread.Meta('echo', Echo)
        _runtime.IN_KERNEL = True
        try:
            self.assertIsNone(meta.event_loop())
        finally:
            _runtime.IN_KERNEL = False


if __name__ == '__main__':
    unittest.main()
