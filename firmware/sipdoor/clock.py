"""Wrapping millisecond ticks, the same on CPython and MicroPython.

Deadlines are absolute tick values. Ticks wrap at 2**30 ms (about 12.4 days),
as on the ESP32, so two ticks are only ever compared with ticks_diff(). The
arithmetic is ours on every runtime, so wrap-around behaves identically on
CPython, the MicroPython unix port and a board.
"""

import time

TICKS_PERIOD = 1 << 30
TICKS_MAX = TICKS_PERIOD - 1
_HALF = TICKS_PERIOD // 2

if hasattr(time, "ticks_ms"):
    # MicroPython. Ports differ in their tick period (2**30 on the ESP32,
    # far larger on the 64-bit unix port), so mask to one period for all.
    def ticks_ms():
        return time.ticks_ms() & TICKS_MAX

    sleep_ms = time.sleep_ms
else:

    def ticks_ms():
        return int(time.monotonic() * 1000) & TICKS_MAX

    def sleep_ms(ms):
        time.sleep(ms / 1000)


def ticks_add(ticks, delta):
    return (ticks + delta) & TICKS_MAX


def ticks_diff(end, start):
    """Signed distance from start to end, valid within half a period."""
    return ((end - start + _HALF) & TICKS_MAX) - _HALF


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
