"""Helpers for firmware tests that run on CPython (pytest) and MicroPython (run.py).

Test modules in tests/fw/ hold plain `test_*()` functions that use `assert`,
so both runners can execute them without a test framework on the board side.
"""

import os

_counter = [0]


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception it raised; fail if it raised nothing."""
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        return e
    raise AssertionError("%s not raised" % exc_type.__name__)


def tmpdir():
    """A fresh, empty directory for one test."""
    try:
        import tempfile

        return tempfile.mkdtemp(prefix="sipdoor-test-")
    except ImportError:
        pass
    base = os.getenv("TMPDIR") or "/tmp"
    while True:
        _counter[0] += 1
        path = "%s/sipdoor-mp-%d-%d" % (base, os.urandom(1)[0] * 256 + os.urandom(1)[0], _counter[0])
        try:
            os.mkdir(path)
            return path
        except OSError:
            pass


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def repo_path(rel):
    """Absolute path of a file in the repository (tests/fw/ is two levels down)."""
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    if not here.startswith("/"):
        here = os.getcwd() + "/" + here
    return here + "/../../" + rel
