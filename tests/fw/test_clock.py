"""Wrapping ticks: the shim behaves like MicroPython's time.ticks_* at 2**30."""

from sipdoor.clock import TICKS_MAX, TICKS_PERIOD, FakeClock, ticks_add, ticks_diff


def test_period_is_two_to_the_thirty():
    assert TICKS_PERIOD == 1 << 30
    assert TICKS_MAX == TICKS_PERIOD - 1


def test_add_wraps():
    assert ticks_add(TICKS_MAX, 1) == 0
    assert ticks_add(TICKS_MAX - 5, 10) == 4
    assert ticks_add(3, -5) == TICKS_MAX - 1


def test_diff_across_wrap_is_small_and_signed():
    before = TICKS_MAX - 10
    after = ticks_add(before, 30)
    assert after == 19
    assert ticks_diff(after, before) == 30
    assert ticks_diff(before, after) == -30


def test_diff_limits_half_period():
    half = TICKS_PERIOD // 2
    assert ticks_diff(ticks_add(0, half - 1), 0) == half - 1
    assert ticks_diff(0, ticks_add(0, half - 1)) == -(half - 1)


def test_fake_clock_wraps():
    c = FakeClock(TICKS_MAX - 1)
    c.advance(3)
    assert c.now() == 1
    assert c.elapsed_ms == 3
    assert c.wall() == c.wall_start + 0.003
