"""The event loop: one thread, one poll, timers from absolute deadlines.

Everything the station does happens in callbacks run from here: a readable
socket or stdin, a timer falling due, or the periodic 20 ms media tick.
Hardware callbacks on other threads or in IRQs only queue work and call
wake(); the loop does the work.

Deadlines are absolute wrapping ticks (see clock.py) compared only with
ticks_diff, so a periodic timer never drifts: its n-th run is due at
start + n * period however late earlier runs were.
"""

from sipdoor.clock import ticks_add, ticks_diff

# A periodic timer that falls this many periods behind (the machine was
# suspended, or the loop stalled) skips ahead instead of running a burst.
MAX_BEHIND_PERIODS = 10
# Longest single wait in poll, so a lost wake-up costs at most this much.
MAX_WAIT_MS = 1000


class Timer:
    """A one-shot or periodic deadline. cancel() is safe at any time."""

    def __init__(self, loop, deadline, callback, period):
        self.loop = loop
        self.deadline = deadline
        self.callback = callback
        self.period = period
        self.active = True
        self.runs = 0
        self.skipped = 0

    def cancel(self):
        if self.active:
            self.active = False
            self.loop._remove(self)


class Loop:
    """Runs callbacks for I/O readiness and timers until stop() is called.

    clock: an object with now() -> ticks (clock.Clock or clock.FakeClock).
    poller: net.Poller (or a fake one in tests) with register(obj, cb),
    unregister(obj), and wait(timeout_ms) -> list of callbacks ready.
    """

    def __init__(self, clock, poller):
        self.clock = clock
        self.poller = poller
        self._timers = []  # sorted by deadline (ticks_diff order)
        self._running = False
        self.exit_code = 0
        self.errors = 0
        self.on_error = None
        # Called after every wake-up, before timers: drains queued hardware
        # edges. A backend without a wake-up source lowers max_wait_ms so
        # flags set in IRQs are seen quickly.
        self.wake_hooks = []
        self.max_wait_ms = MAX_WAIT_MS

    # -- timers --------------------------------------------------------

    def call_at(self, deadline, callback):
        """Run callback() once at the absolute tick deadline."""
        return self._insert(Timer(self, deadline, callback, 0))

    def call_later(self, delay_ms, callback):
        return self.call_at(ticks_add(self.clock.now(), delay_ms), callback)

    def every(self, period_ms, callback, start=None):
        """Run callback() every period_ms from absolute deadlines (no drift).

        The first run is at start (a tick; default now + period).
        """
        if period_ms <= 0:
            raise ValueError("period must be positive")
        if start is None:
            start = ticks_add(self.clock.now(), period_ms)
        return self._insert(Timer(self, start, callback, period_ms))

    def _insert(self, timer):
        timers = self._timers
        i = len(timers)
        # Timers are few (tens); a linear scan from the end keeps order
        # without a heap, which could not compare wrapping ticks anyway.
        while i > 0 and ticks_diff(timers[i - 1].deadline, timer.deadline) > 0:
            i -= 1
        timers.insert(i, timer)
        return timer

    def _remove(self, timer):
        try:
            self._timers.remove(timer)
        except ValueError:
            pass

    def next_delay(self, now):
        """Milliseconds until the earliest timer (0 if due), or None."""
        if not self._timers:
            return None
        d = ticks_diff(self._timers[0].deadline, now)
        return d if d > 0 else 0

    def run_timers(self, now):
        """Run every timer due at now, earliest first."""
        timers = self._timers
        while timers and ticks_diff(timers[0].deadline, now) <= 0:
            t = timers.pop(0)
            if t.period:
                nxt = ticks_add(t.deadline, t.period)
                behind = ticks_diff(now, nxt)
                if behind >= t.period * MAX_BEHIND_PERIODS:
                    t.skipped += behind // t.period + 1
                    nxt = ticks_add(now, t.period)
                t.deadline = nxt
                self._insert(t)
            else:
                t.active = False
            t.runs += 1
            self._call(t.callback)
            now = self.clock.now()

    # -- running -------------------------------------------------------

    def _call(self, callback, *args):
        try:
            callback(*args)
        except Exception as e:  # one bad callback must not stop the door
            self.errors += 1
            if self.on_error:
                self.on_error(e)
            else:
                raise

    def run_once(self):
        """Wait for I/O or the next deadline, then run what is ready."""
        now = self.clock.now()
        wait = self.next_delay(now)
        if wait is None or wait > self.max_wait_ms:
            wait = self.max_wait_ms
        for callback, obj in self.poller.wait(wait):
            self._call(callback, obj)
        self._run_hooks()
        self.run_timers(self.clock.now())
        # Timer callbacks may queue work for the hooks too (a simulated
        # edge); run them now rather than after the next wait.
        self._run_hooks()

    def _run_hooks(self):
        for hook in self.wake_hooks:
            self._call(hook)

    def run(self):
        """Run until stop(); returns the exit code given to stop()."""
        self._running = True
        while self._running:
            self.run_once()
        return self.exit_code

    def stop(self, exit_code=0):
        self.exit_code = exit_code
        self._running = False

    @property
    def running(self):
        return self._running
