"""Applying a JSON Patch (RFC 6902) to a decoded JSON value, for
``Datastore.patch``: the operations ``add``, ``remove``, ``replace``,
``move``, ``copy`` and ``test`` with JSON Pointer paths (RFC 6901). The page
applies the same operations with the fast-json-patch library; the standard
library has no JSON Patch, and the kernel installs nothing of its own."""

import copy


class PatchError(ValueError):
    """An operation that does not apply to the value."""


def _tokens(pointer):
    if pointer == '':
        return []
    if not isinstance(pointer, str) or not pointer.startswith('/'):
        raise PatchError('the path {!r} is not a JSON Pointer (it starts with "/")'.format(pointer))
    tokens = [t.replace('~1', '/').replace('~0', '~') for t in pointer[1:].split('/')]
    if '__proto__' in tokens:
        raise PatchError('the path {!r} names __proto__, which a page refuses'.format(pointer))
    return tokens


def _index(container, token, pointer, adding=False):
    if token == '-' and adding:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token[0] == '0'):
        raise PatchError('{!r}: "{}" is not a list index'.format(pointer, token))
    i = int(token)
    if i > len(container) or (i == len(container) and not adding):
        raise PatchError('{!r}: index {} is out of range'.format(pointer, i))
    return i


def _parent(doc, pointer):
    tokens = _tokens(pointer)
    if not tokens:
        return None, None
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, list):
            node = node[_index(node, token, pointer)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise PatchError('{!r}: there is no "{}"'.format(pointer, token))
    return node, tokens[-1]


def _get(doc, pointer):
    parent, last = _parent(doc, pointer)
    if parent is None and last is None:
        return doc
    if isinstance(parent, list):
        return parent[_index(parent, last, pointer)]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    raise PatchError('{!r}: there is no value there'.format(pointer))


def _add(doc, pointer, value):
    parent, last = _parent(doc, pointer)
    if parent is None and last is None:
        return value
    if isinstance(parent, list):
        parent.insert(_index(parent, last, pointer, adding=True), value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise PatchError('{!r}: its parent is neither a list nor an object'.format(pointer))
    return doc


def _remove(doc, pointer):
    parent, last = _parent(doc, pointer)
    if parent is None and last is None:
        raise PatchError('cannot remove the whole value')
    if isinstance(parent, list):
        del parent[_index(parent, last, pointer)]
    elif isinstance(parent, dict) and last in parent:
        del parent[last]
    else:
        raise PatchError('{!r}: there is no value to remove'.format(pointer))
    return doc


def apply_patch(doc, ops):
    """`doc` changed by `ops` (in place where it can; the result is returned)."""
    for n, op in enumerate(ops):
        if not isinstance(op, dict) or 'path' not in op:
            raise PatchError('operation {} is not an object with a "path"'.format(n))
        kind, path = op.get('op'), op['path']
        if kind in ('add', 'replace', 'test') and 'value' not in op:
            raise PatchError('operation {} ({}) has no "value"'.format(n, kind))
        if kind == 'add':
            doc = _add(doc, path, op['value'])
        elif kind == 'remove':
            doc = _remove(doc, path)
        elif kind == 'replace':
            _get(doc, path)
            parent, last = _parent(doc, path)
            if parent is None and last is None:
                doc = op['value']
            elif isinstance(parent, list):
                parent[_index(parent, last, path)] = op['value']
            else:
                parent[last] = op['value']
        elif kind in ('move', 'copy'):
            source = op.get('from')
            if not isinstance(source, str):
                raise PatchError('operation {} ({}) has no "from"'.format(n, kind))
            value = _get(doc, source)
            if kind == 'move':
                if path.startswith(source + '/'):
                    raise PatchError('cannot move {!r} into itself'.format(source))
                doc = _remove(doc, source)
            else:
                value = copy.deepcopy(value)
            doc = _add(doc, path, value)
        elif kind == 'test':
            if _get(doc, path) != op['value']:
                raise PatchError('test failed at {!r}'.format(path))
        else:
            raise PatchError('operation {} has an unknown op {!r}'.format(n, kind))
    return doc


def _escape(key):
    return str(key).replace('~', '~0').replace('/', '~1')


def _same(a, b):
    # JSON's true is not 1, nor 1.0 the same text as 1: Python's == says they are
    return type(a) is type(b) and a == b


def _generate(old, new, ops, path):
    """The operations from `old` to `new` (both a dict or both a list), in the
    order the page's fast-json-patch ``compare`` makes them: changed and
    removed keys from the last to the first (a list's removals from its end,
    so each index is still right), then added keys."""
    if isinstance(old, dict):
        old_keys = list(old.keys())
        has = new.__contains__
        new_keys = None
    else:
        old_keys = range(len(old))
        has = range(len(new)).__contains__
        new_keys = range(len(new))
    deleted = False
    for key in reversed(old_keys):
        old_value = old[key]
        where = path + '/' + _escape(key)
        if has(key):
            new_value = new[key]
            if (isinstance(old_value, (dict, list)) and isinstance(new_value, (dict, list))
                    and isinstance(old_value, dict) == isinstance(new_value, dict)):
                _generate(old_value, new_value, ops, where)
            elif not _same(old_value, new_value):
                ops.append({'op': 'replace', 'path': where, 'value': new_value})
        else:
            ops.append({'op': 'remove', 'path': where})
            deleted = True
    if new_keys is None:
        new_keys = new.keys()
    if not deleted and len(new_keys) == len(old_keys):
        return
    contains = old.__contains__ if isinstance(old, dict) else range(len(old)).__contains__
    for key in new_keys:
        if not contains(key):
            ops.append({'op': 'add', 'path': path + '/' + _escape(key), 'value': new[key]})


def diff(before, after):
    """The JSON Patch (RFC 6902) from `before` to `after`, two decoded JSON
    values that are both a dict or both a list: a list of ``replace``,
    ``remove`` and ``add`` operations (empty when they are equal)."""
    ops = []
    _generate(before, after, ops, '')
    return ops
