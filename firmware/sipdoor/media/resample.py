"""48 kHz <-> 8 kHz resampling, sans-IO: polyphase FIR, integer arithmetic.

For sound cards that only run at 48 kHz (many USB and HDMI parts on a Pi):
the call's 20 ms frame of 160 samples at 8 kHz is 960 samples at 48 kHz.
PCM is 16-bit signed little-endian, as everywhere in the media path.

    dec = Decimator()       # 48k -> 8k: 1920 bytes in, 320 bytes out
    n = dec.process_into(pcm48, pcm8)
    itp = Interpolator()    # 8k -> 48k: 320 bytes in, 1920 bytes out
    n = itp.process_into(pcm8, pcm48)

Both filter with one low-pass prototype at 48 kHz: a Kaiser-windowed sinc of
TAPS = 145 taps, -6 dB at CUTOFF_HZ = 3800 Hz, flat (< 0.1 dB) to 3.4 kHz and
about -60 dB from 4.4 kHz on, so whatever folds into 0..3.6 kHz when the
rate drops by six is removed first (a 6 kHz tone would alias to 2 kHz), and
the images an 8 kHz signal has at 8k +- f are removed after the rate rises.
The delay is (TAPS - 1) / 2 = 72 samples at 48 kHz = DELAY = 12 samples at
8 kHz each way, a whole number so a round trip is an exact 24-sample shift.

Coefficients are designed once per process (first use) in floating point and
quantised to Q14 integers: the decimator's sum to exactly 16384 (unity gain
at DC); the interpolator's six phases (TAPS padded to 150 = 6 x 25, times
six) each sum to exactly 16384 too, so DC gives no 8 kHz ripple. With Q14
every product and any real signal's sum stay inside a 31-bit small int on
a 32-bit board (only a full-scale input crafted to match the signs of an
interpolator phase, sum |g| = 35228, could reach 2**30 and go to a long int).

State (the last TAPS - 1 input samples at 48 kHz, 24 at 8 kHz) carries over
between frames, so consecutive frames filter as one continuous signal.

Two implementations with bit-identical output (IMPL picks one at import):
- "plain": integer loops over preallocated lists and the caller's buffers;
  allocates nothing per frame on MicroPython; the decimator folds the
  symmetric taps (73 multiplies per output, not 145).
- "fast": CPython only: struct unpack/pack and sum(map(mul, ...)) per
  output; only about 1.3x faster than "plain" there (about 1.9 ms and 2.5 ms
  per frame on the dev machine, tests/bench/bench_resample.py) and it
  allocates temporaries, which CPython does not mind.
"""

import math

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


try:
    import struct
    from operator import mul
    import sys

    _CPYTHON = sys.implementation.name == "cpython"
except ImportError:  # MicroPython without operator
    _CPYTHON = False

RATIO = const(6)  # 48000 / 8000
TAPS = const(145)  # prototype length at 48 kHz: odd, (TAPS - 1) divisible by 12
CUTOFF_HZ = 3800
BETA = 5.65  # Kaiser: about 60 dB stopband
DELAY = const(12)  # (TAPS - 1) // 2 // RATIO: samples at 8 kHz, each direction
_PHASE_TAPS = const(25)  # ceil(TAPS / RATIO)
_Q = const(14)
_ONE = const(16384)
_HALF = const(8192)

IMPL = "fast" if _CPYTHON else "plain"


def _i0(x):
    # modified Bessel function of the first kind, order 0 (series)
    s = t = 1.0
    k = 1
    q = x * x / 4
    while t > 1e-10 * s:
        t = t * q / (k * k)
        s += t
        k += 1
    return s


def prototype(taps=TAPS, cutoff_hz=CUTOFF_HZ, rate=48000, beta=BETA):
    """The float low-pass (sum 1.0), exactly symmetric."""
    mid = (taps - 1) // 2
    fc = cutoff_hz / rate  # cycles per sample
    den = _i0(beta)
    half = []
    for j in range(mid + 1):
        n = j - mid
        s = 2 * fc if n == 0 else math.sin(2 * math.pi * fc * n) / (math.pi * n)
        r = n / mid
        half.append(s * _i0(beta * math.sqrt(1 - r * r)) / den)
    h = half + half[-2::-1]
    total = sum(h)
    return [v / total for v in h]


def _fix_sum(coefs, want):
    # put the rounding error on the largest tap
    big = 0
    for i in range(len(coefs)):
        if coefs[i] > coefs[big]:
            big = i
    coefs[big] += want - sum(coefs)
    return coefs


_COEFS = [None, None]  # [decimator taps, interpolator phases]


def decimator_coefs():
    """TAPS Q14 integers summing to 16384 (symmetric)."""
    if _COEFS[0] is None:
        h = [int(math.floor(v * _ONE + 0.5)) for v in prototype()]
        _COEFS[0] = _fix_sum(h, _ONE)  # the centre tap is the largest: stays symmetric
    return _COEFS[0]


def interpolator_coefs():
    """RATIO lists of _PHASE_TAPS Q14 integers, each summing to 16384, in
    the order they meet the history (oldest sample first)."""
    if _COEFS[1] is None:
        h = prototype()
        h = h + [0.0] * (RATIO * _PHASE_TAPS - len(h))
        phases = []
        for p in range(RATIO):
            g = [int(math.floor(RATIO * _ONE * h[RATIO * k + p] + 0.5)) for k in range(_PHASE_TAPS)]
            _fix_sum(g, _ONE)
            g.reverse()
            phases.append(g)
        _COEFS[1] = phases
    return _COEFS[1]


class Decimator:
    """48 kHz -> 8 kHz, frame_out samples out per call (RATIO times that in)."""

    def __init__(self, frame_out=160, impl=None):
        self.frame_out = frame_out
        self.frame_in = RATIO * frame_out
        self.impl = impl or IMPL
        if self.impl == "fast" and not _CPYTHON:
            raise ValueError("impl 'fast' needs CPython")
        self.h = decimator_coefs()
        self._x = [0] * (TAPS - 1 + self.frame_in)  # history, then this frame
        if self.impl == "fast":
            self._fmt_in = "<%dh" % self.frame_in
            self._fmt_out = "<%dh" % frame_out

    def reset(self):
        x = self._x
        for i in range(len(x)):
            x[i] = 0

    def process_into(self, src, dst):
        """src: 2 * frame_in bytes at 48 kHz; writes 2 * frame_out bytes
        into dst (bytearray or writable memoryview); returns that count."""
        nin = self.frame_in
        if len(src) < 2 * nin or len(dst) < 2 * self.frame_out:
            raise ValueError("frame size")
        if self.impl == "fast":
            return self._fast(src, dst)
        x = self._x
        h = self.h
        keep = TAPS - 1
        for i in range(keep):
            x[i] = x[nin + i]
        for i in range(nin):
            v = src[2 * i] | (src[2 * i + 1] << 8)
            if v & 0x8000:
                v -= 0x10000
            x[keep + i] = v
        mid = keep >> 1
        last = keep
        for k in range(self.frame_out):
            a = RATIO * k
            acc = h[mid] * x[a + mid] + _HALF
            b = a + last
            for j in range(mid):
                acc += h[j] * (x[a + j] + x[b - j])
            v = acc >> _Q
            if v > 32767:
                v = 32767
            elif v < -32768:
                v = -32768
            dst[2 * k] = v & 0xFF
            dst[2 * k + 1] = (v >> 8) & 0xFF
        return 2 * self.frame_out

    def _fast(self, src, dst):
        x = self._x
        nin = self.frame_in
        keep = TAPS - 1
        x[:keep] = x[nin:]
        x[keep:] = struct.unpack_from(self._fmt_in, src)
        h = self.h
        out = [(sum(map(mul, h, x[a:a + TAPS])) + _HALF) >> _Q for a in range(0, nin, RATIO)]
        _clamp(out)
        struct.pack_into(self._fmt_out, dst, 0, *out)
        return 2 * self.frame_out


class Interpolator:
    """8 kHz -> 48 kHz, frame_in samples in per call (RATIO times that out)."""

    def __init__(self, frame_in=160, impl=None):
        self.frame_in = frame_in
        self.frame_out = RATIO * frame_in
        self.impl = impl or IMPL
        if self.impl == "fast" and not _CPYTHON:
            raise ValueError("impl 'fast' needs CPython")
        self.g = interpolator_coefs()
        self._x = [0] * (_PHASE_TAPS - 1 + frame_in)
        if self.impl == "fast":
            self._fmt_in = "<%dh" % frame_in
            self._fmt_out = "<%dh" % self.frame_out
            self._out = [0] * self.frame_out

    def reset(self):
        x = self._x
        for i in range(len(x)):
            x[i] = 0

    def process_into(self, src, dst):
        """src: 2 * frame_in bytes at 8 kHz; writes 2 * frame_out bytes into
        dst; returns that count."""
        nin = self.frame_in
        if len(src) < 2 * nin or len(dst) < 2 * self.frame_out:
            raise ValueError("frame size")
        if self.impl == "fast":
            return self._fast(src, dst)
        x = self._x
        keep = _PHASE_TAPS - 1
        for i in range(keep):
            x[i] = x[nin + i]
        for i in range(nin):
            v = src[2 * i] | (src[2 * i + 1] << 8)
            if v & 0x8000:
                v -= 0x10000
            x[keep + i] = v
        g = self.g
        o = 0
        for m in range(nin):
            for p in range(RATIO):
                gp = g[p]
                acc = _HALF
                for k in range(_PHASE_TAPS):
                    acc += gp[k] * x[m + k]
                v = acc >> _Q
                if v > 32767:
                    v = 32767
                elif v < -32768:
                    v = -32768
                dst[o] = v & 0xFF
                dst[o + 1] = (v >> 8) & 0xFF
                o += 2
        return 2 * self.frame_out

    def _fast(self, src, dst):
        x = self._x
        nin = self.frame_in
        keep = _PHASE_TAPS - 1
        x[:keep] = x[nin:]
        x[keep:] = struct.unpack_from(self._fmt_in, src)
        out = self._out
        for p in range(RATIO):
            gp = self.g[p]
            out[p::RATIO] = [(sum(map(mul, gp, x[m:m + _PHASE_TAPS])) + _HALF) >> _Q for m in range(nin)]
        _clamp(out)
        struct.pack_into(self._fmt_out, dst, 0, *out)
        return 2 * self.frame_out


def _clamp(out):
    if max(out) > 32767 or min(out) < -32768:
        for i in range(len(out)):
            v = out[i]
            if v > 32767:
                out[i] = 32767
            elif v < -32768:
                out[i] = -32768
