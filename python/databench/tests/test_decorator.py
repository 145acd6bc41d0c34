"""@databench.on and @databench.on_action as databench 0.7 documents them:
the method handles its action, and being a coroutine in Tornado's sense it
may yield awaitables, and a call from the analysis's own code runs it and
returns an awaitable of its result."""

import asyncio
import os
import subprocess
import sys
import textwrap
import unittest

import databench
from databench.testing import AnalysisTest

try:
    import tornado.gen
    import tornado.ioloop
    import tornado.testing
except ImportError:  # the Node runner fails under CI=true when Tornado is missing
    tornado = None

NEEDS_TORNADO = unittest.skipIf(tornado is None and os.environ.get('CI') != 'true',
                                'Tornado is not installed')


@databench.on
def documented():
    """Function with docstring."""


@databench.on_action('bla')
def documented_2():
    """Another docstring."""


class Chain(databench.Analysis):
    """Handlers that call each other, as the gallery's fastpi does."""

    def __init__(self):
        super(Chain, self).__init__()
        self.events = []

    @databench.on
    def workers(self, n):
        self.events.append('workers started {}'.format(n))
        yield self.emit('log', {'workers': n})
        self.events.append('workers done')
        return n * 2

    @databench.on
    def connected(self):
        result = yield self.workers(12)
        yield self.emit('chained', result)

    @databench.on
    def fire(self):
        pending = self.workers(1)
        # the body ran up to its first yield at the call
        self.events.append('after the call')
        yield self.emit('fired', hasattr(pending, '__await__'))

    @databench.on
    def failing(self):
        yield self.emit('about to fail')
        raise ValueError('from a called handler')

    @databench.on
    def catcher(self):
        try:
            yield self.failing()
        except ValueError as error:
            yield self.emit('caught', str(error))

    @databench.on_action('renamed')
    def something(self, x):
        return x + 1


class TestDecorator(unittest.TestCase):
    def test_metadata_is_kept(self):
        self.assertEqual(documented.__doc__, 'Function with docstring.')
        self.assertEqual(documented_2.__doc__, 'Another docstring.')
        self.assertEqual(documented.__name__, 'documented')
        self.assertEqual(documented.action, 'documented')
        self.assertEqual(documented_2.action, 'bla')

    def test_a_handler_yields_another_and_gets_its_result(self):
        test = AnalysisTest(Chain)
        self.assertEqual(test.emitted_messages, [('log', {'workers': 12}), ('chained', 24)])
        self.assertEqual(test.analysis_instance.events, ['workers started 12', 'workers done'])

    def test_a_call_without_yield_runs_at_once_and_is_awaitable(self):
        test = AnalysisTest(Chain)
        del test.emitted_messages[:]
        events = test.analysis_instance.events
        del events[:]
        test.trigger('fire')
        self.assertEqual(events[:2], ['workers started 1', 'after the call'])
        self.assertIn(('fired', True), test.emitted_messages)
        self.assertIn(('log', {'workers': 1}), test.emitted_messages)
        self.assertIn('workers done', events)

    def test_an_exception_of_a_called_handler_reaches_the_caller(self):
        test = AnalysisTest(Chain)
        test.trigger('catcher')
        self.assertIn(('caught', 'from a called handler'), test.emitted_messages)
        self.assertFalse([m for m in test.emitted_messages if m[0] == 'error'])

    def test_a_call_outside_an_event_loop_runs_to_its_end(self):
        analysis = Chain().init_databench()
        sent = []
        analysis.set_emit_fn(lambda signal, message: sent.append((signal, message)))
        result = analysis.workers(3)
        self.assertEqual(result.result(), 6)
        self.assertEqual(sent, [('log', {'workers': 3})])
        self.assertEqual(analysis.something(1).result(), 2)

    def test_inside_a_loop_the_call_returns_a_future_of_the_result(self):
        async def main():
            analysis = Chain().init_databench()
            analysis.set_emit_fn(lambda signal, message: None)
            pending = analysis.workers(5)
            self.assertFalse(pending.done())
            return await pending

        self.assertEqual(asyncio.run(main()), 10)

    def test_on_action_names_the_action(self):
        results = []

        class Recorder(Chain):
            @databench.on_action('renamed')
            def record(self, x):
                results.append(x)

        test = AnalysisTest(Recorder)
        test.trigger('renamed', [4])
        self.assertEqual(results, [4])

    def test_0_7_names_of_the_built_in_handlers(self):
        class Args(databench.Analysis):
            @databench.on
            def args(self, cli_args, request_args):
                # databench 0.7: overriding `args` replaces the default
                self.cli_args = ['parsed'] + list(cli_args)
                self.request_args = request_args

            @databench.on
            def connected(self):
                yield super(Args, self).connected()
                yield self.emit('args', self.cli_args)

        test = AnalysisTest(Args, cli_args=['--x'])
        self.assertEqual(test.emitted_messages, [('args', ['parsed', '--x'])])

    def test_action_handler_objects_and_fill_action_handlers(self):
        def double(self, x):
            yield self.emit('doubled', 2 * x)

        class WithHandler(databench.Analysis):
            twice = databench.analysis.ActionHandler('twice', double)

        test = AnalysisTest(WithHandler)
        test.trigger('twice', [4])
        self.assertEqual(test.emitted_messages, [('doubled', 8)])
        handlers = databench.Meta.fill_action_handlers(Chain)
        self.assertIs(Chain._action_handlers, handlers)
        self.assertEqual(len(handlers['workers']), 1)
        self.assertEqual(len(handlers['renamed']), 1)
        self.assertIn('connected', handlers)

    def test_a_page_that_left_stops_its_generator_handlers_at_their_next_yield(self):
        from databench import _aio
        events = []

        class Loop(databench.Analysis):
            @databench.on
            def spin(self):
                try:
                    while True:
                        events.append('round')
                        yield None
                finally:
                    events.append('closed')

            @databench.on
            def after(self):
                events.append('after started')
                yield None
                events.append('after resumed')

        async def main():
            analysis = Loop().init_databench()
            analysis.set_emit_fn(lambda signal, message: None)
            running = analysis.spin()
            await asyncio.sleep(0)
            _aio.stop_generators(analysis)
            self.assertIsNone(await running)
            rounds = events.count('round')
            await analysis.after()  # started after the stop: runs
            analysis._dispose()
            await analysis.after()  # after the page's end: stops at its first yield
            await asyncio.sleep(0)
            return rounds

        rounds = asyncio.run(main())
        self.assertLessEqual(rounds, 3)
        self.assertEqual(events[rounds:], ['closed', 'after started', 'after resumed',
                                           'after started'])

    def test_without_tornado(self):
        # a process where Tornado cannot be imported: handlers calling each other still run
        code = textwrap.dedent('''
            import sys
            sys.modules['tornado'] = None
            from databench.testing import AnalysisTest
            from databench.tests.test_decorator import Chain
            test = AnalysisTest(Chain)
            test.trigger('fire')
            assert ('chained', 24) in test.emitted_messages, test.emitted_messages
            assert ('fired', True) in test.emitted_messages, test.emitted_messages
            assert 'tornado' not in [m.split('.')[0] for m in sys.modules if sys.modules[m]]
        ''').replace("from databench.tests.test_decorator import Chain",
                     "import importlib.util\n"
                     "spec = importlib.util.spec_from_file_location('chain_module', {!r})\n"
                     "module = importlib.util.module_from_spec(spec)\n"
                     "spec.loader.exec_module(module)\n"
                     "Chain = module.Chain".format(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))] +
            [p for p in [os.environ.get('PYTHONPATH')] if p]))
        result = subprocess.run([sys.executable, '-c', code], env=env,
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)


@NEEDS_TORNADO
class TestWithTornado(unittest.TestCase):
    def test_a_periodic_callback_calls_a_generator_handler(self):
        class Flowers(databench.Analysis):
            def __init__(self):
                super(Flowers, self).__init__()
                self.periodic = tornado.ioloop.PeriodicCallback(self.grow, 5)
                self.grown = asyncio.Event()
                self.n = 0

            @databench.on
            def connected(self):
                self.periodic.start()
                yield self.grown.wait()

            @databench.on
            def grow(self):
                self.n += 1
                yield self.set_state(n=self.n)
                if self.n == 3:
                    self.periodic.stop()
                    self.grown.set()

        test = AnalysisTest(Flowers)
        self.assertEqual([m for m in test.emitted_messages if m[0] == 'data'],
                         [('data', {'n': 1}), ('data', {'n': 2}), ('data', {'n': 3})])

    def test_tornado_coroutines_and_yieldables(self):
        class Mixed(databench.Analysis):
            @tornado.gen.coroutine
            def helper(self):
                yield tornado.gen.sleep(0.001)
                value = yield self.compute(2)
                return value

            @databench.on
            def compute(self, x):
                yield tornado.gen.moment
                yield None
                return x * 10

            @databench.on
            def go(self):
                value = yield self.helper()
                yield self.emit('value', value)

        test = AnalysisTest(Mixed)
        test.trigger('go')
        self.assertEqual(test.emitted_messages, [('value', 20)])


if tornado is not None:
    class TestTornadoTestCase(tornado.testing.AsyncTestCase):
        """AnalysisTest in Tornado's own test case, as databench 0.7's docs show it."""

        @tornado.testing.gen_test
        def test_gen_test(self):
            test = AnalysisTest(Chain)
            yield test.trigger('fire')
            self.assertIn(('fired', True), test.emitted_messages)


if __name__ == '__main__':
    unittest.main()
