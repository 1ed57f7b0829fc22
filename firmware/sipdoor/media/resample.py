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

Three implementations with bit-identical output (same Q14 coefficients,
same +8192, floor shift by 14 and clamp; tests compare them frame by frame):
- "plain": integer loops over preallocated lists and the caller's buffers;
  allocates nothing per frame on MicroPython; the decimator folds the
  symmetric taps (73 multiplies per output, not 145). About 1.6-2.5 ms per
  direction per frame on CPython on the dev machine.
- "fast": CPython only, pure Python, no dependency: each polyphase branch
  is one big-integer multiplication (Kronecker substitution). The samples,
  offset to 0..65535, go into 40-bit digits of one int (built with bytes
  slicing, no Python loop per sample), times an int whose digits are the
  branch's taps times 4; a constant added per digit (2**39 + 2**15) makes
  every digit of the product non-negative (no borrows between digits) and
  puts the +8192 rounding and the sign offset in; the times 4 makes the
  shift by 14 a shift by 16, so bits 16..31 of each digit are the output
  sample (offset binary) and bits 32..39 are 0x80 exactly when it needs no
  clamping. All exact integer arithmetic: 6 multiplications per frame and
  direction, about 0.07 ms each way on the dev machine (20x "plain").
- "numpy": CPython with NumPy importable: int64 arrays; the decimator is a
  strided (frame_out x TAPS) window view times the taps (only every sixth
  output is computed), the interpolator a (frame_in x 25) window view times
  the (25 x 6) phase matrix. About 0.03-0.05 ms each way.

IMPL (chosen at import, read at construction; `impl=` overrides per
object): "plain" on MicroPython, "numpy" on CPython when numpy imports,
else "fast". The environment variable SIPDOOR_RESAMPLE (CPython) or
assigning resample.IMPL forces one; available() lists what this runtime has,
and asking for another raises ValueError when a filter is built.
"""

import math

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


try:
    import sys

    _CPYTHON = sys.implementation.name == "cpython"
except ImportError:
    _CPYTHON = False

_np = None
_ENV_IMPL = None
if _CPYTHON:
    import os

    _ENV_IMPL = os.environ.get("SIPDOOR_RESAMPLE") or None
    try:
        import numpy as _np
        from numpy.lib.stride_tricks import as_strided as _as_strided
    except Exception:  # absent, or a broken install: the station still runs
        _np = None

RATIO = const(6)  # 48000 / 8000
TAPS = const(145)  # prototype length at 48 kHz: odd, (TAPS - 1) divisible by 12
CUTOFF_HZ = 3800
BETA = 5.65  # Kaiser: about 60 dB stopband
DELAY = const(12)  # (TAPS - 1) // 2 // RATIO: samples at 8 kHz, each direction
_PHASE_TAPS = const(25)  # ceil(TAPS / RATIO)
_Q = const(14)
_ONE = const(16384)
_HALF = const(8192)


def available():
    """The implementations this runtime can run, best last."""
    if not _CPYTHON:
        return ("plain",)
    if _np is None:
        return ("plain", "fast")
    return ("plain", "fast", "numpy")


IMPL = _ENV_IMPL or available()[-1]


def _impl(impl):
    impl = impl or IMPL
    if impl not in available():
        raise ValueError("resample impl %r is not available here (%s)" % (impl, ", ".join(available())))
    return impl



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


def _shift_in(x, keep, src, n):
    """The plain paths' history list: drop the oldest n samples, append the
    n int16 LE samples of src (x holds keep + n samples)."""
    for i in range(keep):
        x[i] = x[n + i]
    for i in range(n):
        v = src[2 * i] | (src[2 * i + 1] << 8)
        if v & 0x8000:
            v -= 0x10000
        x[keep + i] = v


class Decimator:
    """48 kHz -> 8 kHz, frame_out samples out per call (RATIO times that in)."""

    def __init__(self, frame_out=160, impl=None):
        self.frame_out = frame_out
        self.frame_in = RATIO * frame_out
        self.impl = _impl(impl)
        self.h = decimator_coefs()
        if self.impl == "fast":
            # branch r: taps h[6q + r], q = 0..24 (h padded to 150), newest
            # sample's tap in the lowest digit, so digit k + 24 of the
            # product is output k (a correlation as a polynomial product)
            hp = self.h + [0] * (RATIO * _PHASE_TAPS - TAPS)
            self._hb = [_digits([4 * hp[RATIO * q + r] for q in range(_PHASE_TAPS - 1, -1, -1)])
                        for r in range(RATIO)]
            self._n = _PHASE_TAPS - 1 + frame_out  # samples per branch: history, then this frame
            self._k = _bias(self._n + _PHASE_TAPS)
        elif self.impl == "numpy":
            self._nh = _np.array(self.h, dtype=_np.int64)
        self.reset()

    def reset(self):
        keep = TAPS - 1
        if self.impl == "fast":
            self._b = bytes(2 * keep)  # history as PCM bytes
        elif self.impl == "numpy":
            x = self._nx = _np.zeros(keep + self.frame_in, dtype=_np.int64)
            self._nw = _as_strided(x, shape=(self.frame_out, TAPS), strides=(RATIO * x.itemsize, x.itemsize))
        else:
            self._x = [0] * (keep + self.frame_in)  # history, then this frame

    def process_into(self, src, dst):
        """src: 2 * frame_in bytes at 48 kHz; writes 2 * frame_out bytes
        into dst (bytearray or writable memoryview); returns that count."""
        nin = self.frame_in
        if len(src) < 2 * nin or len(dst) < 2 * self.frame_out:
            raise ValueError("frame size")
        if self.impl == "fast":
            return self._fast(src, dst)
        if self.impl == "numpy":
            return self._numpy(src, dst)
        x = self._x
        h = self.h
        keep = TAPS - 1
        _shift_in(x, keep, src, nin)
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
        nout = self.frame_out
        x = self._b + src[:2 * self.frame_in]  # bytes: history, then this frame
        self._b = x[2 * self.frame_in:]
        lo = x[0::2]
        hi = x[1::2].translate(_FLIP)  # x + 32768: unsigned
        n = self._n
        buf = bytearray(_W * n)
        acc = self._k
        for r in range(RATIO):
            buf[0::_W] = lo[r::RATIO]
            buf[1::_W] = hi[r::RATIO]
            acc += int.from_bytes(buf, "little") * self._hb[r]
        _emit(acc.to_bytes(_W * (n + _PHASE_TAPS), "little"), _PHASE_TAPS - 1, nout, dst, 0, 2)
        return 2 * nout

    def _numpy(self, src, dst):
        x = self._nx
        nin = self.frame_in
        x[:TAPS - 1] = x[nin:]  # overlapping when nin < TAPS - 1: numpy copies correctly
        x[TAPS - 1:] = _np.frombuffer(src, dtype="<i2", count=nin)
        y = _np.einsum("kj,j->k", self._nw, self._nh)  # only every sixth output (no copy, unlike dot)
        _np_out(y, dst, self.frame_out)
        return 2 * self.frame_out


class Interpolator:
    """8 kHz -> 48 kHz, frame_in samples in per call (RATIO times that out)."""

    def __init__(self, frame_in=160, impl=None):
        self.frame_in = frame_in
        self.frame_out = RATIO * frame_in
        self.impl = _impl(impl)
        self.g = interpolator_coefs()
        if self.impl == "fast":
            # phase p: g[p] reversed into digits, so digit m + 24 of the
            # product is output 6m + p
            self._gb = [_digits([4 * v for v in self.g[p][::-1]]) for p in range(RATIO)]
            self._n = _PHASE_TAPS - 1 + frame_in
            self._k = _bias(self._n + _PHASE_TAPS)
        elif self.impl == "numpy":
            self._ng = _np.array(self.g, dtype=_np.int64).T.copy()  # (25, 6)
        self.reset()

    def reset(self):
        keep = _PHASE_TAPS - 1
        if self.impl == "fast":
            self._b = bytes(2 * keep)
        elif self.impl == "numpy":
            x = self._nx = _np.zeros(keep + self.frame_in, dtype=_np.int64)
            self._nw = _as_strided(x, shape=(self.frame_in, _PHASE_TAPS), strides=(x.itemsize, x.itemsize))
        else:
            self._x = [0] * (keep + self.frame_in)

    def process_into(self, src, dst):
        """src: 2 * frame_in bytes at 8 kHz; writes 2 * frame_out bytes into
        dst; returns that count."""
        nin = self.frame_in
        if len(src) < 2 * nin or len(dst) < 2 * self.frame_out:
            raise ValueError("frame size")
        if self.impl == "fast":
            return self._fast(src, dst)
        if self.impl == "numpy":
            return self._numpy(src, dst)
        x = self._x
        keep = _PHASE_TAPS - 1
        _shift_in(x, keep, src, nin)
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
        nin = self.frame_in
        x = self._b + src[:2 * nin]
        self._b = x[2 * nin:]
        n = self._n
        buf = bytearray(_W * n)
        buf[0::_W] = x[0::2]
        buf[1::_W] = x[1::2].translate(_FLIP)
        xb = int.from_bytes(buf, "little")
        k = self._k
        size = _W * (n + _PHASE_TAPS)
        for p in range(RATIO):
            _emit((xb * self._gb[p] + k).to_bytes(size, "little"), _PHASE_TAPS - 1, nin, dst, 2 * p, 2 * RATIO)
        return 2 * self.frame_out

    def _numpy(self, src, dst):
        x = self._nx
        nin = self.frame_in
        x[:_PHASE_TAPS - 1] = x[nin:]
        x[_PHASE_TAPS - 1:] = _np.frombuffer(src, dtype="<i2", count=nin)
        y = self._nw.dot(self._ng)  # (frame_in, 6): row m is outputs 6m .. 6m + 5
        _np_out(y.reshape(-1), dst, self.frame_out)
        return 2 * self.frame_out


# "fast": big-integer helpers (CPython). A digit is _W bytes.
_W = 5
_FLIP = bytes(i ^ 0x80 for i in range(256)) if _CPYTHON else None
_OK = 0x80  # digit bits 32..39 of an output that needs no clamping


def _digits(values):
    # int with values[i] (signed) in digit i
    v = 0
    for i in range(len(values) - 1, -1, -1):
        v = (v << (8 * _W)) + values[i]
    return v


def _bias(n):
    # added to every digit of the product. A digit of taps * (x + 32768)
    # is 4 * (acc + 2**29) for a full window (taps sum to 16384), where acc
    # is the plain filter's sum; plus 2**39 + 2**15 it is
    # 2**39 + 2**31 + 4 * (acc + 8192): bits 16..31 = ((acc + 8192) >> 14)
    # + 32768 (mod 2**16), bits 32..39 = 0x80 unless that needs clamping.
    # |4 * taps * x| < 2**34 for any digit, so every digit stays in 0..2**40.
    return _digits([(1 << 39) + (1 << 15)] * n)


def _emit(raw, first, count, dst, start, step):
    # digits first .. first + count - 1 of raw to int16 LE in dst at
    # byte start, start + step, ...
    a = _W * first + 2
    b = _W * (first + count)
    end = start + step * count
    dst[start:end:step] = raw[a:b:_W]
    dst[start + 1:end:step] = raw[a + 1:b:_W].translate(_FLIP)
    chk = raw[a + 2:b:_W]
    if chk.count(_OK) != count:
        for i in range(count):
            c = chk[i]
            if c != _OK:
                o = start + step * i
                if c > _OK:
                    dst[o] = 0xFF
                    dst[o + 1] = 0x7F
                else:
                    dst[o] = 0x00
                    dst[o + 1] = 0x80


def _np_out(y, dst, n):
    # y: int64 sums -> rounded, clamped int16 LE in dst
    y += _HALF
    y >>= _Q  # arithmetic: floor, as plain's >>
    _np.minimum(y, 32767, out=y)  # np.clip costs more than both
    _np.maximum(y, -32768, out=y)
    out = _np.frombuffer(dst, dtype="<i2", count=n)
    out[...] = y
