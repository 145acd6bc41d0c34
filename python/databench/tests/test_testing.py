"""AnalysisTest as databench's docs show it, under plain unittest."""

import unittest

import databench
from databench.testing import AnalysisTest, AsyncTestCase, gen_test
from databench.tests.analyses.parameters.analysis import Parameters


class Example(AsyncTestCase):
    @gen_test
    def test_gentest(self):
        test = AnalysisTest(Parameters())
        yield test.trigger('test_data', ['light', 'red'])
        self.assertIn(('data', {'light': 'red'}), test.emitted_messages)

    def test_stopwait(self):
        test = AnalysisTest(Parameters())
        test.trigger('test_data', ['light', 'red'], callback=self.stop)
        self.wait()
        self.assertIn(('data', {'light': 'red'}), test.emitted_messages)


class TestAnalysisTest(unittest.TestCase):
    def test_instance_and_class(self):
        for analysis in (Parameters(), Parameters):
            test = AnalysisTest(analysis)
            test.trigger('test_data', ['light', 'red'])
            self.assertIn(('data', {'light': 'red'}), test.emitted_messages)

    def test_process(self):
        test = AnalysisTest(Parameters())
        test.trigger('test_data', {'key': 'light', 'value': 'red', '__process_id': 3})
        self.assertEqual([
            ('__process', {'id': 3, 'status': 'start'}),
            ('data', {'light': 'red'}),
            ('__process', {'id': 3, 'status': 'end'}),
        ], test.emitted_messages)

    def test_binding(self):
        test = AnalysisTest(Parameters)
        test.trigger('test_fn', ['a'])
        test.trigger('test_fn', {'first_param': 'b', 'second_param': 2})
        test.trigger('test_fn', 'c')
        test.trigger('test_action')
        self.assertEqual(test.emitted_messages, [
            ('test_fn', ['a', 100]), ('test_fn', ['b', 2]), ('test_fn', ['c', 100]),
            ('test_action_ack',),
        ])

    def test_missing_argument_is_an_error_and_no_handler_a_warning(self):
        test = AnalysisTest(Parameters)
        test.trigger('test_fn')
        test.trigger('nope')
        self.assertEqual(test.emitted_messages[0][0], 'error')
        self.assertIn('first_param', test.emitted_messages[0][1])
        self.assertEqual(test.emitted_messages[1], ('warn', 'no handler for nope'))

    def test_generator_handler(self):
        test = AnalysisTest(Parameters)
        test.trigger('test_set_data', ['k', [1, 2]])
        self.assertIn(('data', {'k': [1, 2]}), test.emitted_messages)

    def test_cli_and_request_args(self):
        class Args(databench.Analysis):
            def on_connected(self):
                self.data['args'] = [self.cli_args, self.request_args]

        test = AnalysisTest(Args, cli_args=['--x'], request_args={'a': ['1']})
        self.assertIn(('data', {'args': [['--x'], {'a': ['1']}]}), test.emitted_messages)

    def test_class_data_is_shared(self):
        a = AnalysisTest(Parameters)
        b = AnalysisTest(Parameters)
        a.trigger('test_class_data', ['shared_key', 5])
        self.assertEqual(b.analysis_instance.class_data['shared_key'], 5)
        self.assertIn(('class_data', {'shared_key': 5}), b.emitted_messages)

    def test_handler_error(self):
        class Failing(databench.Analysis):
            def on_go(self):
                raise KeyError('x')

        test = AnalysisTest(Failing)
        test.trigger('go', {'__process_id': 1})
        self.assertEqual(test.emitted_messages, [
            ('__process', {'id': 1, 'status': 'start'}),
            ('error', "action \"go\" failed: KeyError: 'x'"),
            ('__process', {'id': 1, 'status': 'end', 'error': True}),
        ])
        self.assertEqual(test.logs[0][0], 'error')
        self.assertIn('Traceback', test.logs[0][1])
        self.assertIn("raise KeyError('x')", test.logs[0][1])

    def test_async_handler_and_await_in_an_async_test(self):
        import asyncio

        class Async(databench.Analysis):
            async def on_go(self, n):
                await asyncio.sleep(0)
                await self.emit('went', n)

        async def main():
            test = AnalysisTest(Async)
            await test.trigger('go', [3])
            return test.emitted_messages

        self.assertEqual(asyncio.run(main()), [('went', 3)])

    def test_decorators_wildcard_and_transforms(self):
        seen = []

        class Decorated(databench.Analysis):
            @databench.on
            def run(self, x):
                self.data['x'] = x

            @databench.on_action('go')
            def something(self):
                self.emit('went')

            @databench.on_action('*')
            def every(self, action, message):
                seen.append((action, message))

            def data_x(self, value):
                return value * 10

        test = AnalysisTest(Decorated)
        test.trigger('run', [2])
        test.trigger('go')
        self.assertEqual(test.emitted_messages, [('data', {'x': 20}), ('went',)])
        self.assertIn(('run', [2]), seen)
        self.assertIn(('go', None), seen)

    def test_close_runs_disconnected(self):
        events = []

        class Closing(databench.Analysis):
            def on_disconnected(self):
                events.append('disconnected')

        test = AnalysisTest(Closing)
        test.close()
        self.assertEqual(events, ['disconnected'])
        with self.assertRaises(RuntimeError):
            test.trigger('x')


if __name__ == '__main__':
    unittest.main()


class Whoami(databench.Analysis):
    def on_connected(self):
        self.emit('user', self.user)


class TestUser(unittest.TestCase):
    def test_user_given(self):
        test = AnalysisTest(Whoami, user={'id': 'alice', 'email': 'alice@example.com'})
        self.assertIn(('user', {'id': 'alice', 'email': 'alice@example.com'}),
                      test.emitted_messages)
        user = test.analysis_instance.user
        self.assertEqual(user.email, 'alice@example.com')
        self.assertIsNone(user.name)

    def test_no_user(self):
        test = AnalysisTest(Whoami)
        self.assertIn(('user', None), test.emitted_messages)
        self.assertIsNone(test.analysis_instance.user)

    def test_malformed_user_is_none(self):
        self.assertIsNone(databench.User.from_wire({'name': 'no id'}))
        self.assertIsNone(databench.User.from_wire('alice'))
