"""Files a page uploads (``<input type="file" data-action="load_csv">``), as
an action's handler gets them, and how they cross the kernel's channel: the
server writes one JSON line naming the files and their sizes, then their raw
bytes, one file after the other (no JSON, no base64 of a file)."""

import io
import os


class UploadedFile(io.BytesIO):
    """A file the page uploaded: a file object over its bytes (``read()``,
    ``seek()``, iteration by lines: ``pandas.read_csv(file)`` takes it), with
    the file's ``name``, ``type`` (its MIME type as the browser guessed it,
    or ``''``) and ``size`` in bytes. ``text()`` decodes it whole.

    The handler of the upload's action gets it once every byte has arrived::

        def on_load_csv(self, file):
            rows = list(csv.DictReader(io.StringIO(file.text())))
    """

    def __init__(self, name, type_, data):
        super(UploadedFile, self).__init__(data)
        self.name = name
        self.type = type_
        self.size = len(data)

    def text(self, encoding='utf-8', errors='replace'):
        """The whole file decoded (``utf-8`` by default; invalid bytes become U+FFFD)."""
        return self.getvalue().decode(encoding, errors)

    def __repr__(self):
        return '<UploadedFile {!r} ({} bytes, {!r})>'.format(self.name, self.size, self.type)


class Positional(object):
    """The message of an upload's action: its handlers get ``args`` as
    positional arguments (the file, or the list of files), whatever the
    parameter is named; ``process_id`` gives the call ``__process`` frames
    when it is not None."""

    __slots__ = ('args', 'process_id')

    def __init__(self, args, process_id):
        self.args = args
        self.process_id = process_id


class PendingUpload(object):
    """The raw bytes that follow an ``upload`` line on the channel, read
    straight into one buffer of their announced size."""

    def __init__(self, message):
        self.message = message
        self.sizes = [int(f.get('size', 0)) for f in message.get('files') or []]
        self.total = sum(self.sizes)
        self.buffer = bytearray(self.total)
        self.view = memoryview(self.buffer)
        self.filled = 0

    @property
    def complete(self):
        return self.filled >= self.total

    def feed(self, data, pos):
        """Take what this upload still needs from ``data[pos:]``; returns the new position."""
        take = min(self.total - self.filled, len(data) - pos)
        if take > 0:
            self.view[self.filled:self.filled + take] = data[pos:pos + take]
            self.filled += take
        return pos + take

    def read_from(self, fd):
        """Read the next bytes from ``fd`` into the buffer (no copy); 0 at the end of the channel."""
        n = os.readv(fd, [self.view[self.filled:]])
        self.filled += n
        return n

    def files(self):
        """The upload's files; the buffer is released."""
        out = []
        start = 0
        for info, size in zip(self.message.get('files') or [], self.sizes):
            out.append(UploadedFile(info.get('name', ''), info.get('type', ''),
                                    bytes(self.view[start:start + size])))
            start += size
        self.view.release()
        self.view = None
        self.buffer = None
        return out


__all__ = ['UploadedFile']
