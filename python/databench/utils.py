"""Helpers for analyses: figures as inline images, JSON of numpy values and sets."""

import base64
import io
import json
import urllib.parse


def json_encoder_default(obj):
    """Encode what the standard JSON encoder does not know: a set (or
    frozenset) as a list, a numpy array as its list, a numpy scalar as its
    number, a databench 0.7 legacy Datastore value as its plain value.

    Example: ``json.dumps(obj, default=json_encoder_default)``. (The
    databench wire format is made by the package itself; this is for your
    own ``json.dumps``.)
    """
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    to_native = getattr(obj, 'to_native', None)
    if callable(to_native):
        return to_native()
    tolist = getattr(obj, 'tolist', None)
    if callable(tolist) and hasattr(obj, 'dtype'):
        # numpy arrays (lists) and numpy scalars (numbers)
        return tolist()
    raise TypeError('Object of type {} is not JSON serializable'.format(type(obj).__name__))


def to_string(*args, **kwargs):
    """What the ``log``/``warn``/``error`` actions log for their arguments:
    one string as it is, else the arguments as JSON (databench 0.7)."""
    if len(args) == 1 and not kwargs and isinstance(args[0], str):
        return args[0]
    if not kwargs:
        return json.dumps(args, default=json_encoder_default)
    if not args:
        return json.dumps(kwargs, default=json_encoder_default)
    return json.dumps(args, default=json_encoder_default) + ', ' + \
        json.dumps(kwargs, default=json_encoder_default)


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
