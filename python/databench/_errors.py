"""Where a handler failed, for the page's error panel (the ``__error``
frame, as the TypeScript side sends it: docs/reference/protocol.md): the
file:line[:column] of the innermost frame of the user's code, relative to
the analyses folder, and the lines around it."""

import linecache
import os
import traceback

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
#: How many lines the code frame shows before and after the failing line.
FRAME_CONTEXT = 2


def exception_line(error):
    """The last line of a traceback: ``ValueError: text``."""
    name = type(error).__name__
    text = str(error)
    return '{}: {}'.format(name, text) if text else name


def user_frames(tb):
    """A traceback without its leading frames in this package (the user's code is what matters)."""
    first = tb
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE):
        tb = tb.tb_next
    return tb if tb is not None else first


def _is_users(filename, root):
    path = os.path.abspath(filename)
    if not path.startswith(root):
        return False
    parts = path[len(root):].split(os.sep)
    return 'site-packages' not in parts and 'node_modules' not in parts and \
        'dist-packages' not in parts


def code_frame(filename, line, column=None):
    """The lines around `line` (1-based) of a file, numbered, the failing one
    marked with ``>`` and a caret under `column` (1-based), as the
    TypeScript side draws a load error's frame; None when it cannot be read."""
    lines = linecache.getlines(filename)
    if not lines or line < 1 or line > len(lines):
        return None
    first = max(1, line - FRAME_CONTEXT)
    last = min(len(lines), line + FRAME_CONTEXT)
    width = len(str(last))
    out = []
    for n in range(first, last + 1):
        text = lines[n - 1].rstrip('\r\n')
        out.append('{} {} | {}'.format('>' if n == line else ' ', str(n).rjust(width), text).rstrip())
        if n == line and column is not None and column >= 1:
            before = ''.join('\t' if c == '\t' else ' ' for c in text[:column - 1])
            out.append('  {} | {}^'.format(' ' * width, before))
    return '\n'.join(out)


def location(error, root):
    """``(location, frame)`` of the innermost frame of `error`'s traceback
    in the folder `root` (not in an installed package below it):
    ``'pi/analysis.py:12:9'`` (the column when Python knows it) and its code
    frame; ``(None, None)`` when no frame is there."""
    if not root:
        return None, None
    prefix = os.path.abspath(root).rstrip(os.sep) + os.sep
    mine = None
    for frame in traceback.extract_tb(error.__traceback__):
        if _is_users(frame.filename, prefix):
            mine = frame
    if mine is None or mine.lineno is None:
        return None, None
    rel = os.path.relpath(os.path.abspath(mine.filename), prefix).replace(os.sep, '/')
    colno = getattr(mine, 'colno', None)  # Python 3.11 and newer: a byte offset
    column = None
    if colno is not None:
        text = linecache.getline(mine.filename, mine.lineno)
        column = len(text.encode('utf-8')[:colno].decode('utf-8', 'replace')) + 1
    where = '{}:{}'.format(rel, mine.lineno) + (':{}'.format(column) if column else '')
    return where, code_frame(mine.filename, mine.lineno, column)
