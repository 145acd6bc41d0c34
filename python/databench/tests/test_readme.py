"""databench.Readme: a folder's README.md or README.rst as text and HTML."""

import os
import shutil
import tempfile
import unittest

import databench


class TestReadme(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='databench-readme-')

    def tearDown(self):
        shutil.rmtree(self.dir)

    def write(self, name, text):
        with open(os.path.join(self.dir, name), 'w', encoding='utf-8') as f:
            f.write(text)

    def test_markdown(self):
        self.write('README.md', '<!-- a note -->\nThis is the `README.md`.\n\nSecond paragraph.\n')
        readme = databench.Readme(self.dir)
        self.assertEqual(readme.text.strip(), 'This is the `README.md`.\n\nSecond paragraph.')
        self.assertIn('<p>This is the <code>README.md</code>.</p>', readme.html)
        self.assertIn('<p>Second paragraph.</p>', readme.html)

    def test_restructured_text(self):
        self.write('README.rst', 'Rest of readme.\n')
        readme = databench.Readme(self.dir)
        self.assertEqual(readme.text, 'Rest of readme.\n')
        self.assertIn('<p>Rest of readme.</p>', readme.html)

    def test_markdown_before_other_readmes(self):
        self.write('readme.txt', 'text')
        self.write('README.md', 'markdown')
        self.assertEqual(databench.Readme(self.dir).text, 'markdown')

    def test_without_markdown_or_docutils_plain_paragraphs(self):
        import databench.readme as module
        saved = module._markdown, module._publish_parts
        module._markdown = module._publish_parts = None
        try:
            self.write('README.md', 'A `<b>` tag.\n\nTwo.\n')
            self.assertEqual(databench.Readme(self.dir).html,
                             '<p>A <code>&lt;b&gt;</code> tag.</p>\n<p>Two.</p>')
            os.remove(os.path.join(self.dir, 'README.md'))
            self.write('README.rst', 'Plain `rst`.\n')
            self.assertEqual(databench.Readme(self.dir).html, '<p>Plain `rst`.</p>')
        finally:
            module._markdown, module._publish_parts = saved

    def test_none_and_a_missing_folder(self):
        for folder in (self.dir, os.path.join(self.dir, 'does-not-exist')):
            readme = databench.Readme(folder)
            self.assertEqual((readme.text, readme.html), ('', ''))


if __name__ == '__main__':
    unittest.main()
