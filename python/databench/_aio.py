"""Small awaitables that need no event loop to exist, and how handlers run.

What `emit`, `set` and friends return may be awaited, `yield`ed (the
Tornado style of databench 0.7) or ignored, and nothing is left "never
awaited". A method decorated with ``@databench.on`` runs as Tornado's
``gen.coroutine`` ran it: called from anywhere, its body starts at once and
the call returns an awaitable of its result (:func:`call`)."""

import asyncio
import concurrent.futures
import inspect
import sys


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


class Results(list):
    """What a datastore write returns, as databench 0.7 returned it: the list
    of what its change callbacks returned (``['callback return']``), and
    also an awaitable that completes when the awaitable ones among them
    have (``await``/``yield`` it, or ignore it)."""

    __slots__ = ()

    def __await__(self):
        for item in list(self):
            if item is DONE or item is None:
                continue
            if isinstance(item, Results) or inspect.isawaitable(item):
                yield from item.__await__()
        return self

    def done(self):
        return all(getattr(item, 'done', _true)() for item in self)

    def result(self):
        return self


def _true():
    return True


EMPTY = Results()


def results(values):
    """A :class:`Results` of callback return values, coroutines among them started."""
    out = Results()
    for value in values:
        if value is DONE or value is PAUSE or value is None:
            # what an emit or a change to a page returns (or a plain callback)
            out.append(value)
            continue
        started = start(value)
        out.append(value if started is None else started)
    return out


def run_now(awaitable):
    """Run `awaitable` to its end on a loop of its own (there is no running
    loop): unlike ``asyncio.run`` it leaves the thread's current event loop
    (a Tornado test's) as it was."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_as_coroutine(awaitable))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


async def _as_coroutine(awaitable):
    return await awaitable


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def start(value):
    """Start a coroutine a callback returned (it runs whether or not anyone awaits it).

    Returns an awaitable, or None when `value` is not one. Without a running
    loop a coroutine runs to completion at once.
    """
    if inspect.iscoroutine(value):
        loop = _running_loop()
        if loop is None:
            return Done(run_now(value))
        return loop.create_task(value)
    if isinstance(value, concurrent.futures.Future):
        return asyncio.wrap_future(value)
    if inspect.isawaitable(value):
        return value
    return None


def combine(values):
    """One awaitable for the results of several callbacks."""
    pending = [a for a in (start(r) for r in values) if a is not None]
    if not pending:
        return DONE
    if len(pending) == 1:
        return pending[0]
    return Results(pending)


def _is_moment(value):
    gen = sys.modules.get('tornado.gen')
    return gen is not None and value is getattr(gen, 'moment', None)


async def resolve(value):
    """What a handler written as a generator gets back for a `yield`:
    awaitables awaited, lists and dicts of them awaited item by item, a
    generator driven as a sub-coroutine, anything else (None and Tornado's
    ``gen.moment`` included) handed back after one turn of the loop."""
    if isinstance(value, Results):
        return await value
    if isinstance(value, (list, tuple)):
        return [await resolve(v) for v in value]
    if isinstance(value, dict):
        return {k: await resolve(v) for k, v in value.items()}
    if inspect.isgenerator(value):
        return await drive(value)
    started = start(value)
    if started is not None:
        return await started
    await PAUSE
    return None if _is_moment(value) else value


class _Run(object):
    """A generator handler being driven for an analysis instance."""

    __slots__ = ('stopped',)

    def __init__(self, stopped):
        self.stopped = stopped


def _owner(args):
    """The analysis instance a decorated method was called on, if any."""
    if args and getattr(args[0], '_databench_analysis', False):
        return args[0]
    return None


def _register(owner):
    if owner is None:
        return None
    state = owner.__dict__
    if state.get('_disposed'):
        # its page has gone (a timer still calls it): stop at the first yield
        return _Run(True)
    runs = state.get('_generator_runs')
    if runs is None:
        runs = state['_generator_runs'] = set()
    run = _Run(False)
    runs.add(run)
    return run


def stop_generators(owner):
    """The page of `owner` has gone: its generator handlers that run now are
    closed at their next `yield` (their ``finally`` blocks run), not resumed
    to write to nobody; those that start later (``disconnected``) run."""
    for run in list(owner.__dict__.get('_generator_runs', ())):
        run.stopped = True


async def _drive_from(gen, yielded, owner=None):
    run = _register(owner)
    try:
        while True:
            error = None
            try:
                sent = await resolve(yielded)
            except Exception as e:  # the generator may catch it
                sent = None
                error = e
            if run is not None and run.stopped:
                gen.close()
                return None
            try:
                yielded = gen.throw(error) if error is not None else gen.send(sent)
            except StopIteration as stop:
                return stop.value
    finally:
        if run is not None:
            runs = owner.__dict__.get('_generator_runs')
            if runs is not None:
                runs.discard(run)


async def drive(gen, owner=None):
    """Run a generator handler to its end, as Tornado's coroutines did
    (`owner`: the analysis instance whose page's end stops it)."""
    try:
        yielded = gen.send(None)
    except StopIteration as stop:
        return stop.value
    return await _drive_from(gen, yielded, owner)


async def settle(result, owner=None):
    """Await what a handler returned: a generator is driven, an awaitable awaited."""
    if inspect.isgenerator(result):
        return await drive(result, owner)
    started = start(result)
    if started is not None:
        return await started
    return result


def _failed(loop, error):
    future = loop.create_future()
    future.set_exception(error)
    return future


def call(fn, args, kwargs):
    """Call `fn` as ``tornado.gen.coroutine`` called it (what an
    ``@databench.on`` method is): its body runs now, up to its first `yield`
    or `await`; the rest runs on the loop; the call returns an awaitable of
    its result (a Task, or :class:`Done` when it finished at once; an
    exception is raised by awaiting it). Without a running loop the call
    runs to its end before it returns."""
    loop = _running_loop()
    if loop is None:
        result = fn(*args, **kwargs)
        if inspect.isgenerator(result) or inspect.iscoroutine(result):
            return Done(run_now(settle(result, _owner(args))))
        started = start(result)
        return Done(result) if started is None else started
    try:
        result = fn(*args, **kwargs)
        if inspect.isgenerator(result):
            try:
                yielded = result.send(None)
            except StopIteration as stop:
                return Done(stop.value)
            return loop.create_task(_drive_from(result, yielded, _owner(args)))
    except Exception as error:
        return _failed(loop, error)
    started = start(result)
    return Done(result) if started is None else started
