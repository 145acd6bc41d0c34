"""databench 0.7's DatastoreLegacy: the older in-memory key-value store
whose list and dict values are live wrappers (``store['d']['k'] = 1``
changes the stored dict and calls the change callbacks for ``'d'``).

It lives in this process only and nothing of it reaches a page by itself
(an analysis's ``data`` is a :class:`databench.Datastore`); kept so that
code written for it runs unchanged.
"""

import collections
import json

from . import _aio
from .utils import json_encoder_default


class MissingKey(KeyError, IndexError):
    """No such key (an IndexError, as databench 0.7 raised, and a KeyError)."""


def decode(value):
    """A stored value as it is read: a wrapper as it is, JSON text decoded."""
    if isinstance(value, (DatastoreList, DatastoreDict)):
        return value
    return json.loads(value)


def encode(value, callback):
    """A value as it is stored: a list or dict as a live wrapper whose changes
    call `callback`, anything else as JSON text."""
    if isinstance(value, (DatastoreList, DatastoreDict)):
        value._change_callback = callback
        return value
    if isinstance(value, list):
        return DatastoreList(value, callback)
    if isinstance(value, dict):
        return DatastoreDict(value, callback)
    return json.dumps(value, default=json_encoder_default)


def _results(value):
    if isinstance(value, _aio.Results):
        return value
    if isinstance(value, list):
        return _aio.Results(value)
    return _aio.Results() if value is None else _aio.Results([value])


class DatastoreList(object):
    """A list stored in a :class:`DatastoreLegacy`: setting an element calls
    the change callback of the key the list is stored under."""

    def __init__(self, data, callback):
        self._change_callback = callback
        self.data = [encode(v, self.get_change_trigger(i)) for i, v in enumerate(data)]

    def trigger_changed(self, i):
        return self._change_callback(i)

    def get_change_trigger(self, i):
        return lambda _: self.trigger_changed(i)

    def __iter__(self):
        return (decode(v) for v in self.data)

    def __getitem__(self, i):
        return decode(self.data[i])

    def set(self, i, value):
        """Set element `i`; returns what the change callbacks returned."""
        encoded = encode(value, self.get_change_trigger(i))
        if self.data[i] == encoded:
            return _aio.Results()
        self.data[i] = encoded
        return _results(self.trigger_changed(i))

    def __setitem__(self, i, value):
        self.set(i, value)

    def __eq__(self, other):
        if not isinstance(other, DatastoreList):
            return False
        return len(self) == len(other) and all(a == b for a, b in zip(self.data, other.data))

    def __ne__(self, other):
        return not self == other

    __hash__ = None

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        return repr(self.to_native())

    def to_native(self):
        """A plain Python list."""
        return [v.to_native() if hasattr(v, 'to_native') else v for v in self]


class DatastoreDict(object):
    """A dict stored in a :class:`DatastoreLegacy` (and the store itself):
    setting or deleting a key calls the change callback with the key."""

    def __init__(self, data=None, change_callback=None):
        self._change_callback = change_callback if change_callback is not None \
            else (lambda key: None)
        self.data = {k: encode(v, self.get_change_trigger(k)) for k, v in (data or {}).items()}

    def trigger_changed(self, key):
        return self._change_callback(key)

    def get_change_trigger(self, key):
        return lambda _: self.trigger_changed(key)

    def __getitem__(self, key):
        if key not in self.data:
            raise MissingKey(key)
        return decode(self.data[key])

    def get(self, key, default=None):
        """The value at `key`, or `default`."""
        if key not in self.data:
            return default
        return decode(self.data[key])

    def get_encoded(self, key):
        if key not in self.data:
            raise MissingKey(key)
        return self.data[key]

    def set(self, key, value):
        """Set `key`; returns what the change callbacks returned (nothing when unchanged)."""
        encoded = encode(value, self.get_change_trigger(key))
        if key in self.data and self.data[key] == encoded:
            return _aio.Results()
        self.data[key] = encoded
        return _results(self.trigger_changed(key))

    def __setitem__(self, key, value):
        self.set(key, value)

    def __eq__(self, other):
        if not isinstance(other, DatastoreDict):
            return False
        return self.data.keys() == other.data.keys() and \
            all(self.data[k] == other.data[k] for k in self.data)

    def __ne__(self, other):
        return not self == other

    __hash__ = None

    def __len__(self):
        return len(self.data)

    def __iter__(self):
        return iter(list(self.data))

    def __contains__(self, key):
        return key in self.data

    def __delitem__(self, key):
        del self.data[key]
        self.trigger_changed(key)

    def __repr__(self):
        return repr(self.to_native())

    def keys(self):
        return self.data.keys()

    def values(self):
        return (self[k] for k in self)

    def items(self):
        return ((k, self[k]) for k in self)

    def update(self, new_data):
        """Set every key of `new_data`."""
        for k, v in new_data.items():
            self[k] = v
        return self

    def to_native(self):
        """A plain Python dict."""
        return {k: v.to_native() if hasattr(v, 'to_native') else v for k, v in self.items()}


class DatastoreLegacy(object):
    """databench 0.7's older key-value store, in this process's memory.

    :param domain: a namespace for the keys
    :param bool release_storage: drop the domain's data when the last
        DatastoreLegacy on it closes

    Change callbacks (``on_change``, or ``subscribe``) get ``(key, value)``;
    a list or dict value is a live wrapper (``store['d']['k'] = 1`` is a
    change of ``'d'``; ``to_native()`` gives the plain value).
    """

    #: domain -> its data (a DatastoreDict)
    store = collections.defaultdict(DatastoreDict)
    #: domain -> the open DatastoreLegacy instances on it
    datastores = collections.defaultdict(list)

    def __init__(self, domain, release_storage=False):
        self.domain = domain
        self.release_storage = release_storage
        self.change_callbacks = []
        DatastoreLegacy.store[domain]._change_callback = self.trigger_change_callbacks
        DatastoreLegacy.datastores[domain].append(self)

    def on_change(self, callback):
        """Register ``callback(key, value)`` for every change of the domain; returns self."""
        self.change_callbacks.append(callback)
        return self

    subscribe = on_change

    def trigger_change_callbacks(self, key):
        """Call every callback of the domain for `key`; returns their results."""
        value = DatastoreLegacy.store[self.domain].get(key, None)
        return _aio.Results([callback(key, value)
                             for datastore in list(DatastoreLegacy.datastores[self.domain])
                             for callback in list(datastore.change_callbacks)])

    def trigger_all_change_callbacks(self):
        """:meth:`trigger_change_callbacks` for every key."""
        return _aio.Results(r for key in list(DatastoreLegacy.store[self.domain].keys())
                            for r in self.trigger_change_callbacks(key))

    def set(self, key, value):
        """Set `key`; returns what the callbacks returned."""
        return DatastoreLegacy.store[self.domain].set(key, value)

    def __setitem__(self, key, value):
        self.set(key, value)

    def __getitem__(self, key):
        return DatastoreLegacy.store[self.domain][key]

    def get(self, key, default=None):
        return DatastoreLegacy.store[self.domain].get(key, default)

    def __delitem__(self, key):
        del DatastoreLegacy.store[self.domain][key]

    def __contains__(self, key):
        return key in DatastoreLegacy.store[self.domain]

    def keys(self):
        return DatastoreLegacy.store[self.domain].keys()

    def update(self, key_value_pairs):
        """Similar to :meth:`dict.update`."""
        DatastoreLegacy.store[self.domain].update(key_value_pairs)
        return self

    def init(self, key_value_pairs):
        """Set only the keys that are not set already."""
        data = DatastoreLegacy.store[self.domain]
        for k, v in key_value_pairs.items():
            if k not in data:
                data[k] = v
        return self

    def set_state(self, updater=None, **kwargs):
        """Update with a dict, a function ``store -> dict``, or keywords."""
        value = updater(self) if callable(updater) else dict(updater or {})
        value.update(kwargs)
        return self.update(value)

    def close(self):
        """Close this instance; with ``release_storage`` the last one drops the data."""
        instances = DatastoreLegacy.datastores[self.domain]
        if self in instances:
            instances.remove(self)
        if self.release_storage and not instances:
            DatastoreLegacy.store.pop(self.domain, None)
