"""Small awaitables that need no event loop to exist: what `emit`, `set` and
friends return, so a handler may await them, `yield` them (the Tornado style
of databench 0.7) or ignore them, and nothing is left "never awaited"."""

import asyncio
import concurrent.futures
import inspect


class Done(object):
    """An awaitable that is already complete (also answers `done()` and `result()` like a Future)."""

    __slots__ = ('value',)

    def __init__(self, value=None):
        self.value = value

    def __await__(self):
        return self.value
        yield  # pragma: no cover  (makes this a generator)

    def done(self):
        return True

    def result(self):
        return self.value

    def __repr__(self):
        return '<databench.Done>'


DONE = Done()


class Pause(object):
    """An awaitable that gives the event loop one turn (other sessions run, frames go out)."""

    __slots__ = ()

    def __await__(self):
        yield

    def done(self):
        return True

    def result(self):
        return None


PAUSE = Pause()


class All(object):
    """Awaits several awaitables one after the other."""

    __slots__ = ('items',)

    def __init__(self, items):
        self.items = items

    def __await__(self):
        for item in self.items:
            yield from item.__await__()

    def done(self):
        return all(i.done() for i in self.items)


def start(value):
    """Start a coroutine a callback returned (it runs whether or not anyone awaits it).

    Returns an awaitable, or None when `value` is not one. Without a running
    loop a coroutine runs to completion at once.
    """
    if inspect.iscoroutine(value):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return Done(asyncio.run(value))
        return loop.create_task(value)
    if isinstance(value, concurrent.futures.Future):
        return asyncio.wrap_future(value)
    if inspect.isawaitable(value):
        return value
    return None


def combine(results):
    """One awaitable for the results of several callbacks."""
    pending = [a for a in (start(r) for r in results) if a is not None]
    if not pending:
        return DONE
    if len(pending) == 1:
        return pending[0]
    return All(pending)


async def resolve(value):
    """What a handler written as a generator gets back for a `yield`:
    awaitables awaited, lists and dicts of them awaited item by item,
    anything else (None included) handed back after one turn of the loop."""
    if isinstance(value, (list, tuple)):
        return [await resolve(v) for v in value]
    if isinstance(value, dict):
        return {k: await resolve(v) for k, v in value.items()}
    started = start(value)
    if started is not None:
        return await started
    await PAUSE
    return value


async def drive(gen):
    """Run a generator handler to its end, as Tornado's coroutines did."""
    send = None
    error = None
    while True:
        try:
            yielded = gen.throw(error) if error is not None else gen.send(send)
        except StopIteration as stop:
            return stop.value
        error = None
        try:
            send = await resolve(yielded)
        except Exception as e:  # the generator may catch it
            send = None
            error = e


async def settle(result):
    """Await what a handler returned: a generator is driven, an awaitable awaited."""
    if inspect.isgenerator(result):
        return await drive(result)
    started = start(result)
    if started is not None:
        return await started
    return result
