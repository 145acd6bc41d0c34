"""databench.Datastore on the memory backend, and the wire encoding."""

import asyncio
import math
import unittest

from databench import Datastore, MemoryBackend
from databench._wire import EncodeError, encode_value


class TestDatastore(unittest.TestCase):
    def setUp(self):
        self.backend = MemoryBackend()

    def store(self, domain='d', **kwargs):
        return Datastore(domain, backend=self.backend, **kwargs)

    def test_item_access_and_dict_methods(self):
        s = self.store()
        s['a'] = 1
        s.set('b', [1, 2])
        self.assertEqual(s['a'], 1)
        self.assertEqual(s.get('b'), [1, 2])
        self.assertEqual(s.get('c', 7), 7)
        self.assertIn('a', s)
        self.assertEqual(len(s), 2)
        self.assertEqual(sorted(s.keys()), ['a', 'b'])
        self.assertEqual(sorted(s.items()), [('a', 1), ('b', [1, 2])])
        with self.assertRaises(KeyError):
            s['missing']
        with self.assertRaises(IndexError):
            s['missing']
        del s['a']
        self.assertNotIn('a', s)

    def test_append_extend_and_patch_change_the_value_and_carry_their_delta(self):
        s = self.store()
        deltas = []
        s._on_encoded_change(lambda key, encoded, delta: deltas.append((key, encoded, delta)))
        s.append('xs', 1)
        s.append('xs', 2, {'a': float('nan')})
        s.extend('xs', iter([3]))
        self.assertEqual(s['xs'], [1, 2, {'a': 'NaN'}, 3])
        self.assertEqual(deltas[0], ('xs', '[1]', None))
        self.assertEqual(deltas[1][2], ('append', '2,{"a":"NaN"}', 'd'))
        self.assertEqual(deltas[2][2], ('append', '3', 'd'))
        s['cfg'] = {'a': 1, 'b': [1, 2]}
        s.patch('cfg', [{'op': 'replace', 'path': '/a', 'value': 2},
                        {'op': 'add', 'path': '/b/-', 'value': 3},
                        {'op': 'move', 'from': '/b/0', 'path': '/first'},
                        {'op': 'copy', 'from': '/a', 'path': '/c'},
                        {'op': 'test', 'path': '/c', 'value': 2},
                        {'op': 'remove', 'path': '/a'}])
        self.assertEqual(s['cfg'], {'b': [2, 3], 'first': 1, 'c': 2})
        self.assertEqual(deltas[-1][2][0], 'ops')

    def test_append_to_a_non_list_and_a_patch_that_does_not_apply_leave_the_value(self):
        s = self.store()
        s['n'] = 1
        with self.assertRaises(TypeError):
            s.append('n', 2)
        s['cfg'] = {'a': [1]}
        for ops in ([{'op': 'replace', 'path': '/missing', 'value': 1}],
                    [{'op': 'add', 'path': '/a/5', 'value': 1}],
                    [{'op': 'test', 'path': '/a', 'value': [2]}],
                    [{'op': 'add', 'path': '/__proto__', 'value': 1}]):
            with self.assertRaises(ValueError):
                s.patch('cfg', ops)
            self.assertEqual(s['cfg'], {'a': [1]})
        with self.assertRaises(ValueError):
            s.patch('nothing', [{'op': 'add', 'path': '/a', 'value': 1}])

    def test_reads_are_copies(self):
        s = self.store()
        s['l'] = [1]
        s['l'].append(2)
        self.assertEqual(s['l'], [1])

    def test_callbacks_see_every_change_once(self):
        a, b = self.store(), self.store()
        seen = []
        b.on_change(lambda k, v: seen.append((k, v)))
        a['x'] = 1
        a['x'] = 1  # same value: nothing
        a.update({'x': 2, 'y': 3})
        a.init({'x': 9, 'z': 4})
        a.set_state(lambda store: {'w': store['x'] + 1})
        a.set_state(q=0)
        a.delete('q')
        self.assertEqual(seen, [('x', 1), ('x', 2), ('y', 3), ('z', 4), ('w', 3), ('q', 0),
                                ('q', None)])
        seen.clear()
        b.trigger_all_change_callbacks()
        self.assertEqual(sorted(seen), [('w', 3), ('x', 2), ('y', 3), ('z', 4)])

    def test_async_callbacks_run_and_set_is_awaitable(self):
        done = []

        async def callback(key, value):
            await asyncio.sleep(0)
            done.append(key)

        async def main():
            s = self.store()
            s.on_change(callback)
            await s.set('k', 1)
            return list(done)

        self.assertEqual(asyncio.run(main()), ['k'])

    def test_release_storage(self):
        a = self.store('r', release_storage=True)
        a['x'] = 1
        a.close()
        self.assertEqual(self.store('r').get('x'), None)
        kept = self.store('k')
        kept['x'] = 1
        kept.close()
        self.assertEqual(self.store('k')['x'], 1)

    def test_writes_to_a_closed_store_are_dropped_quietly(self):
        # a page that has gone while its handler still runs: nothing to raise about
        s = self.store()
        other = self.store()
        seen = []
        other.on_change(lambda k, v: seen.append(k))
        s.close()
        with self.assertLogs('databench.datastore', 'DEBUG') as logs:
            self.assertEqual(s.set('x', 1), [])
            s['y'] = 2
            self.assertEqual(s.delete('x'), [])
        self.assertEqual(seen, [])
        self.assertNotIn('x', other)
        self.assertTrue(all(r.levelname == 'DEBUG' for r in logs.records))

    def test_unencodable_values_fail_at_the_assignment(self):
        s = self.store()
        with self.assertRaises(EncodeError) as raised:
            s['f'] = lambda: 1
        self.assertIn('key "f"', str(raised.exception))
        cyclic = []
        cyclic.append(cyclic)
        with self.assertRaises(EncodeError) as raised:
            s['c'] = cyclic
        self.assertIn('cycle', str(raised.exception))
        self.assertNotIn('f', s)


class TestSubscribe(unittest.TestCase):
    """databench 0.7's Datastore API: subscribe callbacks get {key: value},
    writes return the list of what the callbacks returned."""

    def setUp(self):
        self.backend = MemoryBackend()
        self.seen = []
        self.d = Datastore('abc', backend=self.backend).subscribe(self.callback)

    def callback(self, key_value):
        self.seen.append(key_value)
        return 'callback return'

    def test_a_write_returns_the_callbacks_results(self):
        self.assertEqual(self.d.set('k', 'v'), ['callback return'])
        self.assertEqual(self.seen, [{'k': 'v'}])
        self.assertEqual(self.d.set('k', 'v'), [], 'unchanged: no callback')
        self.assertEqual(self.d.set_state({'k': 'w', 'k2': 1}), ['callback return'] * 2)
        self.assertEqual(self.d.set_state({'k': 'w', 'k2': 2}), ['callback return'])
        self.assertEqual(self.d.set_state(lambda store: {'k3': store['k2'] + 1}),
                         ['callback return'])
        self.assertEqual(self.d['k3'], 3)
        self.assertEqual(self.d.init({'k': 'x', 'new': 0}), [['callback return']])
        self.assertEqual(self.d['k'], 'w')
        self.d['k'] = 'item'
        self.assertEqual(self.seen[-1], {'k': 'item'})

    def test_every_datastore_on_the_domain_hears_a_change(self):
        other = []
        d2 = Datastore('abc', backend=self.backend).subscribe(other.append)
        self.d['a'] = {'nested': [1]}
        self.assertEqual(other, [{'a': {'nested': [1]}}])
        d2.close()
        self.d['a'] = 2
        self.assertEqual(other, [{'a': {'nested': [1]}}], 'a closed store hears nothing')
        self.assertEqual(self.seen[-1], {'a': 2})
        self.assertEqual(len(self.d.all_callbacks()), 1)

    def test_callbacks_cannot_change_what_the_next_one_sees(self):
        Datastore('abc', backend=self.backend).subscribe(lambda kv: kv['l'].append('x'))
        self.d['l'] = [1]
        self.assertEqual(self.seen[-1], {'l': [1]})
        self.assertEqual(self.d['l'], [1])

    def test_trigger_callbacks(self):
        self.d['a'] = 1
        self.d['b'] = 2
        del self.seen[:]
        self.assertEqual(self.d.trigger_callbacks('a'), ['callback return'])
        self.assertEqual(self.seen, [{'a': 1}])
        only = []
        self.d.trigger_all_callbacks(callbacks=[only.append])
        self.assertEqual(sorted(only, key=lambda kv: list(kv)), [{'a': 1}, {'b': 2}])
        self.assertEqual(len(self.seen), 1, 'only the given callbacks')
        self.assertEqual(len(self.d.trigger_all_callbacks()), 2)

    def test_the_results_are_awaitable(self):
        done = []

        async def slow(key_value):
            await asyncio.sleep(0)
            done.append(key_value)
            return 'async return'

        async def main():
            self.d.subscribe(slow)
            results = await self.d.set('x', 1)
            return results, list(done)

        results, finished = asyncio.run(main())
        self.assertEqual(results[0], 'callback return')
        self.assertEqual(finished, [{'x': 1}])

    def test_yielded_by_a_generator_handler(self):
        from databench.testing import AnalysisTest
        import databench

        class Writer(databench.Analysis):
            def on_go(self):
                results = yield self.data.set_state(a=1, b=2)
                yield self.emit('results', len(results))

        test = AnalysisTest(Writer)
        test.trigger('go')
        self.assertEqual(test.emitted_messages[-1], ('results', 2))

    def test_global_data_and_stores(self):
        import databench.datastore as datastore
        d = Datastore('global-view')
        d['k'] = [1]
        try:
            self.assertEqual(Datastore.global_data['global-view'], {'k': '[1]'})
            self.assertIn(d, Datastore.stores['global-view'])
        finally:
            d.release()
        self.assertNotIn('global-view', Datastore.stores)
        self.assertEqual(datastore.decode(datastore.encode({'a': (1, 2)})), {'a': [1, 2]})


class TestEncoding(unittest.TestCase):
    def test_as_the_typescript_side(self):
        self.assertEqual(encode_value({'a': [1, 2.5, None, True], 'é': '€'}),
                         '{"a":[1,2.5,null,true],"é":"€"}')
        self.assertEqual(encode_value([math.nan, math.inf, -math.inf, {'x': math.nan}]),
                         '["NaN","Infinity","-Infinity",{"x":"NaN"}]')
        self.assertEqual(encode_value({1, 2}), '[1,2]')
        self.assertEqual(encode_value((1, 2)), '[1,2]')


if __name__ == '__main__':
    unittest.main()
