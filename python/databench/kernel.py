"""The kernel process of a ``kernel: py`` analysis: loads ``analysis.py``
and runs the sessions the server opens, one asyncio loop for all of them.

The server talks to it over a channel of its own (fd 3: server → kernel,
fd 4: kernel → server), one JSON message per line, the messages of
src/kernel/messages.ts. A batch to the server is a JSON line with the byte
count ``n`` of what follows it: the UTF-8 of its frames and written values,
which its ops point into (``at: [start, end]``), so the server reads a large
value without parsing it; a frame for many pages (a change of a class_data
key) is one op with their session numbers, ``sids``, and a stream of frames
to one page (of one key, or emits) one op with their places, two numbers
each in ``at``. stdout and stderr (``print()``, warnings) go to the
server's log. Run as ``python3 -m databench.kernel CONFIG_JSON``.
"""

import asyncio
import collections
import importlib
import importlib.util
import inspect
import json
import keyword
import logging
import os
import sys
import time
import traceback
import urllib.parse

from . import _aio, _coverage, _routes, _runtime, _wire
from ._wire import (NO_MESSAGE, PROCESS_ID_KEY, PROCESS_SIGNAL, delta_frame, encode_value,
                    frame_from_encoded, key_frame_from_encoded)
from ._wire import _string
from ._errors import exception_line as _exception_line
from ._logtext import escape_log_text
from .analysis import Analysis, User, ValueTooLarge
from .datastore import set_default_backend
from .meta import Meta, _run_lifecycle
from .upload import PendingUpload, Positional

IN_FD = 3
OUT_FD = 4
#: How long a writer may run before its frames go out (and an awaiting writer yields).
SLICE_S = 0.002
#: How long a closing session waits for its running handler, and for `disconnected`.
CLOSE_GRACE_S = 1.0

log = logging.getLogger('databench.kernel')


def _send_line(data):
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(OUT_FD, view):]
    except (BrokenPipeError, ConnectionResetError):
        # the server has gone
        os._exit(0)


#: The channel's lines (one encoder for all: ``json.dumps`` with options builds one a call).
_LINE = json.JSONEncoder(ensure_ascii=False, separators=(',', ':'))
_READ = json.JSONDecoder()


def send(message, blob=None):
    """One message; a batch's `blob` (a list of bytes) follows its line."""
    line = _LINE.encode(message) + '\n'
    data = line.encode('utf-8', 'backslashreplace')
    _send_line(b''.join([data] + blob) if blob else data)


#: A batch is sent at once when its frames and values hold this many characters.
BATCH_CHARS = 1 << 20


class KernelLoop(asyncio.SelectorEventLoop):
    """The kernel's event loop: at the end of each turn (one pass over the
    callbacks that were ready) it calls the functions of `end_of_turn`, so
    that what the turn produced goes to the server in that turn, not one
    more turn (an ``epoll`` call and a pass of the loop) later.

    The turn is asyncio's private ``_run_once``: `hooked` says whether this
    Python's loop calls it (an Outbox checks once, else it sends from a
    callback of the next turn instead)."""

    #: Called after every turn, in order (an Outbox adds its own).
    end_of_turn = ()
    #: Whether a turn has run through this class's ``_run_once``.
    hooked = False

    def _run_once(self):
        self.hooked = True
        super(KernelLoop, self)._run_once()
        for end in self.end_of_turn:
            try:
                end()
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as error:
                # as a failing callback is (the analysis closed the channel):
                # reported, and the loop goes on
                self.call_exception_handler({
                    'message': 'sending a batch to the server failed',
                    'exception': error,
                })


#: Whether this Python's loop has the turn that KernelLoop extends (CPython 3.4 on).
_TURN_HOOK = hasattr(asyncio.SelectorEventLoop, '_run_once')


def new_loop():
    """The kernel's loop: a :class:`KernelLoop` where the turn can be extended."""
    return KernelLoop() if _TURN_HOOK else asyncio.new_event_loop()


class Outbox(object):
    """Everything one turn of the loop produces goes to the server as one
    batch. A writer that runs longer than a slice has its batch sent at once
    (a plain function that loops streams its updates too), and what it
    awaits then gives the loop a turn."""

    def __init__(self, loop):
        self.loop = loop
        #: the loop sends the batch at the end of the turn; else a callback of the next turn does
        self.at_end_of_turn = isinstance(loop, KernelLoop)
        if self.at_end_of_turn:
            loop.end_of_turn = loop.end_of_turn + (self._end_of_turn,)
        #: whether the loop was seen to call the end of its turn (checked once)
        self.hook_checked = not self.at_end_of_turn
        self.ops = []
        self.writes = {}
        self.scheduled = False
        self.slice_start = 0.0
        #: characters of the frames and values in `ops`
        self.chars = 0

    def op(self, op):
        self.ops.append(op)
        return self._schedule()

    def _schedule(self):
        if not self.scheduled:
            self.scheduled = True
            self.slice_start = time.perf_counter()
            if not self.at_end_of_turn:
                self.loop.call_soon(self._turn)
            elif not self.hook_checked:
                # the first batch: a callback of the next turn sees whether the hook ran
                self.loop.call_soon(self._check_hook)
            return _aio.DONE
        now = time.perf_counter()
        if now - self.slice_start > SLICE_S:
            self.flush()
            self.slice_start = now
            return _aio.PAUSE
        return _aio.DONE

    def _turn(self):
        self.scheduled = False
        self.flush()

    def _check_hook(self):
        self.hook_checked = True
        if self.loop.hooked:
            return
        # this Python's loop no longer turns through KernelLoop._run_once: a
        # batch would wait forever; from now on a callback sends it
        log.warning('the event loop does not call KernelLoop._run_once: '
                    'batches go out a turn later')
        self.at_end_of_turn = False
        self.loop.end_of_turn = tuple(
            end for end in self.loop.end_of_turn if end != self._end_of_turn)
        if self.scheduled:
            self._turn()

    def _end_of_turn(self):
        if self.scheduled:
            self.scheduled = False
            self.flush()

    def write(self, wid, domain, key, encoded, seq):
        """Queue a datastore write; writes of one key within a batch coalesce."""
        queued = self.writes.get(wid)
        if queued is not None:
            queued['encoded'] = encoded
            queued['seq'] = seq
            self._schedule()
            return
        op = {'t': 'write', 'domain': domain, 'key': key, 'encoded': encoded, 'seq': seq}
        self.writes[wid] = op
        if encoded is not None:
            self.chars += len(encoded)
        self.op(op)

    def barrier(self, op):
        """Attach and detach end a run of coalescing writes."""
        self.writes.clear()
        self.op(op)

    def frame(self, sid, text, coalesce, parts=None, domain=None):
        """A frame: its `text`, or `parts` (head, encoded value, tail) whose
        value a write of the same batch shares (sent once). `domain`: the
        frame is a delta of a key of that domain (the host sends the key's
        whole value instead when the page is slow)."""
        if self.ops:
            last = self.ops[-1]
            if last['t'] == 'frame' and last['coalesce'] == coalesce \
                    and last.get('domain') == domain:
                if coalesce is not None and 'more' not in last and _same_frame(last, text, parts):
                    # one change to many pages (a class_data key): one frame, its pages listed
                    sids = last.get('sids')
                    if sids is None:
                        last['sids'] = [last.pop('sid'), sid]
                    else:
                        sids.append(sid)
                    return self._schedule()
                if last.get('sid') == sid:
                    # a stream of frames to one page: one op, the places of its frames listed
                    more = last.get('more')
                    if more is None:
                        more = last['more'] = []
                    if parts is None:
                        more.append(text)
                        self.chars += len(text)
                    else:
                        more.append(parts)
                        self.chars += len(parts[0]) + len(parts[1]) + len(parts[2])
                    if self.chars > BATCH_CHARS:
                        self.flush()
                    return self._schedule()
        op = {'t': 'frame', 'sid': sid, 'coalesce': coalesce}
        if domain is not None:
            op['domain'] = domain
        if parts is None:
            op['text'] = text
            self.chars += len(text)
        else:
            op['parts'] = parts
            self.chars += len(parts[0]) + len(parts[1]) + len(parts[2])
        if self.chars > BATCH_CHARS:
            # a large value goes out on its own, not held behind a slice's others
            self.ops.append(op)
            self.flush()
            return self._schedule()
        return self.op(op)

    def flush(self):
        if not self.ops:
            return
        ops = self.ops
        self.ops = []
        self.writes.clear()
        self.chars = 0
        # frames and written values go after the line as bytes the ops point
        # into; a value written and sent in a frame of the same batch, once.
        # The texts are joined and encoded at once, and where each starts is
        # counted in characters: the byte offsets when all are ASCII
        pieces = _Pieces()
        for op in ops:
            if op['t'] == 'frame':
                parts = op.pop('parts', None)
                op['at'] = pieces.add(op.pop('text')) if parts is None else pieces.add_parts(parts)
                more = op.pop('more', None)
                if more is not None:
                    op['more_at'] = [pieces.add(item) if type(item) is str else pieces.add_parts(item)
                                     for item in more]
        for op in ops:
            if op['t'] == 'write' and op['encoded'] is not None:
                op['at'] = pieces.value(op.pop('encoded'))
        blob = pieces.encoded()
        line = '{"t":"batch","n":%d,"ops":[%s]}\n' % (
            len(blob), ','.join([_op_text(op) for op in ops]))
        _send_line(line.encode('utf-8', 'backslashreplace') + blob)


class _Pieces(object):
    """The texts of a batch's frames and values, and where each is in the
    batch's bytes: counted in characters while they are added, made byte
    offsets by :meth:`encoded` when some text is not ASCII."""

    __slots__ = ('texts', 'size', 'ats', 'placed')

    def __init__(self):
        self.texts = []
        self.size = 0
        #: each [start, end] given out, with the index of its first and last text
        self.ats = []
        #: id of a frame's encoded value -> its [start, end]
        self.placed = {}

    def add(self, text):
        start = self.size
        self.size += len(text)
        self.texts.append(text)
        at = [start, self.size]
        self.ats.append((at, len(self.texts) - 1, len(self.texts)))
        return at

    def add_parts(self, parts):
        """A frame of (head, encoded value, tail): the value's place is kept for its write."""
        head, value, tail = parts
        texts = self.texts
        first = len(texts)
        texts.append(head)
        texts.append(value)
        texts.append(tail)
        start = self.size
        value_start = start + len(head)
        value_at = [value_start, value_start + len(value)]
        self.placed[id(value)] = value_at
        self.size = value_at[1] + len(tail)
        at = [start, self.size]
        self.ats.append((value_at, first + 1, first + 2))
        self.ats.append((at, first, first + 3))
        return at

    def value(self, encoded):
        """A written value: where its frame of this batch has it, else its own bytes."""
        at = self.placed.get(id(encoded))
        return at if at is not None else self.add(encoded)

    def encoded(self):
        text = ''.join(self.texts)
        data = text.encode('utf-8', 'backslashreplace')
        if len(data) == len(text):
            return data
        # some text is not ASCII: the places in bytes, from each text's length in bytes
        ends = []
        size = 0
        for piece in self.texts:
            size += len(piece.encode('utf-8', 'backslashreplace'))
            ends.append(size)
        for at, first, last in self.ats:
            at[0] = ends[first - 1] if first > 0 else 0
            at[1] = ends[last - 1]
        return data


def _frame_text(op, sid):
    """A frame op as JSON: for the page `sid` or the pages `sids`; `at` the
    places of its frames, two numbers each (a stream to one page lists many)."""
    coalesce = op['coalesce']
    at = op['at']
    more = op.get('more_at')
    places = '%d,%d' % (at[0], at[1]) if more is None else ','.join(
        ['%d,%d' % (at[0], at[1])] + ['%d,%d' % (a[0], a[1]) for a in more])
    who = ('"sid":%d' % sid) if sid is not None else (
        '"sids":[%s]' % ','.join(['%d' % s for s in op['sids']]))
    domain = op.get('domain')
    return '{"t":"frame",%s,"coalesce":%s,"at":[%s]%s}' % (
        who, 'null' if coalesce is None else _string(coalesce), places,
        '' if domain is None else ',"domain":' + _string(domain))


def _same_frame(op, text, parts):
    """Whether frame `op` (queued) is the frame of `text` or `parts`: the
    same encoded value (the one object a change hands every page) and head."""
    if parts is None:
        return text is not None and op.get('text') == text
    queued = op.get('parts')
    return queued is not None and queued[1] is parts[1] and queued[0] == parts[0] \
        and queued[2] == parts[2]


def _op_text(op):
    """One op of a batch as JSON: the frequent ones (a frame, a done) formatted
    directly, the others by the encoder (which costs microseconds an op)."""
    t = op['t']
    sid = op.get('sid')
    if t == 'frame':
        return _frame_text(op, sid)
    if type(sid) is int:
        if t == 'done' and len(op) == 2:
            return '{"t":"done","sid":%d}' % sid
    elif t == 'write' and len(op) == 5 and type(op['seq']) is int:
        at = op.get('at')
        if at is not None:
            return '{"t":"write","domain":%s,"key":%s,"seq":%d,"at":[%d,%d]}' % (
                _string(op['domain']), _string(op['key']), op['seq'], at[0], at[1])
    return _LINE.encode(op)


class KernelBackend(object):
    """The Datastore backend of the kernel: the server's, through the channel.
    Datastores keep their local mirror; writes go to the server numbered;
    changes made elsewhere come back as `change` messages."""

    name = 'kernel'

    def __init__(self, outbox, loop):
        self.outbox = outbox
        self.loop = loop
        self.listeners = {}
        self.waiting = {}
        # domain\0key -> seq of our newest write the server may not have applied yet
        self.inflight = {}
        self.seq = 0

    def attach(self, domain, on_remote_change):
        self.listeners[domain] = on_remote_change
        future = self.loop.create_future()
        self.waiting.setdefault(domain, []).append(future)
        self.outbox.barrier({'t': 'attach', 'domain': domain})
        self.outbox.flush()
        return future

    def write(self, domain, key, encoded):
        self.seq += 1
        wid = domain + '\0' + key
        self.inflight[wid] = self.seq
        self.outbox.write(wid, domain, key, encoded, self.seq)

    def detach(self, domain, release, release_after_ms):
        self.listeners.pop(domain, None)
        prefix = domain + '\0'
        for wid in [w for w in self.inflight if w.startswith(prefix)]:
            del self.inflight[wid]
        self.outbox.barrier({'t': 'detach', 'domain': domain, 'release': bool(release),
                             'releaseAfterMs': release_after_ms})

    def attached(self, message):
        waiting = self.waiting.get(message['domain'])
        if not waiting:
            return
        future = waiting.pop(0)
        if not waiting:
            del self.waiting[message['domain']]
        if not future.done():
            future.set_result({k: v for k, v in message['entries']})

    def change(self, message):
        wid = message['domain'] + '\0' + message['key']
        mine = self.inflight.get(wid)
        if mine is not None:
            # our newer write is on its way: it wins at the server and reaches everyone
            if mine > message['applied']:
                return
            del self.inflight[wid]
        listener = self.listeners.get(message['domain'])
        if listener is not None:
            listener(message['key'], message['encoded'])


class Port(object):
    """One page as an analysis sees it: emits and changes become frames."""

    __slots__ = ('sid', 'outbox', 'deltas')

    def __init__(self, sid, outbox, deltas=False):
        self.sid = sid
        self.outbox = outbox
        # the page applies `__delta` frames (it announced them in `__connect`)
        self.deltas = deltas

    def emit(self, signal, message):
        if message is NO_MESSAGE:
            text = frame_from_encoded(signal)
        else:
            text = frame_from_encoded(signal, encode_value(message, signal=signal))
        return self.outbox.frame(self.sid, text, None)

    def change(self, signal, key, encoded, delta=None):
        if delta is not None and self.deltas and type(delta) is not tuple:
            # a set's diff, computed when a page that takes deltas first asks
            delta = delta.get()
        if delta is not None and self.deltas:
            kind, encoded_delta, domain = delta
            return self.outbox.frame(self.sid, delta_frame(signal, key, kind, encoded_delta),
                                     signal + '\0' + key, domain=domain)
        if encoded is None:
            text = key_frame_from_encoded(signal, key, 'null')
            return self.outbox.frame(self.sid, text, signal + '\0' + key)
        # the value's text is the one its write carries: the batch sends it once
        known = _HEADS.get((signal, key))
        if known is None:
            if len(_HEADS) >= MAX_HEADS:
                _HEADS.clear()
            known = _HEADS[(signal, key)] = (key_frame_from_encoded(signal, key, '')[:-2],
                                             signal + '\0' + key)
        return self.outbox.frame(self.sid, None, known[1], (known[0], encoded, '}}'))


#: (signal, key) -> the head of its frames and its coalescing key (a key is
#: written many times: made once); cleared when it holds MAX_HEADS.
_HEADS = {}
MAX_HEADS = 4096


class Session(object):
    """One page's analysis instance, its queue of actions, and a lane beside
    the queue per `latest` action (the page asked for it: a slider), as
    src/kernel/analysis-session.ts runs them."""

    def __init__(self, kernel, message):
        self.kernel = kernel
        self.sid = message['sid']
        self.port = Port(self.sid, kernel.outbox, bool(message.get('deltas')))
        self.analysis = None
        #: the calls waiting: a deque while there are any, () when none (an idle page holds none)
        self.queue = ()
        self.pump = None
        self.closing = False
        #: the calls running now (the queue's, the lanes'): what a cancel finds
        self.running = []
        #: per latest action: {'waiting': (fn, call) or None, 'task': its task}
        self.lanes = {}
        #: True once connect, args and connected ran (or the start failed)
        self.started = False
        #: futures of the lanes that wait for the start (made when one waits)
        self.start_waiters = None
        self.enqueue(lambda: self.start(message), None)

    def enqueue(self, fn, call):
        if not self.queue:
            self.queue = collections.deque()
        self.queue.append((fn, call))
        if self.pump is None:
            self.pump = self.kernel.loop.create_task(self._pump())

    async def _pump(self):
        while self.queue:
            fn, call = self.queue.popleft()
            await self._run(fn, call)
        self.queue = ()
        self.pump = None

    async def _run(self, fn, call):
        if call is not None:
            self.running.append(call)
        try:
            if call is None or (self.analysis is not None and not self.closing):
                await fn()
        except Exception as error:
            self.failed(call['action'] if call is not None else 'start', error)
        finally:
            if call is not None:
                self.running.remove(call)
                self.kernel.outbox.op({'t': 'done', 'sid': self.sid})

    async def _lane(self, name, lane):
        """The calls of one latest action, beside the queue, one at a time."""
        if not self.started:
            waiter = self.kernel.loop.create_future()
            if self.start_waiters is None:
                self.start_waiters = []
            self.start_waiters.append(waiter)
            await waiter
        # a burst of calls (a dragged slider) arrives within one turn: only its last one runs
        await asyncio.sleep(0)
        while lane['waiting'] is not None:
            fn, call = lane['waiting']
            lane['waiting'] = None
            await self._run(fn, call)
        del self.lanes[name]

    async def start(self, message):
        try:
            await self._start(message)
        finally:
            self.started = True
            waiters = self.start_waiters
            self.start_waiters = None
            for waiter in waiters or ():
                if not waiter.done():
                    waiter.set_result(None)

    async def _start(self, message):
        kernel = self.kernel
        try:
            analysis = kernel.cls()
            # before the stores and on_connect, as in TypeScript
            analysis.user = User.from_wire(message.get('user'))
            analysis.init_databench(message['id'], message.get('classDomain'),
                                    message.get('dataDomain'), message.get('userDomain'))
            analysis.resumed = bool(message.get('resumed'))
            analysis._sink = self.port
            analysis._error_reporting = (message.get('errorDetails') is not False, kernel.root)
            # a served page: its error panel hears of actions no handler has
            analysis.__dict__['_served'] = True
            await analysis.data.ready
            await analysis.class_data.ready
            # a user's store may hold what their other pages wrote, a resumed
            # session's what it left: opened now, for the snapshot; else on first use
            if analysis.user is not None or analysis.resumed:
                store = analysis._user_store()
                if store is not None:
                    await store.ready
        except Exception as error:
            text = 'could not start analysis "{}": {}'.format(kernel.name, _exception_line(error))
            log.error('%s', text, exc_info=(type(error), error, error.__traceback__))
            kernel.outbox.op({'t': 'fail', 'sid': self.sid, 'message': text, 'code': 1011,
                              'reason': 'analysis failed to start'})
            return
        if self.closing:
            analysis._dispose()
            return
        # the snapshots before the reply: a value the page cannot receive fails the connect
        limit = message.get('maxValueBytes')
        try:
            data = analysis._snapshot('data', limit) if message.get('resumed') else None
            class_data = analysis._snapshot('class_data', limit)
            user_data = analysis._snapshot('user_data', limit)
        except ValueTooLarge as error:
            text = ('could not connect to analysis "{}": its {} key "{}" holds {} bytes or more, '
                    'more than a page can receive ({}, the server\'s sendBufferHardBytes); '
                    'store less under one key').format(
                        kernel.name, error.signal, error.key, error.size, limit)
            log.error('%s', text)
            analysis._dispose()
            kernel.outbox.op({'t': 'fail', 'sid': self.sid, 'message': text, 'code': 1011,
                              'reason': 'a value too large for the page'})
            return
        self.analysis = analysis
        kernel.outbox.op({'t': 'opened', 'sid': self.sid})
        if data is not None:
            kernel.outbox.frame(self.sid, data, None)
        if class_data is not None:
            kernel.outbox.frame(self.sid, class_data, None)
        if user_data is not None:
            kernel.outbox.frame(self.sid, user_data, None)
        query = message.get('requestArgs') or ''
        await _run_lifecycle(
            Meta.run_process, analysis, list(message.get('cliArgs') or []),
            urllib.parse.parse_qs(query[1:] if query.startswith('?') else query))

    def action(self, name, message, asked=None):
        has_process = isinstance(message, dict) and PROCESS_ID_KEY in message
        call = {'action': name, 'has_process': has_process,
                'id': message[PROCESS_ID_KEY] if has_process else None,
                'cancelled': False, 'concurrency': asked}

        def fn():
            return Meta.run_process(self.analysis, name, message, call=call)

        if asked != 'latest':
            self.enqueue(fn, call)
            return
        # a newer value replaces the older ones: drop what waits, stop what runs
        self.cancel({'kind': 'action', 'action': name})
        lane = self.lanes.get(name)
        if lane is None:
            lane = self.lanes[name] = {'waiting': None, 'task': None}
            lane['task'] = self.kernel.loop.create_task(self._lane(name, lane))
        lane['waiting'] = (fn, call)

    def upload(self, message, files):
        """A page's upload has arrived: its action runs (queued like any
        other) with the file, or the list of files, as its one argument."""
        name = message['action']
        process_id = message.get('processId')
        call = {'action': name, 'has_process': process_id is not None, 'id': process_id,
                'cancelled': False, 'concurrency': None}
        load = Positional([files if message.get('multiple') else files[0]], process_id)
        self.enqueue(lambda: Meta.run_process(self.analysis, name, load, call=call), call)

    def cancel(self, target):
        """The page's `__cancel`: a queued call it names is dropped (it never
        runs; its end frame says ``cancelled: true``); the running call it
        names sees ``self.action_cancelled`` become true (cooperative, as in
        TypeScript) and its end frame says so too."""

        def hit(call):
            # a target's id is never None: a call without a process id is never hit by one
            if target.get('kind') == 'process':
                return target.get('id') == call.get('id')
            return target.get('kind') == 'action' and target.get('action') == call.get('action')

        kept = collections.deque()
        for fn, call in self.queue:
            if call is not None and hit(call):
                self.drop(call)
            else:
                kept.append((fn, call))
        self.queue = kept if kept else ()
        for lane in self.lanes.values():
            if lane['waiting'] is not None and hit(lane['waiting'][1]):
                self.drop(lane['waiting'][1])
                lane['waiting'] = None
        for call in self.running:
            if hit(call):
                call['cancelled'] = True

    def drop(self, call):
        """A queued call will not run: its button gets its end frame now."""
        if call['has_process'] and self.analysis is not None:
            self.analysis._send(PROCESS_SIGNAL, {'id': call['id'], 'status': 'end',
                                                 'cancelled': True})
        self.kernel.outbox.op({'t': 'done', 'sid': self.sid})

    def failed(self, action, error):
        """An action failed outside its handlers (a `__process` frame that cannot be encoded)."""
        text = 'action "{}" failed: {}'.format(action, _exception_line(error))
        log.error('%s', text, exc_info=(type(error), error, error.__traceback__))
        try:
            self.kernel.outbox.frame(self.sid, frame_from_encoded('error', encode_value(text)), None)
        except Exception:  # pragma: no cover
            pass

    async def close(self):
        self.closing = True
        if self.analysis is not None:
            # a generator handler still running stops at its next yield
            _aio.stop_generators(self.analysis)
        # the handlers that run now get a grace period; waiting calls are skipped
        tasks = {lane['task'] for lane in self.lanes.values()}
        if self.pump is not None:
            tasks.add(self.pump)
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_GRACE_S)
            if not all(task.done() for task in tasks):
                log.warning('a handler of a closed session still runs after %s s: '
                            'running disconnected anyway', CLOSE_GRACE_S)
        analysis = self.analysis
        if analysis is None:
            return
        try:
            await asyncio.wait_for(Meta.run_process(analysis, 'disconnected'), CLOSE_GRACE_S)
        except asyncio.TimeoutError:
            log.warning('disconnected did not finish within %s s: releasing the session',
                        CLOSE_GRACE_S)
        finally:
            analysis._dispose()


class LoadError(Exception):
    pass


def _where(error, root):
    """``file:line: Type: text`` of the innermost frame in the analyses folder."""
    frames = traceback.extract_tb(error.__traceback__)
    mine = [f for f in frames if os.path.abspath(f.filename).startswith(root + os.sep)]
    frame = (mine or frames or [None])[-1]
    if frame is None:
        return _exception_line(error)
    line = '{}:{}: {}'.format(frame.filename, frame.lineno, _exception_line(error))
    return line + ('\n    ' + frame.line if frame.line else '')


def _interpreter_note():
    return ('it was imported by {} (Python {}); to use another interpreter (one that has '
            'the package), name it with python: in index.yaml or DATABENCH_PYTHON, or start '
            'databench in an activated virtualenv'.format(
                sys.executable, sys.version.split()[0]))


def _analyses_package(root):
    """The name the analyses folder imports as (``analyses``: its parent on
    sys.path, as in databench 0.7), or None when it cannot (not an
    identifier, or another module of that name comes first)."""
    name = os.path.basename(root)
    if not name.isidentifier() or keyword.iskeyword(name):
        return None
    parent = os.path.dirname(root)
    if parent not in sys.path:
        # last: the folder's name never hides a module of the standard library
        sys.path.append(parent)
        # and for the Python processes the analysis starts (an rq worker
        # imports the analysis's functions by their module name)
        paths = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
        if parent not in paths:
            os.environ['PYTHONPATH'] = os.pathsep.join(paths + [parent])
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    locations = getattr(spec, 'submodule_search_locations', None) if spec else None
    if not locations or root not in [os.path.abspath(p) for p in locations]:
        return None
    return name


def load_analysis(file, root=None):
    """Import analysis.py and find its databench.Analysis subclass.

    Its folder is first on sys.path (modules beside it import) and the
    analyses folder `root` is a package (``from analyses.other.analysis
    import x``, relative imports), as in databench 0.7: analysis.py is the
    module ``<root name>.<analysis name>.analysis`` (also ``analysis``).
    """
    folder = os.path.dirname(os.path.abspath(file))
    root = os.path.abspath(root) if root else os.path.dirname(folder)
    sys.path.insert(0, folder)
    try:
        package = _analyses_package(root)
        name = os.path.basename(folder)
        modname = 'analysis'
        if package is not None and os.path.dirname(folder) == root and name.isidentifier() \
                and not keyword.iskeyword(name):
            importlib.import_module('{}.{}'.format(package, name))
            modname = '{}.{}.analysis'.format(package, name)
        spec = importlib.util.spec_from_file_location(modname, file)
        if spec is None or spec.loader is None:
            raise LoadError('{}: cannot be imported'.format(file))
        module = importlib.util.module_from_spec(spec)
        sys.modules[modname] = module
        sys.modules['analysis'] = module
        spec.loader.exec_module(module)
        if modname != 'analysis':
            # as an import of it would: `import analyses.x.analysis` finds it on its package
            setattr(sys.modules[modname.rpartition('.')[0]], 'analysis', module)
    except SyntaxError as error:
        text = '{}:{}: {}: {}'.format(error.filename, error.lineno, type(error).__name__, error.msg)
        if error.text:
            text += '\n    ' + error.text.strip()
        raise LoadError(text) from error
    except LoadError:
        raise
    except Exception as error:
        text = _where(error, root)
        if isinstance(error, ModuleNotFoundError):
            text += '\n' + _interpreter_note()
        raise LoadError(text) from error
    classes = [c for c in vars(module).values()
               if inspect.isclass(c) and issubclass(c, Analysis) and c is not Analysis
               and not c.__dict__.get('_databench_internal', False)]
    own = [c for c in classes if c.__module__ == module.__name__] or classes
    leaves = [c for c in own if not any(o is not c and issubclass(o, c) for o in own)]
    if len(leaves) == 1:
        return leaves[0]
    if not leaves:
        raise LoadError('{} defines no databench.Analysis subclass; define one: '
                        'class MyAnalysis(databench.Analysis)'.format(file))
    raise LoadError('{} defines several databench.Analysis subclasses ({}); keep one'.format(
        file, ', '.join(c.__name__ for c in leaves)))


def check_pyspark():
    """``kernel: pyspark``: the analysis runs in this kernel when pyspark imports."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise LoadError(
            'kernel: pyspark needs the pyspark package, and {} (Python {}) has none: '
            'pip install pyspark, or name an interpreter that has it with python: in '
            'index.yaml or DATABENCH_PYTHON (or use kernel: py)'.format(
                sys.executable, sys.version.split()[0])) from None


#: Lines of one log record at most (a traceback); the rest are counted.
MAX_RECORD_LINES = 200


class _ServerLog(logging.Handler):
    """Log records go to the server's log, prefixed with the analysis name."""

    LEVELS = {logging.DEBUG: 'debug', logging.INFO: 'info', logging.WARNING: 'warn'}

    def __init__(self, kernel):
        super(_ServerLog, self).__init__()
        self.kernel = kernel

    def emit(self, record):
        try:
            text = record.getMessage()
            if record.exc_info:
                text += '\n' + ''.join(traceback.format_exception(*record.exc_info)).rstrip()
            # each line escaped and cut (a message may carry what a page sent);
            # the server indents the lines after the first
            lines = text.split('\n')
            more = len(lines) - MAX_RECORD_LINES
            lines = [escape_log_text(line) for line in lines[:MAX_RECORD_LINES]]
            if more > 0:
                lines.append('… ({} more lines)'.format(more))
            text = '\n'.join(lines)
            level = self.LEVELS.get(record.levelno, 'error' if record.levelno > 30 else 'debug')
            self.kernel.outbox.op({'t': 'log', 'level': level,
                                   'text': '[{}] {}'.format(self.kernel.name, text)})
        except Exception:  # pragma: no cover
            self.handleError(record)


class Kernel(object):
    def __init__(self, loop, name, cls, root=None):
        self.loop = loop
        self.name = name
        self.cls = cls
        #: the analyses folder: a failing handler's location is relative to it
        self.root = root
        self.outbox = Outbox(loop)
        self.backend = KernelBackend(self.outbox, loop)
        self.sessions = {}
        #: routes.py's Tornado routes, if the analysis has one
        self.routes = None
        #: the upload whose raw bytes are being read from the channel
        self.pending_upload = None
        #: the start of a line not complete yet, in pieces (joined once, at its end)
        self.pieces = []

    def receive(self, message):
        t = message.get('t')
        if t == 'open':
            self.sessions[message['sid']] = Session(self, message)
        elif t == 'action':
            session = self.sessions.get(message['sid'])
            if session is not None:
                session.action(message['name'],
                               message['load'] if message.get('hasLoad') else NO_MESSAGE,
                               message.get('concurrency'))
            else:
                self.outbox.op({'t': 'done', 'sid': message['sid']})
        elif t == 'close':
            sid = message['sid']
            session = self.sessions.pop(sid, None)
            self.loop.create_task(self._close(sid, session))
        elif t == 'upload':
            # its bytes follow this line on the channel
            self.pending_upload = PendingUpload(message)
            if self.pending_upload.complete:
                self._uploaded()
        elif t == 'cancel':
            session = self.sessions.get(message['sid'])
            if session is not None:
                session.cancel(message.get('target') or {})
        elif t == 'attached':
            self.backend.attached(message)
        elif t == 'change':
            self.backend.change(message)
        elif t == 'http' and self.routes is not None:
            self.routes.handle(self.loop, message)
        else:
            log.error('unknown message from the server: %r', message)

    async def _close(self, sid, session):
        try:
            if session is not None:
                await session.close()
        finally:
            self.outbox.op({'t': 'closed', 'sid': sid})

    def _uploaded(self):
        pending = self.pending_upload
        self.pending_upload = None
        message = pending.message
        files = pending.files()
        session = self.sessions.get(message['sid'])
        if session is not None:
            session.upload(message, files)
        else:
            self.outbox.op({'t': 'done', 'sid': message['sid']})

    def readable(self):
        pending = self.pending_upload
        try:
            if pending is not None and not self.pieces:
                # an upload's bytes: read straight into its buffer
                if pending.read_from(IN_FD) == 0:
                    self.loop.stop()
                elif pending.complete:
                    self._uploaded()
                return
            chunk = os.read(IN_FD, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b''
        if not chunk:
            # the server closed the channel: it is done with this kernel
            self.loop.stop()
            return
        # linear in the line's length: a piece is scanned once, and joined once
        start = 0
        size = len(chunk)
        while start < size:
            if self.pending_upload is not None:
                # an upload's raw bytes follow its JSON line
                start = self.pending_upload.feed(chunk, start)
                if self.pending_upload.complete:
                    self._uploaded()
                continue
            end = chunk.find(b'\n', start)
            if end < 0:
                self.pieces.append(chunk[start:] if start else chunk)
                return
            piece = chunk[start:end]
            if self.pieces:
                self.pieces.append(piece)
                piece = b''.join(self.pieces)
                self.pieces = []
            start = end + 1
            if piece:
                self.receive(_READ.decode(piece.decode('utf-8', 'surrogatepass')))


def _end_with_parent(parent):
    """This process ends when the server's does, even while analysis.py
    loads or a handler never returns (nobody reads the channel's end then):
    on Linux the kernel sends it SIGKILL (PR_SET_PDEATHSIG); elsewhere a
    thread sees its parent change and exits. Processes the analysis starts
    in a session of their own are the analysis's to end."""
    if sys.platform.startswith('linux'):
        try:
            import ctypes
            import signal
            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                # the server may have died before the call: then nobody will signal
                if parent is not None and os.getppid() != parent:
                    os._exit(0)
                return
        except (OSError, AttributeError):
            pass
    if parent is None:
        return
    import threading

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name='databench-parent-watch', daemon=True).start()


def _reap_group_at_exit():
    """The processes the analysis starts (in this process group) end with
    this process, however it ends, a SIGKILL included: a small shell in the
    group waits for the end of a pipe only this process writes to, then
    kills the group. Processes started in a session of their own leave the
    group: they are the analysis's to end."""
    if not hasattr(os, 'fork') or not os.path.exists('/bin/sh'):
        return
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return
    if pid == 0:
        try:
            # it holds nothing of the server's: the channel and output close with the kernel
            os.dup2(read_end, 0)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            os.closerange(3, 1 << 16)
            os.execv('/bin/sh', ['/bin/sh', '-c', 'while read -r _; do :; done; kill -KILL 0'])
        finally:
            os._exit(0)
    os.close(read_end)
    # kept open (and not inherited by exec'd children) until this process ends
    _reap_group_at_exit.write_end = write_end


def _release_free_memory():
    """Give the free pages of the C heap back to the system once the analysis
    has loaded: compiling and importing modules leaves a few MB free that
    an idle kernel would otherwise keep (glibc's ``malloc_trim``; elsewhere
    nothing)."""
    if not sys.platform.startswith('linux'):
        return
    try:
        import ctypes
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def main(argv):
    config = json.loads(argv[1])
    name = config['name']
    # the package's modules may have been cached (imported above); no
    # __pycache__ beside analysis.py, nor from the Python processes it starts:
    # the server's watcher would see them
    sys.dont_write_bytecode = True
    os.environ['PYTHONDONTWRITEBYTECODE'] = '1'
    _end_with_parent(config.get('parent'))
    _reap_group_at_exit()
    _wire.max_value_bytes = config.get('maxValueBytes')
    if sys.version_info < (3, 9):
        send({'t': 'load-error', 'message': 'databench needs Python 3.9 or newer; {} is {}'.format(
            sys.executable, sys.version.split()[0])})
        return 1
    _runtime.IN_KERNEL = True
    # Tornado (when the analysis uses it) runs on this loop: IOLoop.current()
    # is this loop, so PeriodicCallback and gen.coroutine work in handlers
    loop = new_loop()
    asyncio.set_event_loop(loop)
    root = config.get('root') or os.path.dirname(os.path.dirname(os.path.abspath(config['file'])))
    try:
        if config.get('kind') == 'pyspark':
            check_pyspark()
        cls = load_analysis(config['file'], root)
        routes = _routes.load(name, config['file'], cls, send)
    except (LoadError, _routes.RoutesError) as error:
        if error.__cause__ is not None and not isinstance(error.__cause__, SyntaxError):
            traceback.print_exception(type(error.__cause__), error.__cause__,
                                      error.__cause__.__traceback__)
        send({'t': 'load-error', 'message': str(error)})
        return 1
    kernel = Kernel(loop, name, cls, root)
    kernel.routes = routes
    set_default_backend(kernel.backend)
    log_root = logging.getLogger()
    log_root.handlers[:] = [_ServerLog(kernel)]
    log_root.setLevel(logging.INFO)

    def unhandled(_loop, context):
        error = context.get('exception')
        log.error('%s', context.get('message', 'unhandled error'),
                  exc_info=(type(error), error, error.__traceback__) if error else None)

    loop.set_exception_handler(unhandled)
    os.set_blocking(IN_FD, False)
    loop.add_reader(IN_FD, kernel.readable)
    _release_free_memory()
    ready = {'t': 'ready', 'className': cls.__name__}
    if routes is not None:
        ready['routes'] = routes.patterns
    send(ready)
    try:
        loop.run_forever()
    finally:
        kernel.outbox.flush()
    return 0


if __name__ == '__main__':
    measured = _coverage.start()
    code = main(sys.argv)
    _coverage.stop(measured)
    sys.stdout.flush()
    sys.stderr.flush()
    # user threads must not keep a kernel alive the server is done with
    os._exit(code)
