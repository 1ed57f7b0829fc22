"""The event loop with a fake clock: order, cancelling, wrap, and no drift."""

import support
from sipdoor.clock import TICKS_PERIOD, ticks_add, ticks_diff


def test_timers_run_in_deadline_order():
    loop, clock = support.make_loop()
    got = []
    loop.call_later(30, lambda: got.append("c"))
    loop.call_later(10, lambda: got.append("a"))
    loop.call_later(20, lambda: got.append("b"))
    support.run_for(loop, clock, 50)
    assert got == ["a", "b", "c"]


def test_cancelled_timer_never_runs():
    loop, clock = support.make_loop()
    got = []
    t = loop.call_later(10, lambda: got.append(1))
    t.cancel()
    t.cancel()  # twice is harmless
    support.run_for(loop, clock, 50)
    assert got == []
    assert loop.next_delay(clock.now()) is None


def test_wait_is_until_the_next_deadline():
    loop, clock = support.make_loop()
    loop.call_later(250, lambda: None)
    assert loop.next_delay(clock.now()) == 250
    loop.run_once()
    assert clock.elapsed_ms == 250


def test_wait_is_capped_without_timers():
    loop, clock = support.make_loop()
    loop.run_once()
    assert clock.elapsed_ms == loop.max_wait_ms


def test_timers_across_tick_wrap():
    start = TICKS_PERIOD - 15
    loop, clock = support.make_loop(start)
    got = []
    loop.call_later(30, lambda: got.append(clock.now()))
    loop.call_later(5, lambda: got.append(clock.now()))
    support.run_for(loop, clock, 40)
    assert got == [ticks_add(start, 5), ticks_add(start, 30)]
    assert got[1] == 15  # past the wrap


def test_media_tick_does_not_drift_over_an_hour():
    # The poller wakes 3 ms late every time and each tick's work takes
    # 0-7 ms; still, tick n must be due exactly at start + 20 n.
    start = TICKS_PERIOD - 60000  # and it wraps a minute in
    loop, clock = support.make_loop(start, late_ms=3)
    first = ticks_add(start, 20)
    state = {"n": 0, "max_late": 0}

    def tick():
        state["n"] += 1
        due = ticks_add(first, (state["n"] - 1) * 20)
        assert ticks_diff(timer.deadline, due) == 20  # rescheduled from due, not now
        late = ticks_diff(clock.now(), due)
        assert 0 <= late < 20
        if late > state["max_late"]:
            state["max_late"] = late
        clock.advance(state["n"] % 8)  # the work itself takes time

    timer = loop.every(20, tick)
    hour = 3600 * 1000
    support.run_for(loop, clock, hour)
    assert state["n"] == hour // 20
    assert timer.skipped == 0
    assert state["max_late"] <= 10


def test_periodic_timer_skips_ahead_after_a_stall():
    loop, clock = support.make_loop()
    runs = []
    timer = loop.every(20, lambda: runs.append(clock.now()))
    support.run_for(loop, clock, 100)
    assert len(runs) == 5
    clock.advance(10000)  # the machine stalled for 10 s
    loop.run_timers(clock.now())
    assert timer.skipped > 0
    assert len(runs) == 6  # one run, not a burst of 500
    assert loop.next_delay(clock.now()) == 20


def test_every_rejects_bad_period():
    loop, clock = support.make_loop()
    support.raises(ValueError, loop.every, 0, lambda: None)


def test_io_callbacks_and_stop():
    loop, clock = support.make_loop()
    seen = []

    def on_ready(obj):
        seen.append(obj)
        loop.stop(3)

    loop.poller.ready.append((on_ready, "sock"))
    assert loop.run() == 3
    assert seen == ["sock"]
    assert not loop.running


def test_a_failing_callback_does_not_stop_the_loop():
    loop, clock = support.make_loop()
    errors = []
    loop.on_error = errors.append
    got = []

    def bad():
        raise RuntimeError("boom")

    loop.call_later(10, bad)
    loop.call_later(20, lambda: got.append(1))
    support.run_for(loop, clock, 30)
    assert got == [1]
    assert len(errors) == 1 and loop.errors == 1


def test_wake_hooks_run_after_timers():
    loop, clock = support.make_loop()
    order = []
    loop.wake_hooks.append(lambda: order.append("hook"))
    loop.call_later(5, lambda: order.append("timer"))
    loop.run_once()
    assert order == ["hook", "timer", "hook"]
