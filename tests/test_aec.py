"""Acoustic echo cancellation (speexdsp, CPython): echo return loss enhancement.

The microphone hears only the echo of the far end: far-end speech-like noise
(noise shaped to the speech band, under a syllable-rate envelope, with pauses)
through a synthetic room path (a 12 ms delay, -6 dB, a short decaying
filter), plus a low noise floor and no near-end talk. ERLE is the power of
the microphone signal over the power left after cancellation, measured once
the filter has converged. speexdsp is a pinned test requirement: a missing
binding fails here, it does not skip.
"""

import math
import os
import random
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

import pytest  # noqa: E402

from sipdoor.media import aec  # noqa: E402

# The pinned speexdsp 0.1.1 imports `imp` (gone in Python 3.12) and is not
# installed there (tests/requirements.txt): a version skip, not a missing one.
pytestmark = pytest.mark.skipif(sys.version_info >= (3, 12), reason="speexdsp 0.1.1 needs Python < 3.12")

RATE = 8000
FRAME = 160
SECONDS = 12
CONVERGE_S = 4  # ERLE is measured after this


def far_speech_like(n, seed=1):
    rnd = random.Random(seed)
    out = []
    # a two-pole resonance around 500 Hz and a gentle high shelf: speech-ish spectrum
    y1 = y2 = 0.0
    r, w = 0.9, 2 * math.pi * 500 / RATE
    a1, a2 = 2 * r * math.cos(w), -r * r
    prev = 0.0
    for i in range(n):
        t = i / RATE
        syllable = abs(math.sin(2 * math.pi * 3.5 * t))
        talk = 1.0 if (t % 3.0) < 2.4 else 0.05  # pauses between phrases
        e = rnd.gauss(0, 1)
        y = e + a1 * y1 + a2 * y2
        y2, y1 = y1, y
        v = y + 0.6 * (e - prev)
        prev = e
        out.append(1500 * syllable * talk * v)
    peak = max(abs(v) for v in out)
    return [int(v * 12000 / peak) for v in out]  # peaks near -8 dBFS


def room_echo(far, seed=2):
    delay = 96  # 12 ms: speaker to mic plus the sound card's buffers
    taps = [0.5 * (0.7 ** k) * (1 if k % 2 == 0 else -0.6) for k in range(24)]
    rnd = random.Random(seed)
    out = []
    for i in range(len(far)):
        acc = 0.0
        for k, g in enumerate(taps):
            j = i - delay - k
            if j >= 0:
                acc += g * far[j]
        out.append(int(acc + rnd.gauss(0, 3)))  # a quiet mic noise floor
    return out


def pack(samples):
    return struct.pack("<%dh" % len(samples), *[max(-32768, min(32767, v)) for v in samples])


def power(samples):
    return sum(v * v for v in samples) / max(1, len(samples))


def erle_db(canceller, far, mic):
    start = CONVERGE_S * RATE // FRAME
    p_mic = p_out = 0.0
    for f in range(len(far) // FRAME):
        a, b = f * FRAME, (f + 1) * FRAME
        out = canceller.process(pack(mic[a:b]), pack(far[a:b]))
        if f >= start:
            res = struct.unpack("<%dh" % FRAME, out)
            p_mic += power(mic[a:b])
            p_out += power(res)
    return 10 * math.log10(p_mic / max(p_out, 1e-9))


def test_available_here():
    # a pinned test requirement: missing means the setup is broken
    assert aec.AVAILABLE, "speexdsp did not import"


def test_erle_above_10_db():
    far = far_speech_like(SECONDS * RATE)
    mic = room_echo(far)
    erle = erle_db(aec.make(FRAME, tail_ms=64, rate=RATE), far, mic)
    print("ERLE %.1f dB" % erle)
    assert erle > 10, erle


def test_in_place_and_frame_checks():
    c = aec.EchoCanceller(FRAME)
    mic = bytearray(2 * FRAME)
    assert c.near(mic, None) and len(mic) == 2 * FRAME
    with pytest.raises(ValueError):
        c.process(bytes(100), bytes(2 * FRAME))
    with pytest.raises(ValueError):
        c.process(bytes(2 * FRAME), bytes(2 * FRAME + 2))
