"""A `set` of a large list or object reaches a page that takes deltas as a
diff against the value before (as the TypeScript Datastore sends it): the
new items of a grown list, else a JSON Patch at most half the value's size."""

import copy
import json
import random
import unittest

from databench._patch import apply_patch, diff
from databench.datastore import Datastore, MemoryBackend


def changes_of(store):
    """The (key, encoded, delta) the store's encoded listeners get."""
    seen = []
    store._on_encoded_change(lambda key, encoded, delta=None: seen.append((key, encoded, delta)))
    return seen


def resolved(delta):
    return delta.get() if delta is not None and not isinstance(delta, tuple) else delta


class TestDiff(unittest.TestCase):
    def test_the_patch_turns_the_old_value_into_the_new_one(self):
        rng = random.Random(7)

        def value(depth=0):
            r = rng.random()
            if depth > 3 or r < 0.4:
                return rng.choice([0, 1, 1.5, True, False, None, 'a', 'b/c', 't~x'])
            if r < 0.7:
                return [value(depth + 1) for _ in range(rng.randint(0, 4))]
            return {rng.choice(['a', 'b', 'c/d', 'e~', '0']): value(depth + 1)
                    for _ in range(rng.randint(0, 4))}

        checked = 0
        while checked < 2000:
            before, after = value(), value()
            if not isinstance(before, (dict, list)) or type(before) is not type(after):
                continue
            ops = json.loads(json.dumps(diff(before, after)))
            got = apply_patch(copy.deepcopy(before), ops)
            self.assertEqual(json.dumps(got, sort_keys=True), json.dumps(after, sort_keys=True))
            checked += 1

    def test_true_is_not_one(self):
        self.assertEqual(diff([1, 1.0], [True, 1.0]),
                         [{'op': 'replace', 'path': '/0', 'value': True}])

    def test_a_small_change_of_a_large_object_is_a_patch(self):
        store = Datastore('diff-object', backend=MemoryBackend())
        seen = changes_of(store)
        big = {'k{}'.format(i): {'i': i, 'text': 'value number {}'.format(i)} for i in range(500)}
        store.set('big', big)
        changed = dict(big, k7={'i': 7, 'text': 'changed'}, extra=[1, 2])
        store.set('big', changed)
        self.assertIsNone(resolved(seen[0][2]), 'the first value has nothing to diff against')
        kind, encoded, domain = resolved(seen[1][2])
        self.assertEqual((kind, domain), ('ops', 'diff-object'))
        self.assertLess(len(encoded) * 10, len(seen[1][1]))
        self.assertEqual(apply_patch(copy.deepcopy(big), json.loads(encoded)), changed)

    def test_a_grown_list_sends_its_new_items(self):
        store = Datastore('diff-list', backend=MemoryBackend())
        seen = changes_of(store)
        xs = list(range(3000))
        store.set('xs', xs)
        store.set('xs', xs + [3000, 3001])
        self.assertEqual(resolved(seen[1][2]), ('append', '3000,3001', 'diff-list'))

    def test_small_values_and_large_rewrites_go_whole(self):
        store = Datastore('diff-whole', backend=MemoryBackend())
        seen = changes_of(store)
        store.set('small', {'a': 1})
        store.set('small', {'a': 2})
        self.assertIsNone(seen[1][2], 'a small value is not diffed')
        store.set('big', list(range(3000)))
        store.set('big', list(range(1, 3001)))
        self.assertIsNone(resolved(seen[3][2]), 'a patch larger than half the value is not sent')
        store.set('big', {'now': 'x' * 9000})
        self.assertIsNone(seen[4][2], 'a list that became an object is sent whole')


if __name__ == '__main__':
    unittest.main()
