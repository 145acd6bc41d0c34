"""Run with: PYTHONPATH=$(npx databench --python-path) python3 -m unittest (in this folder)."""

import unittest

from databench.testing import AnalysisTest

from analysis import Scaffold


class TestScaffold(unittest.TestCase):
    def test_counts_clicks(self):
        test = AnalysisTest(Scaffold)
        self.assertEqual(test.analysis_instance.data['clicks'], 0)
        test.trigger('count')
        test.trigger('count')
        self.assertEqual(test.analysis_instance.data['clicks'], 2)
        # the page got each change as a `data` signal
        self.assertEqual(test.emitted_messages[-1], ('data', {'clicks': 2}))


if __name__ == '__main__':
    unittest.main()
