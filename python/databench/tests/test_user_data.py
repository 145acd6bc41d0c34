"""user_data: the signed-in user's store, and how a user id becomes part of a domain."""

import unittest

import databench
from databench.analysis import _escape_user_id, _session_data_domain, _user_data_domain
from databench.testing import AnalysisTest

# the same vectors as src/analysis/user.test.ts: both kernels name a user's stores alike
ESCAPED = [
    ('alice', 'alice'),
    ('alice@example.com', 'alice%40example.com'),
    ('a:b/c@d', 'a%3Ab%2Fc%40d'),
    ('a b~_.-', 'a%20b~_.-'),
    ('Zo\u00eb', 'Zo%C3%AB'),
    ('\U0001F600', '%F0%9F%98%80'),
    ('\ud800x', '%uD800x'),
    ('%41', '%2541'),
]


class Prefs(databench.Analysis):
    def on_set_pref(self, key, value):
        self.user_data[key] = value


class TestUserData(unittest.TestCase):
    def test_escape(self):
        for user_id, escaped in ESCAPED:
            self.assertEqual(_escape_user_id(user_id), escaped, user_id)

    def test_domains(self):
        uid = '6f1c2a0e-4b7d-4c7e-9a53-0c1d2e3f4a5b'
        self.assertEqual(_session_data_domain(uid, None), uid)
        self.assertEqual(_session_data_domain(uid, {'id': 'a@b'}), uid + '@a%40b')
        self.assertEqual(_user_data_domain({'id': 'a:b'}, 'prefs', uid), 'user:a%3Ab:prefs')
        self.assertEqual(_user_data_domain(None, 'prefs', uid), uid + '/user')

    def test_a_change_reaches_the_page_as_user_data(self):
        test = AnalysisTest(Prefs, user={'id': 'alice'})
        test.trigger('set_pref', ['theme', 'dark'])
        self.assertIn(('user_data', {'theme': 'dark'}), test.emitted_messages)

    def test_two_instances_of_one_user_share_it_another_user_does_not(self):
        alice = AnalysisTest(Prefs, user={'id': 'alice-shares'})
        again = AnalysisTest(Prefs, user={'id': 'alice-shares'})
        bob = AnalysisTest(Prefs, user={'id': 'bob-shares'})
        alice.trigger('set_pref', ['theme', 'dark'])
        self.assertIn(('user_data', {'theme': 'dark'}), again.emitted_messages)
        self.assertEqual([m for m in bob.emitted_messages if m[0] == 'user_data'], [])

    def test_an_analysis_with_its_own_user_data_attribute_keeps_it(self):
        # 0.7 code could name an attribute of its own user_data: it wins, no store is wired
        class Counter(databench.Analysis):
            def __init__(self):
                super().__init__()
                self.user_data = {'clicks': 0}

            def on_click(self):
                self.user_data['clicks'] += 1

        for user in (None, {'id': 'alice-own'}):
            test = AnalysisTest(Counter, user=user)
            test.trigger('click')
            test.trigger('click')
            self.assertEqual(test.analysis_instance.user_data, {'clicks': 2}, user)
            self.assertEqual([m for m in test.emitted_messages if m[0] == 'user_data'], [], user)
            self.assertIsNone(test.analysis_instance._user_store(), user)
            test.close()


if __name__ == '__main__':
    unittest.main()
