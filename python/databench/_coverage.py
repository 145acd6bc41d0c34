"""``databench --coverage FILE`` (databench 0.7's flag): each kernel process
measures itself with the module ``coverage`` when its interpreter has it,
and writes ``FILE.<host>.<pid>.<random>`` as it ends, as 0.7 wrote its own
(``coverage combine`` merges them). The server sets ``DATABENCH_COVERAGE``
to FILE and warns once when the default interpreter has no coverage.
"""

import os


def start():
    """A started ``coverage.Coverage``, or None (no --coverage, or no module)."""
    file = os.environ.get('DATABENCH_COVERAGE')
    if not file:
        return None
    try:
        import coverage
    except ImportError:
        return None
    measured = coverage.Coverage(data_file=file, data_suffix=True)
    measured.start()
    return measured


def stop(measured):
    """Stop measuring and write the data file (nothing when not measuring)."""
    if measured is None:
        return
    try:
        measured.stop()
        measured.save()
    except Exception as error:  # pragma: no cover
        print('databench --coverage: could not write the data: {}'.format(error))
