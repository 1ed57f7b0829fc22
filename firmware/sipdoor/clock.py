"""Wrapping millisecond ticks, the same on CPython and MicroPython.

Deadlines are absolute tick values. Ticks wrap at 2**30 ms (about 12.4 days),
as on MicroPython, so two ticks are only ever compared with ticks_diff().
On MicroPython these are the built-in time.ticks_*; CPython gets a shim with
the same arithmetic, so wrap-around behaves identically on both.
"""

import time

TICKS_PERIOD = 1 << 30
TICKS_MAX = TICKS_PERIOD - 1
_HALF = TICKS_PERIOD // 2

if hasattr(time, "ticks_ms"):
    ticks_ms = time.ticks_ms
    ticks_add = time.ticks_add
    ticks_diff = time.ticks_diff
    sleep_ms = time.sleep_ms
else:

    def ticks_ms():
        return int(time.monotonic() * 1000) & TICKS_MAX

    def ticks_add(ticks, delta):
        return (ticks + delta) & TICKS_MAX

    def ticks_diff(end, start):
        """Signed distance from start to end, valid within half a period."""
        return ((end - start + _HALF) & TICKS_MAX) - _HALF

    def sleep_ms(ms):
        time.sleep(ms / 1000)


class Clock:
    """The real clock. The loop and devices only ever ask a clock for now()."""

    def now(self):
        return ticks_ms()

    def wall(self):
        """Seconds since the epoch, for log lines only (never for deadlines)."""
        return time.time()


class FakeClock:
    """A clock that moves only when told, for tests on both runtimes."""

    def __init__(self, start=0):
        self.ticks = start & TICKS_MAX
        self.wall_start = 1700000000.0
        self.elapsed_ms = 0

    def now(self):
        return self.ticks

    def wall(self):
        return self.wall_start + self.elapsed_ms / 1000

    def advance(self, ms):
        self.ticks = ticks_add(self.ticks, ms)
        self.elapsed_ms += ms
