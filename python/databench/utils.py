"""Helpers for analyses: figures as inline images."""

import base64
import io
import urllib.parse


def png_to_src(png):
    """A PNG (bytes) as something an ``<img src>`` takes: a data URI."""
    if isinstance(png, str):
        png = png.encode('latin-1')
    return 'data:image/png;base64,' + base64.b64encode(bytes(png)).decode('ascii')


def svg_to_src(svg):
    """An SVG document (str or bytes) as a data URI for ``<img src>``."""
    if isinstance(svg, bytes):
        svg = svg.decode('utf-8')
    return 'data:image/svg+xml;charset=utf-8,' + urllib.parse.quote(svg, safe='')


def fig_to_src(figure, image_format='png', dpi=80):
    """Convert a matplotlib figure to an inline HTML image (a data URI).

    :param matplotlib.figure.Figure figure: figure to display
    :param str image_format: ``png`` (default) or ``svg``
    :param int dpi: dots per inch for raster graphics
    :rtype: str
    """
    if not hasattr(figure, 'savefig'):
        raise TypeError(
            'fig_to_src needs a matplotlib figure (an object with savefig), got {}. '
            'Install matplotlib (pip install matplotlib, or apt-get install '
            'python3-matplotlib)'.format(type(figure).__name__))
    if image_format == 'png':
        out = io.BytesIO()
        figure.savefig(out, format='png', dpi=dpi)
        return png_to_src(out.getvalue())
    if image_format == 'svg':
        out = io.StringIO()
        figure.savefig(out, format='svg', dpi=dpi)
        return svg_to_src(out.getvalue())
    raise ValueError('image_format must be "png" or "svg", got {!r}'.format(image_format))


def require_matplotlib():
    """Import matplotlib with the Agg backend, or fail with what to install."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            'this needs matplotlib: pip install matplotlib, or apt-get install '
            'python3-matplotlib (and run the analysis with that python: python: '
            '/usr/bin/python3 in index.yaml, or DATABENCH_PYTHON)') from None
    matplotlib.use('Agg')
    return matplotlib
