"""databench.upload: the file a handler gets, and the raw bytes that follow
an ``upload`` line on the kernel's channel."""

import os
import unittest

import databench
from databench.testing import AnalysisTest
from databench.upload import PendingUpload, UploadedFile


class Load(databench.Analysis):
    def on_load_csv(self, file):
        self.data['got'] = '{} {} {} {}'.format(file.name, file.type, file.size, file.text())

    def on_load_many(self, files):
        self.data['got'] = ','.join(f.name for f in files)


class TestUploadedFile(unittest.TestCase):
    def test_a_file_object_with_name_type_size_and_text(self):
        f = UploadedFile('x.csv', 'text/csv', 'a,b\n1,\u20ac\n'.encode('utf-8'))
        self.assertEqual((f.name, f.type, f.size), ('x.csv', 'text/csv', 10))
        self.assertEqual(f.readline(), b'a,b\n')
        self.assertEqual(f.read(), '1,\u20ac\n'.encode('utf-8'))
        f.seek(0)
        self.assertEqual(f.read(3), b'a,b')
        self.assertEqual(f.text(), 'a,b\n1,\u20ac\n')
        self.assertIn("'x.csv'", repr(f))

    def test_a_handler_triggered_with_a_file_gets_it(self):
        test = AnalysisTest(Load)
        test.trigger('load_csv', UploadedFile('a.csv', 'text/csv', b'hi'))
        self.assertEqual(test.analysis_instance.data['got'], 'a.csv text/csv 2 hi')
        test.trigger('load_many', [[UploadedFile('a', '', b'1'), UploadedFile('b', '', b'')]])
        self.assertEqual(test.analysis_instance.data['got'], 'a,b')


class TestPendingUpload(unittest.TestCase):
    def message(self, *sizes):
        return {'t': 'upload', 'sid': 1, 'action': 'x',
                'files': [{'name': 'f{}'.format(i), 'type': '', 'size': s}
                          for i, s in enumerate(sizes)]}

    def test_bytes_fed_in_pieces_split_into_the_files(self):
        pending = PendingUpload(self.message(3, 0, 4))
        data = b'line\nabcdefgNEXT'
        pos = pending.feed(data, 5)
        self.assertEqual(pos, 12, 'it takes only its 7 bytes')
        self.assertTrue(pending.complete)
        files = pending.files()
        self.assertEqual([f.read() for f in files], [b'abc', b'', b'defg'])
        self.assertEqual([f.name for f in files], ['f0', 'f1', 'f2'])

    def test_read_straight_from_a_file_descriptor(self):
        r, w = os.pipe()
        try:
            os.write(w, b'0123456789')
            pending = PendingUpload(self.message(6, 4))
            pending.feed(b'01', 0)
            while not pending.complete:
                self.assertGreater(pending.read_from(r), 0)
            self.assertEqual([f.read() for f in pending.files()], [b'010123', b'4567'])
        finally:
            os.close(r)
            os.close(w)

    def test_an_upload_of_empty_files_is_complete_at_once(self):
        self.assertTrue(PendingUpload(self.message(0)).complete)


if __name__ == '__main__':
    unittest.main()
