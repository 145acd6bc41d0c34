"""databench's Datastore: a key-value store scoped to a domain, values kept
as encoded JSON. Every Datastore on the same domain (in this process) sees
the same data and hears every change. Where the data lives is a backend: in
memory by default (AnalysisTest, scripts), the server's datastore when the
analysis runs in a `kernel: py` process (writes go to the server, changes
made elsewhere come back)."""

import asyncio
import logging

from . import _aio
from ._patch import PatchError, apply_patch, diff
from ._wire import decode_value, encode_value

log = logging.getLogger('databench.datastore')


def encode(value):
    """A value as the JSON text a Datastore keeps (and the page receives)."""
    return encode_value(value)


def decode(encoded):
    """The value of a Datastore's JSON text."""
    return decode_value(encoded)


class MissingKey(KeyError, IndexError):
    """No such key (a KeyError, and an IndexError as databench 0.7 raised)."""


class MemoryBackend(object):
    """The data of every domain in this process's memory."""

    name = 'memory'

    def __init__(self):
        self.domains = {}
        self._timers = {}

    def attach(self, domain, on_remote_change):
        timer = self._timers.pop(domain, None)
        if timer is not None:
            timer.cancel()
        return self.domains.setdefault(domain, {})

    def write(self, domain, key, encoded):
        # the domain's entries are this backend's dict: already written
        pass

    def detach(self, domain, release, release_after_ms):
        if release:
            self.domains.pop(domain, None)
        elif release_after_ms is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._timers[domain] = loop.call_later(
                release_after_ms / 1000.0, lambda: self.domains.pop(domain, None))


_default_backend = MemoryBackend()


def set_default_backend(backend):
    """Where Datastores made without a `backend` keep their data (the kernel sets the server's)."""
    global _default_backend
    _default_backend = backend


def get_default_backend():
    return _default_backend


class _Domain(object):
    """The process-local state of one open domain: its mirror and the Datastores on it."""

    __slots__ = ('backend', 'name', 'entries', 'stores', 'ready')

    def __init__(self, backend, name):
        self.backend = backend
        self.name = name
        self.stores = []
        attached = backend.attach(name, self.apply_remote)
        if isinstance(attached, dict):
            self.entries = attached
            self.ready = _aio.DONE
        else:
            self.entries = {}
            self.ready = _aio.start(self._load(attached))

    async def _load(self, attached):
        loaded = dict(await attached)
        # writes made here before the load finished win over the loaded values
        loaded.update(self.entries)
        self.entries = loaded
        # not the finished task (its context and result), for as long as the domain is open
        self.ready = _aio.DONE

    def write(self, key, encoded, delta=None):
        """Write `encoded` (None: delete); `delta` is the change against the
        current value as ``(kind, encoded delta)`` when the writer knows it."""
        previous = self.entries.get(key)
        if previous == encoded:
            return _aio.Results()
        if encoded is None:
            self.entries.pop(key, None)
        else:
            self.entries[key] = encoded
        self.backend.write(self.name, key, encoded)
        if delta is not None and previous is not None:
            return self.deliver(key, encoded, (delta[0], delta[1], self.name))
        if _may_diff(previous, encoded):
            # a page that takes deltas asks for it: no such page, no diff
            return self.deliver(key, encoded, Diff(previous, encoded, self.name))
        return self.deliver(key, encoded)

    def apply_remote(self, key, encoded):
        if self.entries.get(key) == encoded:
            return
        if encoded is None:
            self.entries.pop(key, None)
        else:
            self.entries[key] = encoded
        self.deliver(key, encoded)

    def deliver(self, key, encoded, delta=None):
        results = []
        for store in list(self.stores):
            store._deliver(key, encoded, results, delta)
        return _aio.results(results)


#: Values encoded shorter than this are sent whole: for them a structural
#: diff (a parse of the old and the new value) costs more than it saves
#: (src/datastore/delta.ts decides the same way).
DIFF_MIN_CHARS = 8192


def _may_diff(previous, encoded):
    """Whether a change may go out as a diff: both values large, and both a
    JSON object or both a list."""
    if previous is None or encoded is None or len(encoded) < DIFF_MIN_CHARS:
        return False
    first = encoded[0]
    return (first == '{' or first == '[') and previous[0] == first


class Diff(object):
    """The delta of a `set` of a large list or object against the value
    before, computed when a page that takes deltas first asks (:meth:`get`),
    once for all of them: the new items when the list only grew at its end
    (a comparison of the two texts), else a JSON Patch when it is at most
    half the size of the value; None: send the value whole."""

    __slots__ = ('previous', 'encoded', 'domain', 'done', 'result')

    def __init__(self, previous, encoded, domain):
        self.previous = previous
        self.encoded = encoded
        self.domain = domain
        self.done = False
        self.result = None

    def get(self):
        """``(kind, encoded delta, domain)``, or None."""
        if not self.done:
            self.done = True
            self.result = self._compute()
            self.previous = None
        return self.result

    def _compute(self):
        previous, encoded = self.previous, self.encoded
        appended = _appended_items(previous, encoded)
        if appended is not None:
            return ('append', appended, self.domain)
        ops = diff(decode_value(previous), decode_value(encoded))
        if not ops:
            return None
        text = encode_value(ops)
        if len(text) * 2 > len(encoded) or '__proto__' in text or '/constructor/prototype' in text:
            return None
        return ('ops', text, self.domain)


def _appended_items(previous, encoded):
    """When the list `encoded` is the list `previous` with items added at its
    end, those items as the text between the brackets; else None. No parse:
    `previous` without its `]` is a run of whole JSON values, so a `,` right
    after it in `encoded` starts the first new item."""
    if encoded[0] != '[' or previous[0] != '[' or len(encoded) <= len(previous):
        return None
    head = len(previous) - 1
    if previous[1:head].strip() == '':
        return encoded[1:-1]
    if encoded[head] != ',' or not encoded.startswith(previous[:head]):
        return None
    return encoded[head + 1:-1]


_registries = {}


class _DomainsView(object):
    """databench 0.7's ``Datastore.global_data`` and ``Datastore.stores``:
    domain -> its encoded entries / its open Datastores (of the default
    backend), read when accessed."""

    def __init__(self, what):
        self.what = what

    def __get__(self, obj, objtype=None):
        backend = _default_backend
        open_domains = _registries.get(id(backend), {})
        if self.what == 'stores':
            return {name: list(d.stores) for name, d in open_domains.items()}
        data = dict(getattr(backend, 'domains', {}))
        data.update({name: d.entries for name, d in open_domains.items()})
        return data


def _open_domain(backend, name):
    registry = _registries.setdefault(id(backend), {})
    domain = registry.get(name)
    if domain is None:
        domain = _Domain(backend, name)
        registry[name] = domain
    return domain


class Datastore(object):
    """Key-value data store.

    :param domain: a namespace for the keys: an analysis instance id for data
        of one page, the analysis class name (``ClassName@analysis_name`` when
        two analyses have classes of one name) for data shared by its pages.
    :param bool release_storage: drop the domain's data when the last
        Datastore on it closes.
    :param release_after_ms: drop it this long after the last one closed,
        unless one opens it again before.
    :param backend: where the data lives (default: see :func:`set_default_backend`).

    Values are stored as encoded JSON: setting a value equal to the stored
    one does nothing, reads return a copy. Every Datastore on the domain
    hears a change: ``subscribe(callback)`` callbacks get ``{key: value}``
    (databench 0.7), ``on_change(callback)`` ones ``(key, value)``. A write
    (``set``, ``set_state``, ``store[key] = value``) returns the list of what
    the callbacks returned, as databench 0.7 did; that list is also an
    awaitable that completes when the awaitable results have (``await`` it,
    ``yield`` it, or ignore it). Writes to a closed Datastore (a page that
    has gone, its handler still running) are dropped.
    """

    #: databench 0.7: domain -> its entries (encoded), of every domain in memory.
    global_data = _DomainsView('data')
    #: databench 0.7: domain -> the open Datastores on it.
    stores = _DomainsView('stores')

    def __init__(self, domain, release_storage=False, release_after_ms=None, backend=None):
        self.domain = domain
        self.release_storage = release_storage
        self.release_after_ms = release_after_ms
        self.callbacks = []
        self.change_callbacks = []
        self._encoded_listeners = []
        self._closed = False
        self._state = _open_domain(backend or _default_backend, domain)
        self._state.stores.append(self)

    @property
    def ready(self):
        """An awaitable that completes once the domain's data has been loaded."""
        return self._state.ready

    @property
    def data(self):
        """The encoded entries (read-only use)."""
        return self._state.entries

    # change callbacks ------------------------------------------------------

    def subscribe(self, callback):
        """Register a change callback: ``callback({key: value})`` (value None: deleted).

        What it returns is in the list a write returns; it may be a plain
        function or return an awaitable. Returns this Datastore.
        """
        self.callbacks.append(callback)
        return self

    def on_change(self, callback):
        """Register a change callback: ``callback(key, value)`` (value None: deleted).

        It may be a plain function or return an awaitable. Returns this Datastore.
        """
        self.change_callbacks.append(callback)
        return self

    def _on_encoded_change(self, listener):
        """@internal ``listener(key, encoded, delta)``: the analysis forwards
        changes still encoded; `delta` is None, ``(kind, encoded delta, domain)``
        (see :meth:`append`, :meth:`patch`), or a :class:`Diff` of a large
        value set whole (its ``get()`` says which, computed once)."""
        self._encoded_listeners.append(listener)

    def _deliver(self, key, encoded, results, delta=None):
        for listener in self._encoded_listeners:
            results.append(listener(key, encoded, delta))
        # each callback decodes its own copy: one cannot change what the next sees
        for callback in list(self.change_callbacks):
            results.append(callback(key, None if encoded is None else decode_value(encoded)))
        for callback in list(self.callbacks):
            results.append(callback({key: None if encoded is None else decode_value(encoded)}))

    def all_callbacks(self):
        """The ``subscribe`` callbacks of every Datastore on this domain."""
        return [callback for store in list(self._state.stores) for callback in store.callbacks]

    def trigger_callbacks(self, key, callbacks=None):
        """Call the change callbacks for `key` with its current value: those
        of every Datastore on the domain (the page's included: it gets the
        value again), or only `callbacks` (called with ``{key: value}``).
        Returns their results (a list, also awaitable)."""
        if callbacks is None:
            return self._state.deliver(key, self._state.entries.get(key))
        return _aio.results([callback({key: self.get(key)}) for callback in callbacks])

    def trigger_all_callbacks(self, callbacks=None):
        """:meth:`trigger_callbacks` for every key; the results in one list."""
        return _aio.Results(r for key in list(self) for r in self.trigger_callbacks(key, callbacks))

    def trigger_change_callbacks(self, key):
        """Call this Datastore's own callbacks for `key` with its current value."""
        encoded = self._state.entries.get(key)
        results = []
        self._deliver(key, encoded, results)
        return _aio.results(results)

    def trigger_all_change_callbacks(self):
        """Trigger all callbacks that were set with on_change()."""
        return _aio.Results(r for k in list(self) for r in self.trigger_change_callbacks(k))

    # reads -----------------------------------------------------------------

    def get_encoded(self, key):
        try:
            return self._state.entries[key]
        except KeyError:
            raise MissingKey(key) from None

    def __getitem__(self, key):
        return decode_value(self.get_encoded(key))

    def get(self, key, default=None):
        """The value at `key`, or `default` when there is none."""
        encoded = self._state.entries.get(key)
        return default if encoded is None else decode_value(encoded)

    def __contains__(self, key):
        return key in self._state.entries

    def __len__(self):
        return len(self._state.entries)

    def __iter__(self):
        return iter(list(self._state.entries))

    def keys(self):
        return list(self._state.entries)

    def values(self):
        return [decode_value(v) for v in list(self._state.entries.values())]

    def items(self):
        return [(k, decode_value(v)) for k, v in list(self._state.entries.items())]

    def to_dict(self):
        return dict(self.items())

    def __repr__(self):
        return repr(self.to_dict())

    # writes ----------------------------------------------------------------

    def set(self, key, value):
        """Set `key` to `value`; returns what the change callbacks returned
        (a list, also awaitable; empty when the value did not change)."""
        if not isinstance(key, str):
            raise TypeError('a Datastore key must be a str, got {!r}'.format(key))
        encoded = encode_value(value, key)
        if self._closed:
            return self._dropped(key)
        return self._state.write(key, encoded)

    def __setitem__(self, key, value):
        self.set(key, value)

    def append(self, key, *items):
        """Add `items` to the end of the list at `key` (a new list when the key
        holds nothing); returns an awaitable. A page that takes deltas gets
        only the new items; its listeners and widgets still see the whole list."""
        return self.extend(key, items)

    def extend(self, key, items):
        """:meth:`append` with the items as one iterable (like ``list.extend``)."""
        if self._closed:
            return self._dropped(key)
        items = list(items)
        previous = self._state.entries.get(key)
        if previous is not None and not previous.startswith('['):
            raise TypeError('cannot append to "{}": it does not hold a list. '
                            'Set a list first (or use set())'.format(key))
        if not items:
            return self._state.write(key, '[]') if previous is None else _aio.Results()
        encoded_items = encode_value(items, key)
        if previous is None:
            return self._state.write(key, encoded_items)
        inner = encoded_items[1:-1]
        # the stored text grows by the items: the old list is neither decoded nor encoded again
        if previous[1:-1].strip() == '':
            encoded = encoded_items
        else:
            encoded = previous[:-1] + ',' + inner + ']'
        return self._state.write(key, encoded, ('append', inner))

    def patch(self, key, ops):
        """Change the value at `key` with JSON Patch operations (RFC 6902:
        ``add``, ``remove``, ``replace``, ``move``, ``copy``, ``test``; paths
        are JSON Pointers into the value); returns an awaitable. A page that
        takes deltas gets only the operations. Raises ValueError when the key
        holds nothing or an operation does not apply (the value is unchanged)."""
        if self._closed:
            return self._dropped(key)
        if not isinstance(ops, (list, tuple)):
            raise TypeError('patch("{}", ops): ops must be a list of JSON Patch operations'
                            .format(key))
        previous = self._state.entries.get(key)
        if previous is None:
            raise ValueError('cannot patch "{}": it holds no value. Set it first'.format(key))
        if not ops:
            return _aio.Results()
        # the operations as the page gets them, and a copy the caller cannot change later
        ops_encoded = encode_value(list(ops), key)
        try:
            value = apply_patch(decode_value(previous), decode_value(ops_encoded))
        except PatchError as error:
            raise ValueError('cannot patch "{}": {}. The value is unchanged'.format(key, error)) \
                from None
        return self._state.write(key, encode_value(value, key), ('ops', ops_encoded))

    def delete(self, key):
        """Remove `key` (nothing happens when it is not there); returns the callbacks' results."""
        if self._closed:
            return self._dropped(key)
        return self._state.write(key, None)

    def __delitem__(self, key):
        if key not in self._state.entries:
            raise MissingKey(key)
        self.delete(key)

    def update(self, key_value_pairs=None, **kwargs):
        """Similar to :meth:`dict.update`; returns the callbacks' results in one list."""
        return self._update(dict(key_value_pairs or {}, **kwargs))

    def _update(self, pairs):
        if len(pairs) == 1:
            # one key (a stream of set_state(x=...)): its own results, not a copy
            for key, value in pairs.items():
                results = self.set(key, value)
                return results if type(results) is _aio.Results else _aio.Results(results)
        out = _aio.Results()
        for key, value in pairs.items():
            out.extend(self.set(key, value))
        return out

    def init(self, key_value_pairs=None, **kwargs):
        """Set only the keys that are not in the datastore already; returns
        one result list per key set (as databench 0.7 did)."""
        pairs = dict(key_value_pairs or {}, **kwargs)
        return _aio.Results([self.set(k, v) for k, v in pairs.items() if k not in self])

    def set_state(self, updater=None, **kwargs):
        """Update the datastore: a dict, a function ``store -> dict``, or
        keywords; returns the callbacks' results in one list."""
        if updater is None:
            # the keywords are a dict of this call's own
            return self._update(kwargs)
        value = updater(self) if callable(updater) else dict(updater)
        value.update(kwargs)
        return self._update(value)

    def _dropped(self, key):
        log.debug('write of "%s" to the closed Datastore "%s": dropped', key, self.domain)
        return _aio.Results()

    def close(self):
        """Close this Datastore; the last one on a domain detaches it."""
        if self._closed:
            return
        self._closed = True
        self.callbacks = []
        self.change_callbacks = []
        self._encoded_listeners = []
        state = self._state
        if self in state.stores:
            state.stores.remove(self)
        if not state.stores:
            registry = _registries.get(id(state.backend), {})
            if registry.get(state.name) is state:
                del registry[state.name]
            state.backend.detach(state.name, bool(self.release_storage), self.release_after_ms)

    def release(self):
        """Close and drop the domain's data (databench 0.7's `release_storage`)."""
        self.release_storage = True
        self.close()
