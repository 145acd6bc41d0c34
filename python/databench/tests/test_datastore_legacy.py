"""databench.DatastoreLegacy, databench 0.7's older store: (key, value)
callbacks for every instance on the domain, list and dict values that
report changes of their elements."""

import unittest
import uuid

import databench
from databench.datastore_legacy import DatastoreDict, DatastoreList


class TestDatastoreLegacy(unittest.TestCase):
    def setUp(self):
        self.domain = 'legacy-' + str(uuid.uuid4())
        self.changes = []
        self.d = databench.DatastoreLegacy(self.domain, release_storage=True)
        self.d.on_change(self.callback)

    def tearDown(self):
        self.d.close()

    def callback(self, key, value):
        self.changes.append((key, value.to_native() if hasattr(value, 'to_native') else value))
        return 'callback return'

    def test_set_get_contains_delete(self):
        self.assertEqual(self.d.set('a', 1), ['callback return'])
        self.assertEqual(self.d.set('a', 1), [], 'unchanged: no callback')
        self.d['b'] = 'two'
        self.assertEqual((self.d['a'], self.d['b']), (1, 'two'))
        self.assertIn('a', self.d)
        del self.d['a']
        self.assertNotIn('a', self.d)
        self.assertEqual(self.changes, [('a', 1), ('b', 'two'), ('a', None)])
        with self.assertRaises(IndexError):
            self.d['a']

    def test_init_and_update(self):
        self.d['keep'] = 'before'
        self.d.init({'keep': 'init', 'new': 'init'})
        self.d.update({'u': 1})
        self.assertEqual((self.d['keep'], self.d['new'], self.d['u']), ('before', 'init', 1))

    def test_changing_an_element_of_a_stored_list_or_dict_is_a_change_of_its_key(self):
        self.d['l'] = ['x', 'y']
        self.d['l'][1] = 'z'
        self.d['n'] = {'outer': {'inner': 1}}
        del self.changes[:]
        self.d['n']['outer']['inner'] = 2
        self.assertEqual(self.changes, [('n', {'outer': {'inner': 2}})])
        self.assertEqual(list(self.d['l']), ['x', 'z'])
        self.d['n'].update({'other': True})
        self.assertEqual(self.changes[-1], ('n', {'outer': {'inner': 2}, 'other': True}))

    def test_storing_the_value_read_back_is_no_change(self):
        self.d['n'] = {'k': 'v'}
        value = self.d['n']
        value['k'] = 'w'
        count = len(self.changes)
        self.d['n'] = value
        self.assertEqual(len(self.changes), count)
        self.assertEqual(self.d['n'].to_native(), {'k': 'w'})

    def test_every_instance_of_the_domain_hears_a_change(self):
        heard = []
        other = databench.DatastoreLegacy(self.domain).on_change(lambda k, v: heard.append(k))
        self.d['x'] = 1
        other.close()
        self.d['y'] = 2
        self.assertEqual(heard, ['x'])
        self.assertEqual(len(self.d.trigger_all_change_callbacks()), 2)

    def test_release_storage(self):
        self.d['x'] = 1
        self.d.close()
        fresh = databench.DatastoreLegacy(self.domain)
        self.assertNotIn('x', fresh)
        fresh.close()

    def test_wrappers(self):
        lst = DatastoreList([1, [2]], lambda i: None)
        self.assertEqual(lst.to_native(), [1, [2]])
        self.assertEqual(lst, DatastoreList([1, [2]], lambda i: None))
        dct = DatastoreDict({'a': {'b': 1}})
        self.assertEqual(dct.to_native(), {'a': {'b': 1}})
        self.assertEqual(dict(dct.items())['a'].to_native(), {'b': 1})
        self.assertEqual(dct.get('missing', 5), 5)


if __name__ == '__main__':
    unittest.main()
