"""48 kHz <-> 8 kHz resampling: passband, anti-aliasing, image rejection,
continuity across frames, round trip, no allocation per frame."""

import math

import mediautil
import support
from sipdoor.media import resample
from sipdoor.media.resample import DELAY, RATIO, Decimator, Interpolator

# mediautil's makers and meters work at 8000 Hz: a frequency f at 48 kHz is
# f / RATIO to them.


def _tone48(frames, freq, dbfs):
    return mediautil.sines(960 * frames, [freq / RATIO], dbfs)


def _db(p, ref):
    return 10 * math.log10(max(p, 1e-12) / ref)


def _decimate(pcm48, dec=None):
    dec = dec or Decimator()
    out = bytearray(320 * (len(pcm48) // 1920))
    mv = memoryview(out)
    for f in range(len(pcm48) // 1920):
        assert dec.process_into(pcm48[1920 * f:1920 * (f + 1)], mv[320 * f:320 * (f + 1)]) == 320
    return out


def _interpolate(pcm8, itp=None):
    itp = itp or Interpolator()
    out = bytearray(6 * len(pcm8))
    mv = memoryview(out)
    for f in range(len(pcm8) // 320):
        assert itp.process_into(pcm8[320 * f:320 * (f + 1)], mv[1920 * f:1920 * (f + 1)]) == 1920
    return out


def test_sans_io_module():
    mediautil.no_banned_imports("firmware/sipdoor/media/resample.py")


def test_coefficients():
    h = resample.decimator_coefs()
    assert len(h) == resample.TAPS and sum(h) == 16384
    assert h == h[::-1]
    for g in resample.interpolator_coefs():
        assert sum(g) == 16384
    # (TAPS - 1) / 2 at 48 kHz is a whole number of 8 kHz samples
    assert (resample.TAPS - 1) // 2 == RATIO * DELAY


def test_decimator_passes_1khz_within_half_db():
    a = mediautil.amp(-10)
    out = _decimate(_tone48(3, 1000, -10))
    p = mediautil.tone_power(out[320:], 1000)  # past the start-up transient
    assert abs(_db(p, a * a / 2)) < 0.5, _db(p, a * a / 2)


def test_decimator_removes_6khz_before_it_aliases_to_2khz():
    a = mediautil.amp(-6)
    out = _decimate(_tone48(3, 6000, -6))
    tail = out[320:]
    att = _db(mediautil.tone_power(tail, 2000), a * a / 2)
    assert att < -40, att
    # and nothing else is left either
    assert mediautil.rms(tail) < a * 0.01, mediautil.rms(tail)


def test_interpolator_passes_1khz_and_rejects_its_images():
    a = mediautil.amp(-10)
    out = _interpolate(mediautil.sines(480, [1000], -10))
    tail = out[1920:]
    p = mediautil.tone_power(tail, 1000 / RATIO)
    assert abs(_db(p, a * a / 2)) < 0.5, _db(p, a * a / 2)
    for image in (7000, 9000, 15000, 17000):
        att = _db(mediautil.tone_power(tail, image / RATIO), a * a / 2)
        assert att < -40, (image, att)


def _direct_decimate(x, h, k):
    # y[k] = sum h[j] x[6k - j], x zero before the start: no frames at all
    acc = 8192
    for j in range(len(h)):
        n = RATIO * k - j
        if n >= 0:
            acc += h[j] * x[n]
    v = acc >> 14
    return max(-32768, min(32767, v))


def test_frames_filter_as_one_continuous_signal():
    rng = mediautil.Rng(7)
    pcm = bytearray(1920 * 3)
    for i in range(960 * 3):
        mediautil.put_sample(pcm, i, rng.randint(-20000, 20000))
    out = _decimate(pcm)
    x = mediautil.samples(pcm)
    h = resample.decimator_coefs()
    # around each frame boundary, and a few in the middle
    for k in (0, 1, 80, 155, 159, 160, 161, 165, 319, 320, 321, 479):
        assert mediautil.sample(out, k) == _direct_decimate(x, h, k), k
    # a tone stays a clean tone across the boundaries (delay DELAY, gain 1)
    a = mediautil.amp(-6)
    out = _decimate(_tone48(3, 1000, -6))
    w = 2 * math.pi * 1000 / 8000
    worst = 0
    for k in range(2 * DELAY, 480):
        err = abs(mediautil.sample(out, k) - a * math.sin(w * (k - DELAY)))
        worst = max(worst, err)
    assert worst < a * 0.005 + 3, worst


def test_round_trip_is_a_delay():
    a = mediautil.amp(-6)
    src = mediautil.sines(160 * 4, [1000], -6)
    back = _decimate(_interpolate(src))
    worst = 0
    for k in range(4 * DELAY, 640):
        worst = max(worst, abs(mediautil.sample(back, k) - mediautil.sample(src, k - 2 * DELAY)))
    assert worst < a * 0.01, worst
    # speech band tones keep their level (0.3 to 3.4 kHz)
    for f in (300, 2000, 3000):
        s = mediautil.sines(480, [f], -10)
        b = _decimate(_interpolate(s))
        att = _db(mediautil.tone_power(b[320:], f), mediautil.tone_power(s[320:], f))
        assert abs(att) < 1.0, (f, att)


def test_full_scale_clamps():
    pcm = bytearray(1920 * 2)
    for i in range(960 * 2):
        mediautil.put_sample(pcm, i, 32767 if (i // 120) % 2 else -32768)
    out = _decimate(pcm)
    up = _interpolate(out)
    assert max(mediautil.samples(up)) <= 32767


def test_reset_and_sizes():
    dec = Decimator()
    out = bytearray(320)
    dec.process_into(_tone48(1, 1000, -6), out)
    dec.reset()
    dec.process_into(bytes(1920), out)
    assert bytes(out) == bytes(320)
    itp = Interpolator()
    support.raises(ValueError, itp.process_into, bytes(100), bytearray(1920))
    support.raises(ValueError, dec.process_into, bytes(1920), bytearray(100))


def _pcm(values):
    out = bytearray(2 * len(values))
    for i in range(len(values)):
        mediautil.put_sample(out, i, values[i])
    return out


def _worst_case(taps, n, gap):
    # full scale with the signs of taps, alternately +/-, each copy followed by
    # `gap` zeros: where a copy fills a window the sum is 32768 * sum(|taps|),
    # far past 16 bits (the interpolator's phase 3: sum |g| = 35228)
    pos = [32767 if t > 0 else (-32768 if t < 0 else 0) for t in taps] + [0] * gap
    neg = [-v - 1 if v else 0 for v in pos]  # 32767 <-> -32768
    out = []
    while len(out) < n:
        out += pos + neg
    return _pcm(out[:n])


def _direct_interpolate(x, g, n):
    # y[6m + p] = sum g[p][k] x[m + k - 24], x zero before the start
    m, p = divmod(n, RATIO)
    acc = 8192
    gp = g[p]
    for k in range(len(gp)):
        i = m + k - (len(gp) - 1)
        if 0 <= i < len(x):
            acc += gp[k] * x[i]
    return max(-32768, min(32767, acc >> 14))


def _inputs48(frames):
    rng = mediautil.Rng(3)
    loud = bytearray(1920 * frames)
    for i in range(960 * frames):
        mediautil.put_sample(loud, i, rng.randint(-32768, 32767))
    return [loud, _tone48(frames, 1000, -1), _worst_case(resample.decimator_coefs(), 960 * frames, 5)]


def _inputs8(frames):
    rng = mediautil.Rng(5)
    loud = bytearray(320 * frames)
    for i in range(160 * frames):
        mediautil.put_sample(loud, i, rng.randint(-32768, 32767))
    return [loud, mediautil.sines(160 * frames, [1000, 3100], -7), _worst_case(resample.interpolator_coefs()[3], 160 * frames, 0)]


def test_worst_case_input_clamps_as_the_direct_formula_says():
    # the crafted full-scale input of the module docstring, both directions,
    # every implementation this runtime has, across frame boundaries
    frames = 2
    pcm48 = _worst_case(resample.decimator_coefs(), 960 * frames, 5)
    x48 = mediautil.samples(pcm48)
    h = resample.decimator_coefs()
    pcm8 = _worst_case(resample.interpolator_coefs()[3], 160 * frames, 0)
    x8 = mediautil.samples(pcm8)
    g = resample.interpolator_coefs()
    for impl in resample.available():
        down = _decimate(pcm48, Decimator(impl=impl))
        want = [_direct_decimate(x48, h, k) for k in range(160 * frames)]
        assert mediautil.samples(down) == want, impl
        assert 32767 in want and -32768 in want  # it did clamp, both ways
        up = _interpolate(pcm8, Interpolator(impl=impl))
        got = mediautil.samples(up)
        for n in range(0, 960 * frames, 7 if impl == "plain" else 1):
            assert got[n] == _direct_interpolate(x8, g, n), (impl, n)
        assert 32767 in got and -32768 in got


def test_implementations_agree():
    impls = resample.available()
    if len(impls) == 1:
        return  # MicroPython: only "plain" (checked against the direct formulas above)
    frames = 6
    for pcm in _inputs48(frames):
        want = _decimate(pcm, Decimator(impl="plain"))
        for impl in impls[1:]:
            assert _decimate(pcm, Decimator(impl=impl)) == want, impl
    for pcm in _inputs8(frames):
        want = _interpolate(pcm, Interpolator(impl="plain"))
        for impl in impls[1:]:
            assert _interpolate(pcm, Interpolator(impl=impl)) == want, impl


def test_frame_size_does_not_change_the_output():
    # shorter frames than the history (20 out = 120 in < 144; 8 in < 24):
    # the state carry-over must still give the one continuous signal
    pcm48 = _inputs48(2)[0]
    pcm8 = _inputs8(2)[2]
    for impl in resample.available():
        want = _decimate(pcm48, Decimator(impl=impl))
        dec = Decimator(20, impl=impl)
        got = bytearray(len(want))
        for f in range(len(pcm48) // 240):
            assert dec.process_into(pcm48[240 * f:240 * (f + 1)], memoryview(got)[40 * f:40 * (f + 1)]) == 40
        assert got == want, impl
        want = _interpolate(pcm8, Interpolator(impl=impl))
        itp = Interpolator(8, impl=impl)
        got = bytearray(len(want))
        for f in range(len(pcm8) // 16):
            assert itp.process_into(pcm8[16 * f:16 * (f + 1)], memoryview(got)[96 * f:96 * (f + 1)]) == 96
        assert got == want, impl


def test_unknown_impl_is_refused():
    support.raises(ValueError, Decimator, 160, "no-such-impl")
    support.raises(ValueError, Interpolator, 160, "no-such-impl")
    assert resample.IMPL in resample.available()


def test_no_allocation_per_frame():
    dec = Decimator()
    itp = Interpolator()
    s48 = _tone48(1, 1000, -10)
    s8 = bytearray(320)
    o48 = bytearray(1920)

    def frame():
        dec.process_into(s48, s8)
        itp.process_into(s8, o48)

    frame()
    assert mediautil.heap_locked(frame)
