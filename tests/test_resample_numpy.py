"""The resampler's CPython implementations ("numpy", "fast") against "plain":
bit-identical over many consecutive frames, and how IMPL is chosen.

numpy is in tests/requirements.txt: imported here unguarded, so a missing
numpy fails this file instead of skipping it. (The station itself never
needs numpy: without it IMPL is "fast".)
"""

import os
import subprocess
import sys

import numpy  # noqa: F401  (must be installed: see the module docstring)
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FIRMWARE
from sipdoor.media import resample
from sipdoor.media.resample import RATIO, Decimator, Interpolator

IMPLS = ("plain", "fast", "numpy")


def pcm(values):
    return b"".join(int(v).to_bytes(2, "little", signed=True) for v in values)


def clamp(v):
    return max(-32768, min(32767, int(v)))


def signal(kind, n, rate, seed):
    """n samples of one of several kinds of input."""
    import math
    import random

    rng = random.Random(seed)
    if kind == "random":
        return [rng.randint(-32768, 32767) for _ in range(n)]
    if kind == "quiet":
        return [rng.randint(-300, 300) for _ in range(n)]
    if kind == "tones":
        return [clamp(20000 * math.sin(2 * math.pi * 997 * i / rate) + 12767 * math.sin(2 * math.pi * 3300 * i / rate))
                for i in range(n)]
    if kind == "square":  # full-scale steps: overshoot past 16 bits, clamped
        return [32767 if (i // 37) % 2 else -32768 for i in range(n)]
    if kind == "dc":
        return [32767] * (n // 2) + [-32768] * (n - n // 2)
    if kind == "worst48":  # signs of the decimator taps, aligned with outputs
        pat = [32767 if t > 0 else -32768 if t < 0 else 0 for t in resample.decimator_coefs()] + [0] * 5
        return ((pat + [-v - 1 if v else 0 for v in pat]) * (n // 300 + 1))[:n]
    if kind == "worst8":  # the docstring's crafted input: signs of interpolator phase 3
        pat = [32767 if t > 0 else -32768 if t < 0 else 0 for t in resample.interpolator_coefs()[3]]
        return ((pat + [-v - 1 if v else 0 for v in pat]) * (n // 50 + 1))[:n]
    raise ValueError(kind)


KINDS = ("random", "quiet", "tones", "square", "dc", "worst48", "worst8")


def run(obj, data, n_in, n_out, offset=0):
    """Feed data frame by frame; each output into an odd-offset memoryview
    (unaligned for numpy); returns the list of output frames."""
    outs = []
    for f in range(len(data) // (2 * n_in)):
        buf = bytearray(2 * n_out + offset)
        src = memoryview(data)[2 * n_in * f:2 * n_in * (f + 1)]
        assert obj.process_into(src, memoryview(buf)[offset:]) == 2 * n_out
        outs.append(bytes(buf[offset:]))
    return outs


def test_numpy_is_the_default_on_cpython():
    assert resample.available() == IMPLS
    assert resample.IMPL == (os.environ.get("SIPDOOR_RESAMPLE") or "numpy")
    assert Decimator(impl="numpy").impl == "numpy"


def test_bit_identical_over_many_consecutive_frames():
    frames = 40
    for kind in KINDS:
        data48 = pcm(signal(kind, 960 * frames, 48000, 1))
        want = run(Decimator(impl="plain"), data48, 960, 160)
        for impl in IMPLS[1:]:
            got = run(Decimator(impl=impl), data48, 960, 160, offset=1)
            for f in range(frames):
                assert got[f] == want[f], (kind, impl, "decimator frame", f)
        data8 = pcm(signal(kind, 160 * frames, 8000, 2))
        want = run(Interpolator(impl="plain"), data8, 160, 960)
        for impl in IMPLS[1:]:
            got = run(Interpolator(impl=impl), data8, 160, 960, offset=1)
            for f in range(frames):
                assert got[f] == want[f], (kind, impl, "interpolator frame", f)


def test_clamping_happens_and_matches():
    # the crafted inputs really exceed 16 bits before the clamp
    for kind, cls, n_in, n_out, rate in (("worst48", Decimator, 960, 160, 48000), ("worst8", Interpolator, 160, 960, 8000)):
        data = pcm(signal(kind, n_in * 3, rate, 0))
        outs = {impl: b"".join(run(cls(impl=impl), data, n_in, n_out)) for impl in IMPLS}
        assert outs["plain"] == outs["fast"] == outs["numpy"]
        vals = numpy.frombuffer(outs["plain"], dtype="<i2")
        assert (vals == 32767).sum() > 0 and (vals == -32768).sum() > 0, kind


def test_reset_gives_the_same_as_new():
    data = pcm(signal("random", 960 * 3, 48000, 9))
    for impl in IMPLS:
        dec = Decimator(impl=impl)
        run(dec, data, 960, 160)
        dec.reset()
        assert run(dec, data, 960, 160) == run(Decimator(impl=impl), data, 960, 160), impl
        itp = Interpolator(impl=impl)
        run(itp, data[:320 * 3], 160, 960)
        itp.reset()
        assert run(itp, data[:320 * 3], 160, 960) == run(Interpolator(impl=impl), data[:320 * 3], 160, 960), impl


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=2000), st.integers(1, 40))
def test_any_input_any_frame_size(values, frame):
    # decimator: frame out of `frame` samples; interpolator: `frame` samples in
    n48 = RATIO * frame
    data48 = pcm((values * (3 * n48 // len(values) + 1))[:3 * n48])
    outs = [b"".join(run(Decimator(frame, impl=impl), data48, n48, frame)) for impl in IMPLS]
    assert outs[0] == outs[1] == outs[2]
    data8 = pcm((values * (3 * frame // len(values) + 1))[:3 * frame])
    outs = [b"".join(run(Interpolator(frame, impl=impl), data8, frame, n48)) for impl in IMPLS]
    assert outs[0] == outs[1] == outs[2]


def _impl_in_subprocess(env_value, block_numpy=False):
    code = ("import sys\n"
            + ("sys.modules['numpy'] = None\n" if block_numpy else "")
            + "sys.path.insert(0, %r)\n" % FIRMWARE
            + "from sipdoor.media import resample\n"
            "print(resample.IMPL, ','.join(resample.available()))\n"
            "try:\n"
            "    resample.Decimator(); print('built')\n"
            "except ValueError as e:\n"
            "    print('refused')\n")
    env = dict(os.environ)
    env.pop("SIPDOOR_RESAMPLE", None)
    if env_value is not None:
        env["SIPDOOR_RESAMPLE"] = env_value
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_env_var_forces_an_implementation():
    assert _impl_in_subprocess(None) == ["numpy", "plain,fast,numpy", "built"]
    assert _impl_in_subprocess("fast") == ["fast", "plain,fast,numpy", "built"]
    assert _impl_in_subprocess("plain") == ["plain", "plain,fast,numpy", "built"]
    assert _impl_in_subprocess("bogus") == ["bogus", "plain,fast,numpy", "refused"]


def test_without_numpy_fast_is_chosen():
    assert _impl_in_subprocess(None, block_numpy=True) == ["fast", "plain,fast", "built"]
    assert _impl_in_subprocess("numpy", block_numpy=True) == ["numpy", "plain,fast", "refused"]


def test_module_attribute_forces_an_implementation(monkeypatch):
    monkeypatch.setattr(resample, "IMPL", "fast")
    assert Decimator().impl == "fast" and Interpolator().impl == "fast"
    monkeypatch.setattr(resample, "IMPL", "plain")
    assert Decimator().impl == "plain"
