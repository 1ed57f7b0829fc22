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


ROOT = None  # set by run.py: the tests may run from compiled copies elsewhere


def repo_path(rel):
    """Absolute path of a file in the repository (tests/fw/ is two levels down)."""
    if ROOT is not None:
        return ROOT + "/" + rel
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    if not here.startswith("/"):
        here = os.getcwd() + "/" + here
    return here + "/../../" + rel


class FakePoller:
    """Stands in for net.Poller: waiting just moves the fake clock.

    late_ms makes every wait overshoot (a busy machine); ready holds
    (callback, obj) pairs to hand back on the next wait.
    """

    def __init__(self, clock, late_ms=0):
        self.clock = clock
        self.late_ms = late_ms
        self.ready = []
        self.registered = {}
        self.waits = 0

    def register(self, obj, callback):
        self.registered[id(obj)] = (callback, obj)

    def unregister(self, obj):
        self.registered.pop(id(obj), None)

    def wait(self, timeout_ms):
        self.waits += 1
        if self.ready:
            ready, self.ready = self.ready, []
            return ready
        self.clock.advance(timeout_ms + self.late_ms)
        return []


def make_loop(start=0, late_ms=0):
    from sipdoor.clock import FakeClock
    from sipdoor.loop import Loop

    clock = FakeClock(start)
    return Loop(clock, FakePoller(clock, late_ms)), clock


def run_for(loop, clock, ms):
    """Run the loop until ms of fake time have passed."""
    from sipdoor.clock import ticks_add, ticks_diff

    end = ticks_add(clock.now(), ms)
    while ticks_diff(end, clock.now()) > 0:
        loop._run_hooks()  # queued edges wake a real loop at once
        wait = loop.next_delay(clock.now())
        left = ticks_diff(end, clock.now())
        if wait is None or wait > left:
            clock.advance(left)
            loop.run_timers(clock.now())
            loop._run_hooks()
            break
        loop.run_once()


class FakeLog:
    """A Log that keeps (level, text) lines for asserts."""

    def __init__(self):
        self.lines = []

    def _add(self, level, msg, args):
        self.lines.append((level, msg % args if args else msg))

    def debug(self, msg, *args):
        self._add("debug", msg, args)

    def info(self, msg, *args):
        self._add("info", msg, args)

    def warning(self, msg, *args):
        self._add("warning", msg, args)

    def error(self, msg, *args):
        self._add("error", msg, args)


class Recorder:
    """An event sink that keeps what it got."""

    def __init__(self):
        self.events = []

    def __call__(self, ev):
        self.events.append(ev)

    def kinds(self):
        return [e.to_dict()["event"] for e in self.events]

    def of(self, cls):
        return [e for e in self.events if isinstance(e, cls)]
