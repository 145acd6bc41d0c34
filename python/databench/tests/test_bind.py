"""How an action's message binds to a handler's parameters (meta._bind):
the cached plan that decides the usual calls without ``Signature.bind``
must accept and refuse exactly what the signature does, with the same
error text."""

import inspect
import unittest

from databench._wire import NO_MESSAGE
from databench.meta import _bind


class Handlers(object):
    def plain(self, a, b=2):
        pass

    def none(self):
        pass

    def star(self, a, *rest):
        pass

    def keywords(self, a, **more):
        pass

    def kwonly(self, a, *, b):
        pass

    def posonly(self, a, /, b=1):
        pass


MESSAGES = [
    NO_MESSAGE, 1, [], [1], [1, 2], [1, 2, 3], {}, {'a': 1}, {'a': 1, 'b': 2}, {'b': 2},
    {'c': 3}, {'a': 1, 'c': 3}, 'text', None,
]


def expected(method, message):
    """What binding with the signature alone says: None, or the error's start."""
    if message is NO_MESSAGE:
        args, kwargs = (), {}
    elif isinstance(message, list):
        args, kwargs = message, {}
    elif isinstance(message, dict):
        args, kwargs = (), message
    else:
        args, kwargs = (message,), {}
    signature = inspect.signature(method)
    params = signature.parameters.values()
    if kwargs and not any(p.kind is p.VAR_KEYWORD for p in params):
        known = set(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        if any(k not in known for k in kwargs):
            return 'unknown argument'
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        return str(error)
    return None


class TestBind(unittest.TestCase):
    def test_every_shape_binds_as_the_signature_says(self):
        handlers = Handlers()
        for name in ['plain', 'none', 'star', 'keywords', 'kwonly', 'posonly']:
            method = getattr(handlers, name)
            for message in MESSAGES:
                # twice: the first call finds the plan, the second uses it
                for _ in range(2):
                    _, _, _, error = _bind(handlers, 'act', name, message)
                    want = expected(method, message)
                    with self.subTest(handler=name, message=message):
                        if want is None:
                            self.assertIsNone(error)
                        else:
                            self.assertIsNotNone(error)
                            self.assertIn(want, error)
                            self.assertTrue(error.startswith('action "act": '), error)

    def test_an_instance_attribute_is_bound_as_it_is(self):
        handlers = Handlers()
        handlers.plain = lambda x: None
        self.assertIsNone(_bind(handlers, 'act', 'plain', [1])[3])
        self.assertIn('too many', _bind(handlers, 'act', 'plain', [1, 2])[3])
        # the class's method keeps its own plan
        self.assertIsNone(_bind(Handlers(), 'act', 'plain', [1, 2])[3])

    def test_a_replaced_code_or_defaults_makes_the_plan_again(self):
        class Reloaded(object):
            def on_x(self, a, b=1):
                pass

        handlers = Reloaded()
        self.assertIsNone(_bind(handlers, 'x', 'on_x', [1])[3])
        Reloaded.on_x.__defaults__ = None
        self.assertIn('missing a required argument', _bind(handlers, 'x', 'on_x', [1])[3])

        def other(self, c):
            pass

        Reloaded.on_x.__code__ = other.__code__
        Reloaded.on_x.__defaults__ = None
        self.assertIn('unknown argument "a"', _bind(handlers, 'x', 'on_x', {'a': 1})[3])
        self.assertIsNone(_bind(handlers, 'x', 'on_x', {'c': 1})[3])


if __name__ == '__main__':
    unittest.main()
