"""databench 0.7's README reader: the text and HTML of a folder's
``README.md`` or ``README.rst``. (The server renders the README of each
analysis on its own; this is for Python code that wants it too.)"""

import fnmatch
import html
import io
import os
import re

_UNSET = object()
#: markdown's and docutils' renderers, imported when a README needs one (None: not installed)
_markdown = _UNSET
_publish_parts = _UNSET


def _renderers():
    global _markdown, _publish_parts
    if _markdown is _UNSET:
        try:
            from markdown import markdown as _markdown
        except ImportError:
            _markdown = None
    if _publish_parts is _UNSET:
        try:
            from docutils.core import publish_parts as _publish_parts
        except ImportError:
            _publish_parts = None
    return _markdown, _publish_parts

_COMMENT = re.compile(r'<!--.*?-->', re.DOTALL)
_CODE = re.compile(r'`([^`\n]+)`')


def _paragraphs(text, inline_code):
    """Plain paragraphs (what is shown when markdown or docutils is not installed)."""
    out = []
    for block in re.split(r'\n\s*\n', text.strip()):
        if not block.strip():
            continue
        escaped = html.escape(block.strip(), quote=False)
        if inline_code:
            escaped = _CODE.sub(r'<code>\1</code>', escaped)
        out.append('<p>{}</p>'.format(escaped))
    return '\n'.join(out)


class Readme(object):
    """The README of `directory`: ``text`` and ``html``.

    Markdown (``README.md``) is rendered with the ``markdown`` package and
    reStructuredText (``README.rst``) with ``docutils`` when they are
    installed, else as plain paragraphs. A folder without a README (or one
    that does not exist) gives empty strings. Read when first asked for.

    :param str directory: the folder
    :param bool watch: kept for databench 0.7 compatibility (the server
        watches analysis folders itself)
    """

    def __init__(self, directory, watch=True):
        self.directory = directory
        self.watch = watch
        self._text = None
        self._html = None

    def _file(self):
        try:
            names = os.listdir(self.directory)
        except OSError:
            return None
        found = [n for n in names if fnmatch.fnmatch(n.lower(), 'readme.*')]
        rank = {'.md': 0, '.rst': 1}
        found.sort(key=lambda n: (rank.get(os.path.splitext(n)[1].lower(), 2), n))
        return os.path.join(self.directory, found[0]) if found else None

    def _read(self, encoding='utf8', encoding_errors='ignore'):
        self._text = ''
        self._html = ''
        path = self._file()
        if path is None:
            return
        with io.open(path, 'r', encoding=encoding, errors=encoding_errors) as f:
            self._text = f.read()
        lower = path.lower()
        markdown, publish_parts = _renderers()
        if lower.endswith('.md'):
            self._html = markdown(self._text) if markdown is not None \
                else _paragraphs(_COMMENT.sub('', self._text), True)
            # the first HTML comment (a title or a note for the index) is not text
            self._text = _COMMENT.sub('', self._text, count=1)
        elif lower.endswith('.rst'):
            self._html = publish_parts(self._text, writer_name='html')['html_body'] \
                if publish_parts is not None else _paragraphs(self._text, False)
        else:
            self._html = _paragraphs(self._text, False)

    @property
    def text(self):
        """The README's text ('' when there is none)."""
        if self._text is None:
            self._read()
        return self._text

    @property
    def html(self):
        """The README as HTML ('' when there is none)."""
        if self._html is None:
            self._read()
        return self._html
