"""The kernel's loop sends a turn's batch at the end of that turn, and still
sends it when this Python's loop stops calling the hook (asyncio's private
``_run_once``)."""

import asyncio
import unittest

from databench.kernel import KernelLoop, Outbox


class Recording(Outbox):
    """An Outbox whose batches are recorded, not written to the server's channel."""

    def __init__(self, loop):
        super(Recording, self).__init__(loop)
        self.batches = []
        self.sent = loop.create_future()

    def flush(self):
        if not self.ops:
            return
        self.batches.append([op['n'] for op in self.ops])
        self.ops = []
        if not self.sent.done():
            self.sent.set_result(None)


class Hookless(KernelLoop):
    """A loop whose turn skips KernelLoop's (as a Python that renamed ``_run_once`` would)."""

    _run_once = asyncio.SelectorEventLoop._run_once


def sent(loop, outbox):
    """Run `loop` until `outbox` sent a batch (at most 10 s)."""
    loop.run_until_complete(asyncio.wait_for(asyncio.shield(outbox.sent), 10))
    outbox.sent = loop.create_future()


class TestKernelLoop(unittest.TestCase):
    def run_loop(self, loop_class):
        loop = loop_class()
        self.addCleanup(loop.close)
        outbox = Recording(loop)
        outbox.op({'n': 1})
        outbox.op({'n': 2})
        sent(loop, outbox)
        outbox.op({'n': 3})
        sent(loop, outbox)
        self.assertEqual(outbox.batches, [[1, 2], [3]])
        return loop, outbox

    def test_the_hook_sends_at_the_end_of_the_turn(self):
        loop, outbox = self.run_loop(KernelLoop)
        self.assertTrue(outbox.hook_checked)
        self.assertTrue(outbox.at_end_of_turn)
        self.assertEqual(loop.end_of_turn, (outbox._end_of_turn,))

    def test_a_loop_that_never_calls_the_hook_still_sends(self):
        with self.assertLogs('databench.kernel', 'WARNING') as logs:
            loop, outbox = self.run_loop(Hookless)
        self.assertIn('does not call KernelLoop._run_once', logs.output[0])
        self.assertFalse(outbox.at_end_of_turn)
        self.assertEqual(loop.end_of_turn, ())

    def test_two_outboxes_on_one_loop_both_send(self):
        loop = KernelLoop()
        self.addCleanup(loop.close)
        one, two = Recording(loop), Recording(loop)
        one.op({'n': 1})
        two.op({'n': 2})
        sent(loop, one)
        sent(loop, two)
        self.assertEqual((one.batches, two.batches), ([[1]], [[2]]))


if __name__ == '__main__':
    unittest.main()
