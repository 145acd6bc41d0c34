"""databench.App (databench 0.7's application of an analyses folder):
finding the folder by import path, its static map, its info."""

import logging
import os
import unittest

import databench

try:
    import yaml
except ImportError:
    yaml = None

TESTS = os.path.dirname(os.path.abspath(__file__))


class TestApp(unittest.TestCase):
    def test_get_analyses_by_import_path(self):
        module, path = databench.App.get_analyses('databench.tests.analyses')
        self.assertEqual(module.__name__, 'databench.tests.analyses')
        self.assertEqual(path, os.path.join(TESTS, 'analyses'))

    def test_static_map(self):
        pairs = list(databench.App.static_parser([{'a/(.*)': 'x'}, ('b/(.*)', 'y')]))
        self.assertEqual(pairs, [('a/(.*)', 'x'), ('b/(.*)', 'y')])
        self.assertEqual(list(databench.App.static_parser({'c': 'z'})), [('c', 'z')])
        with self.assertLogs('databench.app', logging.WARNING) as logs:
            routes = databench.App.static_routes(TESTS, {'s/(.*)': 'analyses',
                                                        'gone/(.*)': 'no-such-folder'})
        self.assertEqual(routes, [('/s/(.*)', os.path.join(TESTS, 'analyses'))])
        self.assertIn('Did not find static root no-such-folder', logs.output[0])

    @unittest.skipIf(yaml is None, 'PyYAML is not installed')
    def test_info_from_index_yaml(self):
        app = databench.App('databench.tests.analyses')
        self.assertEqual(app.info['title'], 'Test analyses')
        self.assertEqual(app.info['analyses'][0]['name'], 'parameters')

    def test_no_tornado_application(self):
        with self.assertRaises(NotImplementedError):
            databench.App('databench.tests.analyses').tornado_app()


if __name__ == '__main__':
    unittest.main()
