"""The Python analysis tested without a server: python3 -m unittest (in this folder, with the
databench Python package on PYTHONPATH)."""

import unittest

from databench.testing import AnalysisTest

from analysis import DummypiPy


class TestDummypiPy(unittest.TestCase):
    def test_run_streams_an_estimate_of_pi(self):
        test = AnalysisTest(DummypiPy)
        test.trigger('samples', 5000)
        test.trigger('run')
        estimates = [m[1]['pi']['estimate'] for m in test.emitted_messages
                     if m[0] == 'data' and 'pi' in m[1]]
        self.assertGreaterEqual(len(estimates), 5)
        self.assertLess(abs(estimates[-1] - 3.14159), 0.2)

    def test_bad_samples_are_an_error(self):
        test = AnalysisTest(DummypiPy)
        test.trigger('samples', -1)
        self.assertEqual(test.emitted_messages[-1][0], 'error')
        self.assertIn('samples must be between', test.emitted_messages[-1][1])


if __name__ == '__main__':
    unittest.main()
