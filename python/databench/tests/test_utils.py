"""databench.utils: figures as data URIs (matplotlib when it is installed)."""

import base64
import os
import unittest

from databench import utils

try:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
except ImportError:  # the Node runner fails under CI=true when matplotlib is missing
    plt = None


class TestUtils(unittest.TestCase):
    def test_png_and_svg_to_src(self):
        self.assertEqual(utils.png_to_src(b'\x89PNG'), 'data:image/png;base64,iVBORw==')
        self.assertEqual(utils.svg_to_src('<svg a="1"/>'),
                         'data:image/svg+xml;charset=utf-8,%3Csvg%20a%3D%221%22%2F%3E')

    def test_not_a_figure(self):
        with self.assertRaises(TypeError) as raised:
            utils.fig_to_src(object())
        self.assertIn('matplotlib', str(raised.exception))

    @unittest.skipIf(plt is None and os.environ.get('CI') != 'true', 'matplotlib is not installed')
    def test_fig_to_src(self):
        fig, ax = plt.subplots(figsize=(2, 1))
        ax.plot([0, 1], [1, 0])
        png = utils.fig_to_src(fig)
        self.assertTrue(png.startswith('data:image/png;base64,'))
        self.assertEqual(base64.b64decode(png.split(',', 1)[1])[:8], b'\x89PNG\r\n\x1a\n')
        svg = utils.fig_to_src(fig, image_format='svg')
        self.assertTrue(svg.startswith('data:image/svg+xml;charset=utf-8,'))
        self.assertIn('%3Csvg', svg)
        with self.assertRaises(ValueError):
            utils.fig_to_src(fig, image_format='gif')
        plt.close(fig)


if __name__ == '__main__':
    unittest.main()
