"""Text that came from a page (or an analysis's output) made safe for one log
line, and a rate limit for such lines: the same rules as the server's
(src/protocol/log-text.ts, src/util/log-limit.ts)."""

import re
import time

#: The longest log line a page may cause, in characters, before it is cut.
MAX_LOG_TEXT = 1000

# C0 and C1 controls, DEL, line/paragraph separators and bidi controls: each
# could end a log line early or make one line look like another
_UNSAFE = re.compile('[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]')
_NAMED = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}


def _escape_char(match):
    c = match.group(0)
    named = _NAMED.get(c)
    if named is not None:
        return named
    code = ord(c)
    return '\\x{:02x}'.format(code) if code < 0x100 else '\\u{:04x}'.format(code)


def escape_log_text(text, max_chars=MAX_LOG_TEXT):
    """`text` as one log line: control characters and newlines escaped
    (``\\n``, ``\\x1b``, ``\\u2028``), cut after `max_chars` characters with a
    note of how many more there were. Cutting comes first, so a huge text
    costs no more than a short one."""
    cut = len(text) > max_chars
    kept = text[:max_chars] if cut else text
    escaped = _UNSAFE.sub(_escape_char, kept)
    return '{}… ({} more chars)'.format(escaped, len(text) - len(kept)) if cut else escaped


class LogRateLimit(object):
    """A token bucket for log lines: `burst` at once, then `per_second`.
    What it drops is counted, so the next line that passes can say how many
    were left out."""

    def __init__(self, burst=20, per_second=5):
        self.burst = burst
        self.per_second = per_second
        self.tokens = float(burst)
        self.last = time.monotonic()
        self.dropped = 0

    def take(self):
        """False when this line is dropped (and counted), else how many were
        dropped since the last line that passed."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.per_second)
        self.last = now
        if self.tokens < 1:
            self.dropped += 1
            return False
        self.tokens -= 1
        dropped = self.dropped
        self.dropped = 0
        return dropped
