"""Echo ducking: the mic is quietened while the far end talks, with hang time."""

import mediautil
from sipdoor.media.duck import Ducker

SILENCE = bytes(320)


def _tone(dbfs, freq=1000):
    return mediautil.sines(160, [freq], dbfs)


def test_sans_io_module():
    mediautil.no_banned_imports("firmware/sipdoor/media/duck.py")


def test_quiet_far_end_leaves_the_mic_alone():
    d = Ducker(20, threshold_dbfs=-36, hang_ms=100)
    mic = bytearray(_tone(-10))
    before = bytes(mic)
    assert not d.far(_tone(-50))
    assert not d.near(mic)
    assert bytes(mic) == before
    assert not d.far(SILENCE)


def test_far_talk_attenuates_by_depth_with_hang_time():
    d = Ducker(20, threshold_dbfs=-36, hang_ms=100, frame_ms=20)
    assert d.far(_tone(-20))
    mic = bytearray(_tone(-10))
    ref = mediautil.rms(mic)
    assert d.near(mic)
    ratio = mediautil.rms(mic) / ref
    assert abs(ratio - 0.1) < 0.005, ratio
    # 100 ms hang: five quiet frames stay ducked, the sixth does not
    states = [d.far(SILENCE) for _ in range(6)]
    assert states == [True] * 5 + [False]
    mic = bytearray(_tone(-10))
    assert not d.near(mic)
    assert abs(mediautil.rms(mic) - ref) < 1
    assert d.ducked_frames == 1


def test_every_frequency_is_seen():
    # a stride that divides the period would sample only zero crossings
    for f in (400, 500, 1000, 2000, 2666, 3000):
        d = Ducker(20, threshold_dbfs=-30, hang_ms=0)
        assert d.far(_tone(-20, f)), f


def test_negative_samples_and_depths():
    d = Ducker(6, threshold_dbfs=-40, hang_ms=0)
    d.far(_tone(-20))
    mic = bytearray(320)
    mediautil.put_sample(mic, 0, -20000)
    mediautil.put_sample(mic, 1, 20000)
    mediautil.put_sample(mic, 2, -1)
    d.near(mic)
    assert abs(mediautil.sample(mic, 0) - (-10024)) <= 2
    assert abs(mediautil.sample(mic, 1) - 10024) <= 2
    assert mediautil.sample(mic, 2) in (-1, 0)
    mute = Ducker(80, hang_ms=0)
    mute.far(_tone(-20))
    mic = bytearray(_tone(-10))
    assert mute.near(mic, SILENCE)
    assert bytes(mic) == SILENCE
    mic = bytearray(_tone(-10))
    assert mute.near(mic)
    assert bytes(mic) == SILENCE


def test_no_allocation_per_frame():
    d = Ducker(20, hang_ms=40)
    far = _tone(-20)
    mic = bytearray(_tone(-10))

    def frame():
        d.far(far)
        d.near(mic)

    frame()
    assert mediautil.heap_locked(frame)
