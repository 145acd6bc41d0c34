"""databench 0.7's template ``Loader``: a Tornado template loader over
several folders, the first that has the template wins (needs Tornado). The
server renders 0.7's templates itself; this is for code that used it."""

import os

try:
    import tornado.template as _template
except ImportError:  # pragma: no cover  (Tornado is optional)
    _template = None


if _template is not None:
    class Loader(_template.BaseLoader):
        """Template loader from a list of folders; the first match is used."""

        def __init__(self, root_directories, **kwargs):
            super(Loader, self).__init__(**kwargs)
            self.roots = [os.path.abspath(d) for d in root_directories]

        def resolve_path(self, name, parent_path=None):
            for root in self.roots:
                if parent_path and not parent_path.startswith('<') and \
                        not os.path.isabs(parent_path) and not os.path.isabs(name):
                    root = os.path.join(root, os.path.dirname(parent_path))
                path = os.path.join(root, name)
                if os.path.exists(path):
                    return path
            return name

        def _create_template(self, name):
            with open(name, 'rb') as f:
                return _template.Template(f.read(), name=name, loader=self)
else:
    class Loader(object):
        """Needs Tornado: pip install tornado (or apt-get install python3-tornado)."""

        def __init__(self, *args, **kwargs):
            raise ImportError('databench.template.Loader needs Tornado: pip install tornado '
                              '(or apt-get install python3-tornado)')
