"""Tone tests: cadences, frequencies, levels, and frames handed out without allocating."""

import mediautil
import support
from sipdoor.media import tones


def _run(src, n):
    return [src.next() for _ in range(n)]


def _loud(frame):
    return frame is not None and mediautil.rms(frame) > 100


def test_ringback_cadence_one_second_on_four_off():
    src = tones.ToneSource("ringback")
    assert src.cycle_frames() == 250
    got = _run(src, 500)
    assert all(len(f) == 320 for f in got)
    pattern = [_loud(f) for f in got]
    assert pattern == ([True] * 50 + [False] * 200) * 2
    assert not src.done


def test_busy_and_us_tones():
    pattern = [_loud(f) for f in _run(tones.ToneSource("busy"), 100)]
    assert pattern == ([True] * 25 + [False] * 25) * 2
    pattern = [_loud(f) for f in _run(tones.ToneSource("ringback_us"), 300)]
    assert pattern == [True] * 100 + [False] * 200
    pattern = [_loud(f) for f in _run(tones.ToneSource("busy_us"), 50)]
    assert pattern == [True] * 25 + [False] * 25


def test_frequencies_and_level():
    src = tones.ToneSource("ringback", level_dbfs=-13)
    second = b"".join([bytes(f) for f in _run(src, 50)])
    p425 = mediautil.tone_power(second, 425)
    want = mediautil.amp(-13) ** 2 / 2
    assert abs(p425 - want) < want * 0.05
    assert mediautil.tone_power(second, 1000) < want * 0.001
    peak = 0
    for i in range(len(second) // 2):
        v = abs(mediautil.sample(second, i))
        if v > peak:
            peak = v
    assert abs(peak - mediautil.amp(-13)) < 40
    us = b"".join([bytes(f) for f in _run(tones.ToneSource("ringback_us"), 25)])
    p440 = mediautil.tone_power(us, 440)
    p480 = mediautil.tone_power(us, 480)
    assert abs(p440 - p480) < p440 * 0.1
    assert mediautil.tone_power(us, 620) < p440 * 0.01


def test_loop_is_seamless():
    # Frame after frame, the 425 Hz waveform continues without a jump.
    import math

    src = tones.ToneSource("ringback", level_dbfs=-6)
    pcm = b"".join([bytes(f) for f in _run(src, 50)])
    a = mediautil.amp(-6)
    for i in range(0, 8000, 37):
        want = a * math.sin(2 * math.pi * 425 * i / 8000)
        assert abs(mediautil.sample(pcm, i) - want) <= 2, i


def test_one_shot_tones_end():
    for name in ("confirm", "error", "warning"):
        src = tones.ToneSource(name)
        n = src.cycle_frames()
        got = _run(src, n)
        assert None not in got, name
        assert src.done and src.next() is None, name
        assert _loud(got[0]) and _loud(got[-1]), name
        src.reset()
        assert not src.done and src.next() is not None
    # error falls: 620 Hz first, 440 Hz last.
    src = tones.ToneSource("error")
    got = _run(src, src.cycle_frames())
    assert mediautil.tone_power(got[0], 620) > 10 * mediautil.tone_power(got[0], 440)
    assert mediautil.tone_power(got[-1], 440) > 10 * mediautil.tone_power(got[-1], 620)


def test_custom_tone_and_repeat_override():
    src = tones.ToneSource((((1000,), 40), ((), 20)), repeat=True)
    pattern = [_loud(f) for f in _run(src, 9)]
    assert pattern == [True, True, False] * 3
    support.raises(ValueError, tones.ToneSource, "nope")
    support.raises(ValueError, tones.ToneSource, ())


def test_buffers_are_generated_once_and_small():
    a = tones.tone_buffer((425,), -13, 160)
    b = tones.tone_buffer((425,), -13, 160)
    assert a is b
    assert tones.loop_samples((425,), 160) == 320
    assert tones.loop_samples((440, 480), 160) == 800
    for name in tones.PRESETS:
        for freqs, ms in tones.PRESETS[name][0]:
            assert tones.loop_samples(freqs, 160) <= 800, (name, freqs)
    # Two sources of one tone share its buffer.
    x = tones.ToneSource("busy").next()
    y = tones.ToneSource("busy").next()
    assert bytes(x) == bytes(y)


def test_next_allocates_nothing_on_micropython():
    src = tones.ToneSource("ringback")
    src.next()

    def work():
        for _ in range(300):
            src.next()

    assert mediautil.heap_locked(work)
