"""How values and frames become JSON, byte for byte as the server's
TypeScript side makes them (src/protocol/encode.ts, src/protocol/messages.ts):
no spaces, UTF-8 kept as it is, NaN and the infinities as the strings
"NaN", "Infinity", "-Infinity", sets and tuples as lists, numpy values as
their lists and numbers."""

import datetime
import json
import math

NO_MESSAGE = '__nomessagetoken__'
#: The largest encoded value a page can receive, in bytes (set by the kernel
#: process from the server's bound; None: no bound, as in AnalysisTest).
max_value_bytes = None
PROCESS_ID_KEY = '__process_id'
PROCESS_SIGNAL = '__process'


class EncodeError(ValueError):
    """A value that cannot be sent to a page (a cycle, a function, an unknown type)."""


def _default(o):
    if isinstance(o, (set, frozenset)):
        return list(o)
    if isinstance(o, (datetime.datetime, datetime.date)):
        return o.isoformat()
    tolist = getattr(o, 'tolist', None)
    if callable(tolist) and not isinstance(o, type):
        # numpy arrays and scalars
        return tolist()
    if hasattr(o, 'keys') and hasattr(o, '__getitem__'):
        return {k: o[k] for k in o.keys()}
    if callable(o):
        raise TypeError('a function cannot be sent to a page')
    raise TypeError('a {} cannot be sent to a page'.format(type(o).__name__))


_FAST = json.JSONEncoder(separators=(',', ':'), ensure_ascii=False,
                         allow_nan=False, default=_default)


def _finite(value, seen):
    """A copy of `value` with NaN and the infinities as strings."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return 'NaN' if math.isnan(value) else ('Infinity' if value > 0 else '-Infinity')
    if value is None or isinstance(value, (str, int, bool)):
        return value
    marker = id(value)
    if marker in seen:
        raise ValueError('Circular reference detected')
    seen.add(marker)
    try:
        if isinstance(value, dict):
            return {k: _finite(v, seen) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [_finite(v, seen) for v in value]
        return _finite(_default(value), seen)
    finally:
        seen.discard(marker)


#: Integers below this (in magnitude) take the short way (a huge one may not convert to text).
_SAFE_INT = 1 << 64


def encode_value(value, key=None, what=None, signal=None):
    """`value` as JSON text, as the page receives it.

    Raises :class:`EncodeError` naming `key` (or `what`, or the `signal`
    whose load it is) when it cannot be sent: a cycle, a function, an object
    JSON does not know.
    """
    kind = type(value)
    # the frequent scalars, as the encoder writes them, without its set-up
    if kind is int and -_SAFE_INT < value < _SAFE_INT:
        return int.__repr__(value)
    if kind is str and len(value) < 256:
        text = _string(value)
        if max_value_bytes is None or len(text) * 4 <= max_value_bytes:
            return text
    elif kind is float and math.isfinite(value):
        return float.__repr__(value)
    try:
        try:
            text = _FAST.encode(value)
        except ValueError as error:
            if 'ircular' in str(error):
                raise
            text = _FAST.encode(_finite(value, set()))
    except ValueError as error:
        if 'ircular' in str(error):
            raise EncodeError('cannot encode {}: it contains a cycle'.format(
                _where(key, what, signal))) from None
        raise EncodeError('cannot encode {} as JSON: {}'.format(
            _where(key, what, signal), error)) from None
    except (TypeError, RecursionError) as error:
        raise EncodeError('cannot encode {} as JSON: {}'.format(
            _where(key, what, signal), error)) from None
    limit = max_value_bytes
    # a character is 1 to 4 bytes: count the bytes only when it may matter
    if limit is not None and len(text) * 4 > limit:
        size = len(text.encode('utf-8', 'backslashreplace'))
        if size > limit:
            raise EncodeError('cannot send {}: it is {} bytes as JSON, more than the {} bytes a '
                              'page can receive; send it in smaller parts'.format(
                                  _where(key, what, signal), size, limit))
    return text


def _where(key, what, signal):
    """What a value is, for an error about it."""
    if what:
        return what
    if signal is not None:
        return 'the load of signal "{}"'.format(signal)
    return 'value' if key is None else 'value for key "{}"'.format(key)


def decode_value(encoded):
    return json.loads(encoded)


#: A string as JSON, UTF-8 kept (``json.dumps`` with an option builds an encoder a call).
_string = json.JSONEncoder(ensure_ascii=False).encode


def frame_from_encoded(signal, encoded_load=None):
    """A frame; with `encoded_load` None the frame has no `load` key."""
    head = '{"signal":' + _string(signal)
    return head + '}' if encoded_load is None else head + ',"load":' + encoded_load + '}'


def key_frame_from_encoded(signal, key, encoded_value):
    """A `data` / `class_data` frame for one key whose value is already encoded."""
    head = _KEY_FRAME_HEADS.get(signal)
    if head is None:
        head = '{"signal":' + json.dumps(signal) + ',"load":{'
    return head + _string(key) + ':' + encoded_value + '}}'


_KEY_FRAME_HEADS = {s: '{"signal":"' + s + '","load":{' for s in ('data', 'class_data', 'user_data')}


DELTA_SIGNAL = '__delta'


def delta_frame(signal, key, kind, encoded):
    """A `__delta` frame (as src/protocol/delta.ts makes it): `kind` 'append'
    with the new items encoded and joined by commas, or 'ops' with an encoded
    list of JSON Patch operations."""
    head = ('{"signal":"__delta","load":{"signal":"' + signal + '","key":' +
            _string(key))
    if kind == 'append':
        return head + ',"append":[' + encoded + ']}}'
    return head + ',"ops":' + encoded + '}}'
