"""databench.utils.json_encoder_default and to_string, for your own
json.dumps (the wire format itself is the package's: NaN as strings)."""

import json
import math
import unittest

from databench.datastore_legacy import DatastoreDict
from databench.utils import json_encoder_default, to_string

try:
    import numpy
except ImportError:
    numpy = None


def dumps(value):
    return json.dumps(value, default=json_encoder_default)


class TestJsonEncoderDefault(unittest.TestCase):
    def test_what_json_knows_is_left_to_json(self):
        # json.dumps writes NaN and the infinities bare (as databench 0.7 sent them)
        self.assertEqual(dumps(float('nan')), 'NaN')
        self.assertEqual(dumps([1, float('-inf')]), '[1, -Infinity]')
        self.assertEqual(dumps((1, 2)), '[1, 2]')
        self.assertTrue(math.isinf(json.loads(dumps({'i': float('inf')}))['i']))

    def test_sets_and_legacy_values(self):
        self.assertEqual(sorted(json.loads(dumps({3, 1, 2}))), [1, 2, 3])
        self.assertEqual(sorted(json.loads(dumps(frozenset(['a', 'b'])))), ['a', 'b'])
        self.assertEqual(json.loads(dumps({'d': DatastoreDict({'k': [1]})})), {'d': {'k': [1]}})

    @unittest.skipIf(numpy is None, 'numpy is not installed')
    def test_numpy(self):
        self.assertEqual(dumps(numpy.arange(3)), '[0, 1, 2]')
        self.assertEqual(dumps(numpy.float32(0.5)), '0.5')
        self.assertEqual(dumps({'n': numpy.int64(7)}), '{"n": 7}')

    def test_unknown_objects_are_a_type_error(self):
        with self.assertRaises(TypeError) as raised:
            dumps(object())
        self.assertIn('object', str(raised.exception))


class TestToString(unittest.TestCase):
    def test_as_the_log_actions_log(self):
        self.assertEqual(to_string('plain'), 'plain')
        self.assertEqual(to_string(1, 'a'), '[1, "a"]')
        self.assertEqual(to_string(k=1), '{"k": 1}')
        self.assertEqual(to_string('x', k={1}), '["x"], {"k": [1]}')


if __name__ == '__main__':
    unittest.main()
