"""A change that reaches many pages of a kernel process (a class_data key)
crosses the channel once: one frame op with the pages' session numbers and
the value's bytes once, as the server's python-kernel.ts reads it."""

import asyncio
import json
import os
import unittest

from databench import kernel
from databench.kernel import Outbox, Port


class Captured(object):
    """The bytes the kernel writes to the server's channel, by way of a pipe."""

    def __init__(self, test):
        read_end, write_end = os.pipe()
        self.read_end = read_end
        saved = kernel.OUT_FD
        kernel.OUT_FD = write_end
        test.addCleanup(setattr, kernel, 'OUT_FD', saved)
        test.addCleanup(os.close, read_end)
        test.addCleanup(os.close, write_end)

    def batch(self):
        data = os.read(self.read_end, 1 << 20)
        line, _, blob = data.partition(b'\n')
        message = json.loads(line)
        return message, blob


class TestFanOut(unittest.TestCase):
    def setUp(self):
        self.loop = asyncio.new_event_loop()
        self.addCleanup(self.loop.close)
        self.outbox = Outbox(self.loop)
        self.channel = Captured(self)

    def test_one_change_to_many_pages_is_one_frame_op(self):
        ports = [Port(sid, self.outbox) for sid in (1, 2, 3)]
        encoded = '{"x":' + '1' * 100 + '}'
        self.outbox.write('c\0k', 'c', 'k', encoded, 1)
        for port in ports:
            port.change('class_data', 'k', encoded)
        self.outbox.flush()
        message, blob = self.channel.batch()
        self.assertEqual(message['n'], len(blob))
        write, frame = message['ops']
        self.assertEqual(frame['sids'], [1, 2, 3])
        self.assertNotIn('sid', frame)
        start, end = frame['at']
        self.assertEqual(json.loads(blob[start:end]), {'signal': 'class_data',
                                                        'load': {'k': {'x': int('1' * 100)}}})
        # the value crosses once: the write's bytes are the frame's
        self.assertEqual(blob.count(encoded.encode()), 1)
        self.assertEqual(blob[write['at'][0]:write['at'][1]], encoded.encode())

    def test_frames_that_differ_or_are_not_adjacent_stay_apart(self):
        a, b = Port(1, self.outbox), Port(2, self.outbox)
        a.change('class_data', 'k', '1')
        b.change('class_data', 'k', '2')  # another value
        a.emit('e', 1)
        b.emit('e', 1)  # emits: one op each
        a.change('class_data', 'k', '3')
        a.change('data', 'k', '3')  # another signal
        self.outbox.flush()
        message, _ = self.channel.batch()
        self.assertEqual([op.get('sid') for op in message['ops']], [1, 2, 1, 2, 1, 1])
        self.assertTrue(all('sids' not in op for op in message['ops']))

    def test_delta_frames_of_one_change_share_an_op(self):
        ports = [Port(sid, self.outbox, deltas=True) for sid in (4, 5)]
        for port in ports:
            port.change('class_data', 'k', '[1,2]', delta=('append', '2', 'dom'))
        self.outbox.flush()
        message, blob = self.channel.batch()
        (frame,) = message['ops']
        self.assertEqual((frame['sids'], frame['domain']), ([4, 5], 'dom'))
        start, end = frame['at']
        self.assertEqual(json.loads(blob[start:end])['signal'], '__delta')

    def test_a_stream_to_one_page_is_one_op_with_its_frames_places(self):
        port = Port(1, self.outbox)
        for i in range(3):
            self.outbox.write('d\0k', 'd', 'k', str(i), i + 1)
            port.change('data', 'k', str(i))
        port.emit('e', 'x')
        port.emit('e', 'y')
        self.outbox.flush()
        message, blob = self.channel.batch()
        write, changes, emits = message['ops']
        self.assertEqual((changes['sid'], changes['coalesce']), (1, 'data\0k'))
        at = changes['at']
        self.assertEqual([json.loads(blob[at[i]:at[i + 1]]) for i in range(0, len(at), 2)],
                         [{'signal': 'data', 'load': {'k': i}} for i in range(3)])
        # the write (coalesced to the last value) shares the last frame's bytes
        self.assertEqual(blob[write['at'][0]:write['at'][1]], b'2')
        at = emits['at']
        self.assertEqual((emits['coalesce'], len(at)), (None, 4))
        self.assertEqual(json.loads(blob[at[2]:at[3]]), {'signal': 'e', 'load': 'y'})


class TestBatchBytes(unittest.TestCase):
    """Where each frame and value is in a batch's bytes, with text that is not ASCII."""

    def test_places_are_byte_offsets(self):
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        outbox = Outbox(loop)
        channel = Captured(self)
        a, b = Port(1, outbox), Port(2, outbox)
        values = ['"π ≈ 3.14"', '"ascii"', '"\U0001f600 and \udc80"', '[1,"é"]']
        a.emit('e', 'é')
        for i, encoded in enumerate(values):
            outbox.write('d\0k%d' % i, 'd', 'k%d' % i, encoded, i + 1)
            a.change('data', 'k%d' % i, encoded)
        outbox.write('d\0only', 'd', 'only', '"written ü only"', 9)
        b.emit('e', 'ascii')
        outbox.flush()
        message, blob = channel.batch()
        self.assertEqual(message['n'], len(blob))

        def text(op):
            start, end = op['at']
            return blob[start:end].decode('utf-8')

        frames = [op for op in message['ops'] if op['t'] == 'frame']
        writes = [op for op in message['ops'] if op['t'] == 'write']
        self.assertEqual(json.loads(text(frames[0])), {'signal': 'e', 'load': 'é'})
        self.assertEqual(json.loads(text(frames[-1])), {'signal': 'e', 'load': 'ascii'})
        for frame, write, encoded in zip(frames[1:], writes, values):
            expected = encoded.encode('utf-8', 'backslashreplace').decode('utf-8')
            self.assertEqual(text(write), expected)
            self.assertEqual(text(frame), '{"signal":"data","load":{"%s":%s}}' % (
                write['key'], expected))
        self.assertEqual(text(writes[-1]), '"written ü only"')


if __name__ == '__main__':
    unittest.main()
